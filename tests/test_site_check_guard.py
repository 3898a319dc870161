"""The site checker's fetcher: it reaches only public addresses (loopback when tests allow
it), on every hop, with the site's name in Host and TLS, within bounds of time and size."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from panel_addon.site_check_http import (
    Policy,
    check_urls_for,
    fetch,
    forbidden_reason,
    home_url,
    snapshots,
)

from .loopback_site import LoopbackSite, make_certificates

LOOPBACK = Policy(timeout=5, allow_loopback=True, user_agent="EasyHost site check (test)")
CLOSED = Policy(timeout=5)  # the production default: loopback refused


def take_snapshot(urls: list[str], limits: Policy, concurrency: int) -> list[dict[str, Any]]:
    """One snapshot of `urls`, at most `concurrency` fetches at once; results in order."""
    [(_key, results)] = list(snapshots([(0, urls)], replace(limits, per_host=concurrency)))
    return results


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with LoopbackSite() as running:
        running.page(
            "/", "<html><head><title> Ma  boutique </title></head><body>Bienvenue</body></html>"
        )
        yield running


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "not public"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback (as IPv6)"),
        ("::ffff:10.0.0.1", "private (as IPv6)"),
        ("::ffff:169.254.169.254", "a cloud metadata address (as IPv6)"),
        ("64:ff9b::7f00:1", "loopback (as IPv6)"),
        ("2002:7f00:1::", "loopback (as IPv6)"),
    ],
)
def test_forbidden_addresses_are_named(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "64:ff9b::5db8:d822"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"],
)
def test_loopback_is_refused_when_the_setting_is_off(site: LoopbackSite, host: str) -> None:
    result = fetch(site.url("/", host=host), CLOSED)
    assert result["error"] == "refused", result
    assert result["status"] is None
    assert site.hits() == []


def test_a_name_resolving_to_loopback_is_refused_after_resolution(site: LoopbackSite) -> None:
    result = fetch(site.url("/", host="localhost"), CLOSED)
    assert result["error"] == "refused"
    assert "localhost resolves to" in result["error_detail"]
    assert site.hits() == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/admin",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://localhost:{port}/",
    ],
)
def test_every_redirect_hop_is_vetted_again(target: str) -> None:
    # The site itself is on an address this policy opens on purpose; where it redirects
    # to is not, and is never connected to.
    with LoopbackSite("127.0.0.2") as allowed, LoopbackSite("127.0.0.1") as inner:
        inner.page("/admin", "secret")
        inner.page("/", "secret")
        allowed.redirect("/", target.format(port=inner.port))
        policy = Policy(timeout=5, allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),))
        result = fetch(allowed.url("/"), policy)
    assert result["error"] == "refused", result
    assert result["redirects"][0]["status"] == 302
    assert inner.hits() == []


def test_loopback_setting_never_opens_private_or_metadata_addresses(site: LoopbackSite) -> None:
    site.redirect("/", "http://169.254.169.254/latest/meta-data/")
    assert fetch(site.url("/"), LOOPBACK)["error"] == "refused"
    site.redirect("/", "http://192.168.0.10/")
    assert fetch(site.url("/"), LOOPBACK)["error"] == "refused"


def test_a_snapshot_records_status_title_timing_and_size(site: LoopbackSite) -> None:
    result = fetch(site.url("/"), LOOPBACK)
    assert result["error"] is None
    assert result["status"] == 200
    assert result["title"] == "Ma boutique"
    assert result["final_url"] == site.url("/")
    assert result["tls_valid"] is None
    assert result["size"] > 0
    assert 0 <= result["elapsed_ms"] < 2000
    assert result["signs"] == []


def test_the_user_agent_names_the_hosts_service_and_host_is_the_sites_name(
    site: LoopbackSite,
) -> None:
    fetch(site.url("/", host="localhost"), LOOPBACK)
    [seen] = site.hits("/")
    assert seen.user_agent == "EasyHost site check (test)"
    assert seen.host == f"localhost:{site.port}"


def test_forms_are_read_with_action_and_field_names(site: LoopbackSite) -> None:
    site.page(
        "/contact/",
        """<form id="wpcf7-f1" action="/contact/#wpcf7" method="POST">
        <input name="your-name"><input name="your-email" type="email">
        <textarea name="your-message"></textarea><select name="topic"></select>
        <input type="submit" value="Send"></form>
        <form role="search" action="/"><input name="s"></form>""",
    )
    result = fetch(site.url("/contact/"), LOOPBACK)
    contact, search = result["forms"]
    assert contact == {
        "id": "wpcf7-f1",
        "action": site.url("/contact/"),
        "method": "post",
        "fields": ["topic", "your-email", "your-message", "your-name"],
    }
    assert search["fields"] == ["s"] and search["method"] == "get"


def test_redirects_are_followed_on_the_same_site_and_recorded(site: LoopbackSite) -> None:
    site.redirect("/old", "/new", 301)
    site.page("/new", "<title>New</title>")
    result = fetch(site.url("/old"), LOOPBACK)
    assert result["status"] == 200
    assert result["final_url"] == site.url("/new")
    assert result["redirects"] == [{"status": 301, "url": site.url("/new")}]


def test_redirects_are_bounded(site: LoopbackSite) -> None:
    for n in range(5):
        site.redirect(f"/r{n}", f"/r{n + 1}")
    result = fetch(site.url("/r0"), Policy(timeout=5, max_redirects=2, allow_loopback=True))
    assert result["error"] == "too_many_redirects"
    assert len(site.hits()) == 3


def test_another_site_is_not_fetched(site: LoopbackSite) -> None:
    site.redirect("/pay", site.url("/elsewhere", host="localhost"))
    result = fetch(site.url("/pay"), LOOPBACK)
    assert result["error"] == "offsite"
    assert result["final_url"] == site.url("/elsewhere", host="localhost")
    assert site.hits("/elsewhere") == []


def test_time_is_bounded(site: LoopbackSite) -> None:
    site.page("/slow", "late", delay=3)
    started = time.monotonic()
    result = fetch(site.url("/slow"), Policy(timeout=1, allow_loopback=True))
    assert result["error"] == "timeout"
    assert time.monotonic() - started < 2.5


def test_size_is_bounded(site: LoopbackSite) -> None:
    site.page("/big", b"<title>Big</title>" + b"x" * 300_000)
    result = fetch(site.url("/big"), Policy(timeout=5, max_bytes=100_000, allow_loopback=True))
    assert result["truncated"] is True
    assert result["size"] == 100_000
    assert result["title"] == "Big"


def test_an_unreachable_site_is_a_result() -> None:
    with LoopbackSite() as gone:
        url = gone.url("/")
    result = fetch(url, LOOPBACK)
    assert result["error"] == "connect"
    assert fetch("https://does-not-exist.invalid/", CLOSED)["error"] == "dns"


def test_only_web_urls_are_fetched() -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/", "http://user:pw@example.com/"):
        assert fetch(url, CLOSED)["error"] == "refused"


def test_a_few_requests_at_most_are_in_flight_per_site(site: LoopbackSite) -> None:
    for n in range(6):
        site.page(f"/p{n}", "ok", delay=0.2)
    results = take_snapshot([site.url(f"/p{n}") for n in range(6)], LOOPBACK, concurrency=2)
    assert [r["status"] for r in results] == [200] * 6
    assert [r["url"] for r in results] == [site.url(f"/p{n}") for n in range(6)]
    assert site.max_in_flight == 2


def test_tls_names_the_site_while_connecting_to_the_vetted_address(
    certificates: dict[str, Path],
) -> None:
    tls = (certificates["localhost"], certificates["localhost_key"])
    with LoopbackSite(tls=tls) as secure:
        secure.page("/", "<title>Secure</title>")
        policy = Policy(timeout=5, allow_loopback=True, ca_bundle=str(certificates["ca"]))
        result = fetch(secure.url("/", host="localhost"), policy)
        assert result["error"] is None, result
        assert result["tls_valid"] is True
        assert result["title"] == "Secure"
        assert secure.sni == ["localhost"]
        assert secure.hits("/")[0].host == f"localhost:{secure.port}"

        # Unknown issuer: the system's CAs do not know ours.
        untrusted = fetch(secure.url("/", host="localhost"), Policy(timeout=5, allow_loopback=True))
        assert untrusted["error"] == "tls_invalid"
        assert untrusted["tls_valid"] is False


def test_a_certificate_for_another_name_is_invalid(certificates: dict[str, Path]) -> None:
    with LoopbackSite(tls=(certificates["other"], certificates["other_key"])) as secure:
        secure.page("/", "hello")
        policy = Policy(timeout=5, allow_loopback=True, ca_bundle=str(certificates["ca"]))
        result = fetch(secure.url("/", host="localhost"), policy)
    assert result["error"] == "tls_invalid", result
    assert result["tls_valid"] is False


def test_check_urls_default_to_the_sites_home_page() -> None:
    assert check_urls_for("boutique.example", None, 20) == ["https://boutique.example/"]
    assert check_urls_for("https://Boutique.example/fr/", [], 20) == [
        "https://Boutique.example/fr/"
    ]
    assert check_urls_for("Boutique de Camille", None, 20) == []
    assert check_urls_for(None, None, 20) == []
    given = ["/checkout/", "https://boutique.example/contact#form", "/checkout/", "javascript:x"]
    assert check_urls_for("boutique.example", given, 20) == [
        "https://boutique.example/checkout/",
        "https://boutique.example/contact",
    ]
    assert check_urls_for("boutique.example", [f"/p{n}" for n in range(30)], 5)[-1].endswith("/p4")
    assert home_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/"


def test_an_internationalised_host_is_checked_through_its_idna_form() -> None:
    assert home_url("café-boutique.fr") == "https://xn--caf-boutique-deb.fr/"
    assert home_url("Café-Boutique.fr/boutique") == "https://xn--caf-boutique-deb.fr/"
    assert check_urls_for("café-boutique.fr", ["/panier/", "https://CAFÉ-boutique.fr/"], 20) == [
        "https://xn--caf-boutique-deb.fr/panier/",
        "https://xn--caf-boutique-deb.fr/",
    ]
    # Looked up in that form (.invalid never resolves, and never leaves the machine).
    result = fetch("https://café-boutique.invalid/", CLOSED)
    assert result["error"] == "dns"
    assert "xn--caf-boutique-deb.invalid" in result["error_detail"]


def test_a_host_that_folds_into_a_loopback_address_is_refused(site: LoopbackSite) -> None:
    # Full-width digits map to 127.0.0.1 in IDNA: the address vetted is the one folded to.
    result = fetch(f"http://１２７.０.０.１:{site.port}/", CLOSED)
    assert result["error"] == "refused", result
    assert site.hits() == []
    assert fetch(f"http://１２７.０.０.１:{site.port}/", LOOPBACK)["status"] == 200
    assert site.hits("/")[0].host == f"127.0.0.1:{site.port}"


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/",
        "http://example.com:99999/",
        "https://exa\u2028mple.com/",
        "http://xn--a.invalid/",
        "http://a..b.example/",
        "",
        "http:///nohost",
    ],
)
def test_an_invalid_url_is_a_result_never_an_exception(url: str) -> None:
    result = fetch(url, CLOSED)
    assert result["url"] == url
    assert result["error"] in ("invalid_url", "refused", "dns"), result
    assert result["status"] is None


def test_every_page_of_a_snapshot_has_the_snapshots_deadline(site: LoopbackSite) -> None:
    # One place for this host, pages of 0.6 s and 1 s in all: the third page is not
    # reached in time, whatever its own timeout.
    for n in range(3):
        site.page(f"/p{n}", "ok", delay=0.6)
    policy = Policy(timeout=5, snapshot_timeout=1, allow_loopback=True)
    started = time.monotonic()
    results = take_snapshot([site.url(f"/p{n}") for n in range(3)], policy, concurrency=1)
    assert time.monotonic() - started < 3.0  # the pages alone: 1.8 s
    assert results[0]["status"] == 200
    assert [r["error"] for r in results[1:]] == ["timeout", "timeout"]
    assert "snapshot" in results[2]["error_detail"]


def test_hundreds_of_fetches_are_in_flight_at_once(site: LoopbackSite) -> None:
    for n in range(200):
        site.page(f"/p{n}", "<title>ok</title>", delay=0.5)
    jobs = [(n, [site.url(f"/p{n}")]) for n in range(200)]
    policy = Policy(timeout=10, per_host=200, allow_loopback=True)
    started = time.monotonic()
    done = dict(snapshots(jobs, policy))
    assert time.monotonic() - started < 8.0  # 200 × 0.5 s one after the other: 100 s
    assert sorted(done) == list(range(200))
    assert all(results[0]["status"] == 200 for results in done.values())
    assert site.max_in_flight >= 100


def test_snapshots_of_one_host_share_its_limit(site: LoopbackSite) -> None:
    for n in range(4):
        site.page(f"/p{n}", "ok", delay=0.2)
    jobs = [(k, [site.url(f"/p{n}") for n in range(4)]) for k in ("a", "b")]
    policy = Policy(timeout=5, per_host=2, allow_loopback=True)
    assert sorted(key for key, _ in snapshots(jobs, policy)) == ["a", "b"]
    assert site.max_in_flight == 2
    assert len(site.hits()) == 8


def test_a_redirect_to_no_url_at_all_is_a_result(site: LoopbackSite) -> None:
    site.redirect("/", "http://[::1")
    result = fetch(site.url("/"), LOOPBACK)
    assert result["error"] == "refused", result
    assert result["redirects"] == [{"status": 302, "url": "http://[::1"}]
