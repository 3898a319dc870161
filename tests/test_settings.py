"""Settings come from PANEL_ADDON_* and stop the start-up with the bad key named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from panel_addon import create_app
from panel_addon.settings import SettingsError


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    for key in ("SECRET_KEY", "VALIDATION_WINDOW", "BACKUP_RETENTION", "REMINDERS", "ENV"):
        monkeypatch.delenv(f"PANEL_ADDON_{key}", raising=False)
    monkeypatch.setenv("PANEL_ADDON_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 's.sqlite'}")
    return monkeypatch


def test_environment_values_are_read_and_parsed(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    env.setenv("PANEL_ADDON_VALIDATION_WINDOW", "90s")
    env.setenv("PANEL_ADDON_BACKUP_RETENTION", "2d")
    env.setenv("PANEL_ADDON_REMINDERS", "30s,1m")
    env.setenv("PANEL_ADDON_SECRET_KEY_FALLBACKS", '["old-1", "old-2"]')
    env.setenv("PANEL_ADDON_MAIL_PORT", "2525")
    app = create_app()
    assert app.config["VALIDATION_WINDOW"] == timedelta(seconds=90)
    assert app.config["BACKUP_RETENTION"] == timedelta(days=2)
    assert app.config["REMINDERS"] == [timedelta(minutes=1), timedelta(seconds=30)]
    assert app.config["SECRET_KEY_FALLBACKS"] == ["old-1", "old-2"]
    assert app.config["MAIL_PORT"] == 2525


def test_the_contract_defaults(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    config = create_app().config
    assert config["VALIDATION_WINDOW"] == timedelta(hours=24)
    assert config["BACKUP_RETENTION"] == timedelta(hours=48)
    assert config["REMINDERS"] == [timedelta(hours=12), timedelta(hours=2)]
    assert config["LATE_REPORT_POLICY"] == "review"
    assert config["REOPEN_TICKET_STATUS"] == "Customer-Reply"
    assert config["DEFAULT_LANGUAGE"] == "fr"
    assert config["PUBLIC_URL"] == "http://localhost:5000"
    assert config["REDIS_URL"] == "redis://localhost:6379/0"
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("VALIDATION_WINDOW", "24 hours"),
        ("BACKUP_RETENTION", "12h"),
        ("REMINDERS", "30h"),
        ("LATE_REPORT_POLICY", "never"),
        ("DEFAULT_LANGUAGE", "de"),
        ("WEBHOOK_SECRET", "not-a-secret"),
        ("PUBLIC_URL", "ftp://x"),
        ("MAIL_PORT", '"abc"'),
        ("MAIL_DEFAULT_SENDER", "support@host.example, other@host.example"),
        ("MAIL_DEFAULT_SENDER", "the support team"),
        ("MAIL_DEFAULT_SENDER", "Support <support@hébergeur.fr>"),
        ("MAIL_REPLY_TO", "help@host.example, other@host.example"),
        ("MAIL_REPLY_TO", "help desk"),
        ("MAIL_REPLY_TO", "[1, 2]"),
    ],
)
def test_a_bad_value_names_its_key(env: pytest.MonkeyPatch, key: str, value: str) -> None:
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    env.setenv(f"PANEL_ADDON_{key}", value)
    with pytest.raises(SettingsError, match=f"PANEL_ADDON_{key}"):
        create_app()


def test_mail_addresses_default_to_the_company_and_no_reply_to(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    env.setenv("PANEL_ADDON_COMPANY_NAME", "Hébergeur, SARL")
    config = create_app().config
    # Quoted: the comma in the name does not make two addresses.
    assert config["MAIL_DEFAULT_SENDER"] == '"Hébergeur, SARL" <no-reply@localhost>'
    assert config["MAIL_REPLY_TO"] is None


def test_mail_reply_to_is_read(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    env.setenv("PANEL_ADDON_MAIL_REPLY_TO", "Support Hébergeur <help@host.example>")
    assert create_app().config["MAIL_REPLY_TO"] == "Support Hébergeur <help@host.example>"


def test_secret_key_is_required_in_production(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="PANEL_ADDON_SECRET_KEY"):
        create_app()


def test_development_runs_without_a_secret_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_ENV", "development")
    assert create_app().config["SECRET_KEY"]


def test_whmcs_settings_go_together(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    env.setenv("PANEL_ADDON_WHMCS_URL", "https://panel.example")
    with pytest.raises(SettingsError, match="WHMCS_IDENTIFIER"):
        create_app()


def test_support_defaults_to_the_panels_ticket_page() -> None:
    whmcs = {
        "TESTING": True,
        "WHMCS_URL": "https://billing.host.example/",
        "WHMCS_IDENTIFIER": "id",
        "WHMCS_SECRET": "secret",
    }

    assert create_app(whmcs).config["SUPPORT_URL"] == (
        "https://billing.host.example/submitticket.php"
    )
    chosen = create_app(whmcs | {"SUPPORT_URL": "https://host.example/help"})
    assert chosen.config["SUPPORT_URL"] == "https://host.example/help"
    assert create_app({"TESTING": True}).config["SUPPORT_URL"] is None


def test_development_has_its_own_secrets_and_production_none(env: pytest.MonkeyPatch) -> None:
    env.setenv("PANEL_ADDON_ENV", "development")
    env.delenv("PANEL_ADDON_WEBHOOK_SECRET", raising=False)
    env.delenv("PANEL_ADDON_STAFF_API_TOKEN", raising=False)
    development = create_app()
    assert development.config["WEBHOOK_SECRET"].startswith("whsec_")
    assert development.config["STAFF_API_TOKEN"] == "dev-staff-token"

    env.setenv("PANEL_ADDON_ENV", "production")
    env.setenv("PANEL_ADDON_SECRET_KEY", "k")
    production = create_app()
    assert not production.config["WEBHOOK_SECRET"]
    assert not production.config["STAFF_API_TOKEN"]
