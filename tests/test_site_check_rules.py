"""The site check's rules on snapshots as data: failure signs, page and form kinds, and
the verdict of a before/after comparison."""

from __future__ import annotations

from typing import Any

import pytest

from panel_addon.site_check_rules import RULES, compare, find_signs, form_kind, page_kind


def snap(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "url": "https://shop.example/checkout/",
        "final_url": "https://shop.example/checkout/",
        "status": 200,
        "redirects": [],
        "tls_valid": True,
        "elapsed_ms": 120,
        "size": 20_000,
        "title": "Checkout",
        "forms": [
            {
                "id": "checkout",
                "action": "https://shop.example/checkout/",
                "method": "post",
                "fields": ["billing_email", "billing_first_name", "payment_method"],
            },
        ],
        "signs": [],
        "error": None,
    }
    return base | fields


def codes(result: dict[str, Any], regression: bool | None = None) -> list[str]:
    return [
        c["code"] for c in result["changes"] if regression is None or c["regression"] is regression
    ]


@pytest.mark.parametrize(
    ("body", "sign"),
    [
        (
            "<br />\n<b>Fatal error</b>:  Uncaught Error: Call to undefined function wc()",
            "php_fatal",
        ),
        ("PHP Parse error: syntax error, unexpected '}' in /var/www/x.php", "php_fatal"),
        ("<p>There has been a critical error on this website.</p>", "wp_critical"),
        ("<p>Il y a eu une erreur critique sur ce site.</p>", "wp_critical"),
        ("<h1>Error establishing a database connection</h1>", "db_error"),
        ("<h1>Erreur lors de la connexion à la base de données</h1>", "db_error"),
        ("SQLSTATE[HY000] [2002] Connection refused", "db_error"),
        ("Briefly unavailable for scheduled maintenance. Check back in a minute.", "maintenance"),
        ("<b>Warning</b>:  Undefined array key 1 in <b>/x.php</b> on line <b>4</b>", "php_warning"),
    ],
)
def test_failure_signs_are_recognised(body: str, sign: str) -> None:
    assert find_signs(body.encode(), body, None, 200) == [sign]


def test_an_empty_answer_and_a_maintenance_title_are_signs() -> None:
    assert find_signs(b"  \n", "  \n", None, 200) == ["empty_body"]
    assert find_signs(b"", "", None, 500) == []  # an empty error page: the status says it
    assert find_signs(b"x", "x", "Site en maintenance", 200) == ["maintenance"]


def test_an_ordinary_page_shows_no_sign() -> None:
    body = "<title>Shop</title><p>Our error-free checkout; see the database of products.</p>"
    assert find_signs(body.encode(), body, "Shop", 200) == []


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://shop.example/", "home"),
        ("https://shop.example/fr/", "home"),
        ("https://shop.example/checkout/", "checkout"),
        ("https://shop.example/commande", "checkout"),
        ("https://shop.example/panier/", "cart"),
        ("https://shop.example/nous-contacter/", "contact"),
        ("https://shop.example/mon-compte/", "account"),
        ("https://shop.example/blog/hello", "page"),
    ],
)
def test_pages_are_named_from_their_path(url: str, kind: str) -> None:
    assert page_kind(url) == kind


@pytest.mark.parametrize(
    ("fields", "form_id", "kind"),
    [
        (["billing_first_name", "payment_method"], "checkout", "order"),
        (["add-to-cart", "quantity"], None, "order"),
        (["_wpcf7", "your-name", "your-email", "your-message"], None, "contact"),
        (["author", "email", "comment"], "commentform", "contact"),
        (["log", "pwd"], "loginform", "login"),
        (["s"], None, "search"),
        (["orderby"], None, "form"),  # WooCommerce's sorting list is not an order form
    ],
)
def test_forms_are_named_from_their_fields(
    fields: list[str], form_id: str | None, kind: str
) -> None:
    assert form_kind({"id": form_id, "action": "https://shop.example/x", "fields": fields}) == kind


def test_an_identical_page_is_unchanged() -> None:
    result = compare(snap(), snap(elapsed_ms=140))
    assert result == {"verdict": "unchanged", "compared": True, "note": None, "changes": []}


def test_an_error_after_a_good_page_is_a_regression() -> None:
    result = compare(snap(), snap(status=500, forms=[], title=None))
    assert result["verdict"] == "regressed"
    assert codes(result, regression=True) == ["page_fails"]  # not also "form missing"
    assert result["changes"][0]["before"] == "200" and result["changes"][0]["after"] == "500"


def test_no_answer_after_a_good_page_is_a_regression() -> None:
    result = compare(snap(), snap(status=None, error="timeout", forms=[]))
    assert codes(result, regression=True) == ["page_fails"]
    assert result["changes"][0]["after"] == "timeout"


def test_a_disappeared_form_is_a_regression_a_new_one_a_change() -> None:
    contact = {
        "id": None,
        "action": "https://shop.example/contact/",
        "method": "post",
        "fields": ["your-message"],
    }
    result = compare(snap(forms=[contact]), snap(forms=[]))
    assert codes(result, regression=True) == ["form_missing"]
    result = compare(snap(forms=[]), snap(forms=[contact]))
    assert result["verdict"] == "changed" and codes(result) == ["form_added"]


def test_a_form_with_a_new_nonce_field_is_the_same_form() -> None:
    before = snap()
    after_form = dict(before["forms"][0], id=None, fields=[*before["forms"][0]["fields"], "_nonce"])
    result = compare(before, snap(forms=[after_form]))
    assert result["verdict"] == "changed"
    assert codes(result) == ["form_fields"]
    assert result["changes"][0]["added"] == ["_nonce"]


def test_several_times_slower_is_a_regression_but_jitter_is_not() -> None:
    assert codes(compare(snap(elapsed_ms=50), snap(elapsed_ms=500)), True) == ["slower"]
    assert compare(snap(elapsed_ms=5), snap(elapsed_ms=40))["verdict"] == "unchanged"
    assert compare(snap(elapsed_ms=800), snap(elapsed_ms=1500))["verdict"] == "unchanged"


def test_a_certificate_that_became_invalid_is_a_regression() -> None:
    after = snap(status=None, error="tls_invalid", tls_valid=False, forms=[])
    assert set(codes(compare(snap(), after), True)) == {"page_fails", "tls_invalid"}


def test_a_page_that_failed_before_has_changes_but_no_regression() -> None:
    before = snap(status=500, forms=[], signs=["php_fatal"])
    result = compare(before, snap(status=502, forms=[]))
    assert result["verdict"] == "changed"
    assert result["note"] == "failing_before"
    assert not any(c["regression"] for c in result["changes"])


def test_without_a_before_snapshot_nothing_is_compared() -> None:
    result = compare(None, snap(status=500))
    assert result == {"verdict": "unchanged", "compared": False, "note": "no_before", "changes": []}
    assert compare(snap(), None)["verdict"] is None


def test_a_page_that_works_again_is_a_change() -> None:
    result = compare(snap(status=503, signs=["maintenance"], forms=[]), snap())
    assert result["verdict"] == "changed"
    assert "page_recovered" in codes(result) and "sign_gone" in codes(result)


def test_every_rule_has_words() -> None:
    # Counted words for `size` (site_check.describe); every msgid has its French
    # translation (tests/test_translations.py).
    from panel_addon.site_check_words import CHANGES

    assert {rule.code for rule in RULES} - set(CHANGES) == {"size"}
