"""Settings: defaults, then PANEL_ADDON_* from the environment, then a test mapping.

Every value is checked once at start-up; a bad one stops the service with a message
naming its key (see docs/configuration.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from email import policy
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

from . import evidence_keys, i18n

ENV_PREFIX = "PANEL_ADDON"

DEFAULTS: dict[str, Any] = {
    "ENV": "production",
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],
    "SQLALCHEMY_DATABASE_URI": None,
    "REDIS_URL": "redis://localhost:6379/0",
    "MAIL_SERVER": "localhost",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": None,
    "MAIL_REPLY_TO": None,
    "MAIL_TIMEOUT": "30s",
    "MAIL_BACKEND": "smtp",
    "MAIL_TEMPLATES_DIR": None,
    "PUBLIC_URL": "http://localhost:5000",
    "WEBHOOK_SECRET": None,
    "WEBHOOK_SECRET_FALLBACKS": [],
    "WEBHOOK_MAX_BYTES": 65536,
    "STAFF_API_TOKEN": None,
    "STAFF_API_TOKEN_FALLBACKS": [],
    "WHMCS_URL": None,
    "WHMCS_IDENTIFIER": None,
    "WHMCS_SECRET": None,
    "WHMCS_ACCESS_KEY": None,
    "WHMCS_TIMEOUT": "15s",
    "VALIDATION_WINDOW": "24h",
    "BACKUP_RETENTION": "48h",
    "REMINDERS": "12h,2h",
    "LATE_REPORT_POLICY": "review",
    "REOPEN_TICKET_STATUS": "Customer-Reply",
    "DEFAULT_LANGUAGE": "fr",
    "DEFAULT_TIMEZONE": "Europe/Paris",
    "STAFF_LANGUAGE": None,
    "TRANSLATIONS_DIR": None,
    "LINK_MAX_AGE": "30d",
    "SWEEP_INTERVAL": "2s",
    "TASK_LEASE": "30s",
    "TASK_BATCH_SIZE": 200,
    "TASK_RETRY_BACKOFF": "5s,30s,2m,10m,30m,1h",
    "COMPANY_NAME": "Your host",
    "SUPPORT_URL": None,
    "MAIL_SIGNATURE": None,
    "QUEUE_PREFIX": "panel-addon",
    "FRAME_ANCESTORS": None,
    "TRUSTED_PROXIES": 0,
    # The staff view (docs/staff-view.md).
    "STAFF_SESSION_LIFETIME": "8h",
    "STAFF_LOGIN_LINK_MAX_AGE": "60s",
    "WHMCS_ADMIN_URL": None,
    # Per client IP (per token for the staff API), counted in Redis (docs/reliability.md);
    # RATELIMIT_* are Flask-Limiter's own names.
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_HEADERS_ENABLED": False,
    "RATE_LIMIT_LINKS": "30/minute",
    "RATE_LIMIT_WEBHOOKS": "6000/minute",
    "RATE_LIMIT_API": "600/minute",
    # The site check (docs/site-check.md).
    "SITE_CHECK_ENABLED": True,
    "SITE_CHECK_TIMEOUT": "10s",
    "SITE_CHECK_SNAPSHOT_TIMEOUT": "60s",
    "SITE_CHECK_MAX_URLS": 20,
    "SITE_CHECK_CONCURRENCY": 3,
    "SITE_CHECK_MAX_BYTES": 2_000_000,
    "SITE_CHECK_MAX_REDIRECTS": 5,
    "SITE_CHECK_ALLOW_PRIVATE": False,
    "SITE_CHECK_ALLOWED_NETWORKS": [],
    "SITE_CHECK_USER_AGENT": None,
    "SITE_CHECK_MAIL_WAIT": "15m",
    "HOLD_MAIL_ON_REGRESSION": True,
    # The dispute dossier (docs/evidence.md).
    "EVIDENCE_SIGNING_KEY": None,
    "EVIDENCE_PUBLIC_KEYS": [],
    "EVIDENCE_TSA_URL": None,
    "EVIDENCE_TSA_TIMEOUT": "10s",
}

# Development only (PANEL_ADDON_ENV=development): the secrets a missing setting gets.
DEVELOPMENT_SECRETS = {
    "WEBHOOK_SECRET": "whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA==",
    "STAFF_API_TOKEN": "dev-staff-token",
}

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION_KEYS = (
    "VALIDATION_WINDOW",
    "BACKUP_RETENTION",
    "LINK_MAX_AGE",
    "SWEEP_INTERVAL",
    "TASK_LEASE",
    "MAIL_TIMEOUT",
    "WHMCS_TIMEOUT",
    "STAFF_SESSION_LIFETIME",
    "STAFF_LOGIN_LINK_MAX_AGE",
    "SITE_CHECK_TIMEOUT",
    "SITE_CHECK_SNAPSHOT_TIMEOUT",
    "SITE_CHECK_MAIL_WAIT",
    "EVIDENCE_TSA_TIMEOUT",
)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names its key."""


def parse_duration(value: Any, key: str) -> timedelta:
    """Parse `<integer><s|m|h|d>` (as in `90s`, `24h`); raise naming `key` otherwise."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise SettingsError(
            f"{ENV_PREFIX}_{key}: {value!r} is not a duration like 90s, 15m, 24h or 2d"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def validate(config: dict[str, Any]) -> None:
    """Check and normalise every setting in place; raise SettingsError on the first bad one."""
    env = config.get("ENV")
    if env not in ("production", "development"):
        raise SettingsError(f"{ENV_PREFIX}_ENV: {env!r} must be 'production' or 'development'")
    relaxed = env == "development" or config.get("TESTING")

    if not config.get("SECRET_KEY"):
        if not relaxed:
            raise SettingsError(
                f"{ENV_PREFIX}_SECRET_KEY is required: it signs the links mailed to clients"
            )
        config["SECRET_KEY"] = "development-only-secret-key"  # noqa: S105 - never in production
    if env == "development":
        # So `panel-addon simulate` and curl work in development with no secret to copy.
        for key, value in DEVELOPMENT_SECRETS.items():
            config[key] = config.get(key) or value
    for key in ("SECRET_KEY_FALLBACKS", "WEBHOOK_SECRET_FALLBACKS", "STAFF_API_TOKEN_FALLBACKS"):
        config[key] = _string_list(config.get(key), key)

    for key in _DURATION_KEYS:
        config[key] = parse_duration(config[key], key)
    if config["VALIDATION_WINDOW"] <= timedelta(0):
        raise SettingsError(f"{ENV_PREFIX}_VALIDATION_WINDOW must be longer than zero")
    if config["BACKUP_RETENTION"] < config["VALIDATION_WINDOW"]:
        raise SettingsError(
            f"{ENV_PREFIX}_BACKUP_RETENTION ({format_duration(config['BACKUP_RETENTION'])}) "
            f"must not be shorter than VALIDATION_WINDOW "
            f"({format_duration(config['VALIDATION_WINDOW'])})"
        )

    reminders = config["REMINDERS"]
    if isinstance(reminders, str):
        reminders = [part for part in reminders.split(",") if part.strip()]
    elif not isinstance(reminders, list | tuple):
        raise SettingsError(f"{ENV_PREFIX}_REMINDERS must be a comma list of durations")
    parsed = sorted({parse_duration(item, "REMINDERS") for item in reminders}, reverse=True)
    for item in parsed:
        if item <= timedelta(0) or item >= config["VALIDATION_WINDOW"]:
            raise SettingsError(
                f"{ENV_PREFIX}_REMINDERS: {format_duration(item)} must be between zero "
                f"and VALIDATION_WINDOW"
            )
    config["REMINDERS"] = parsed
    backoff = _duration_list(config["TASK_RETRY_BACKOFF"], "TASK_RETRY_BACKOFF")
    config["TASK_RETRY_BACKOFF"] = backoff
    _check_rate_limits(config)

    if config["LATE_REPORT_POLICY"] not in ("review", "auto"):
        raise SettingsError(f"{ENV_PREFIX}_LATE_REPORT_POLICY must be 'review' or 'auto'")
    _check_languages(config)
    _check_staff_view(config)
    try:
        ZoneInfo(str(config["DEFAULT_TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(
            f"{ENV_PREFIX}_DEFAULT_TIMEZONE: {config['DEFAULT_TIMEZONE']!r} is not a time zone"
        ) from exc

    for secret in [config.get("WEBHOOK_SECRET"), *config["WEBHOOK_SECRET_FALLBACKS"]]:
        if secret:
            _check_webhook_secret(secret)
    if config["MAIL_BACKEND"] not in ("smtp", "outbox"):
        raise SettingsError(f"{ENV_PREFIX}_MAIL_BACKEND must be 'smtp' or 'outbox'")
    for key in ("MAIL_PORT", "WEBHOOK_MAX_BYTES", "TASK_BATCH_SIZE"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] <= 0:
            raise SettingsError(f"{ENV_PREFIX}_{key} must be a positive whole number")
    _check_site_check(config)
    _check_evidence(config)
    whmcs = [config.get(k) for k in ("WHMCS_URL", "WHMCS_IDENTIFIER", "WHMCS_SECRET")]
    if any(whmcs) and not all(whmcs):
        raise SettingsError(
            f"{ENV_PREFIX}_WHMCS_URL, WHMCS_IDENTIFIER and WHMCS_SECRET go together: "
            "set all three or none"
        )
    if not config.get("SUPPORT_URL") and config.get("WHMCS_URL"):
        # The panel's own page for a new ticket: where a client with a broken link goes.
        config["SUPPORT_URL"] = f"{str(config['WHMCS_URL']).rstrip('/')}/submitticket.php"
    public = str(config["PUBLIC_URL"])
    if not public.startswith(("http://", "https://")):
        raise SettingsError(f"{ENV_PREFIX}_PUBLIC_URL must start with http:// or https://")
    config["PUBLIC_URL"] = public.rstrip("/")
    if not config.get("MAIL_DEFAULT_SENDER"):
        try:
            sender = str(Address(str(config["COMPANY_NAME"]), "no-reply", "localhost"))
        except ValueError as exc:
            raise SettingsError(
                f"{ENV_PREFIX}_COMPANY_NAME names the mails' sender: it must be one line"
            ) from exc
        config["MAIL_DEFAULT_SENDER"] = sender
    config["MAIL_DEFAULT_SENDER"] = _mail_address(
        config["MAIL_DEFAULT_SENDER"], "MAIL_DEFAULT_SENDER"
    )
    if config.get("MAIL_REPLY_TO"):
        config["MAIL_REPLY_TO"] = _mail_address(config["MAIL_REPLY_TO"], "MAIL_REPLY_TO")
    else:
        config["MAIL_REPLY_TO"] = None


def _check_evidence(config: dict[str, Any]) -> None:
    key = config.get("EVIDENCE_SIGNING_KEY")
    if key is not None:
        try:
            evidence_keys.private_key(str(key))
        except ValueError as exc:
            raise SettingsError(f"{ENV_PREFIX}_EVIDENCE_SIGNING_KEY: {exc}") from None
    config["EVIDENCE_PUBLIC_KEYS"] = _string_list(
        config.get("EVIDENCE_PUBLIC_KEYS"), "EVIDENCE_PUBLIC_KEYS"
    )
    for item in config["EVIDENCE_PUBLIC_KEYS"]:
        try:
            evidence_keys.public_key(item)
        except ValueError as exc:
            raise SettingsError(f"{ENV_PREFIX}_EVIDENCE_PUBLIC_KEYS: {item!r}: {exc}") from None
    tsa = config.get("EVIDENCE_TSA_URL")
    if tsa is not None and not (isinstance(tsa, str) and tsa.startswith(("http://", "https://"))):
        raise SettingsError(f"{ENV_PREFIX}_EVIDENCE_TSA_URL must start with http:// or https://")
    if not config["EVIDENCE_TSA_TIMEOUT"] <= timedelta(minutes=1):
        raise SettingsError(f"{ENV_PREFIX}_EVIDENCE_TSA_TIMEOUT must be at most 1m")


def _mail_address(value: Any, key: str) -> str:
    """`value` if it is one address for a mail header: `Name <support@host.example>` or bare."""
    problem = (
        f"{ENV_PREFIX}_{key}: {value!r} is not one mail address "
        "like 'Support <support@host.example>'"
    )
    if not isinstance(value, str) or len(value.splitlines()) != 1:
        raise SettingsError(problem)
    header = policy.SMTP.header_factory("From", value)
    if header.defects or len(header.addresses) != 1 or not header.addresses[0].domain:
        raise SettingsError(problem)
    if not header.addresses[0].addr_spec.isascii():
        # The name may be in any language; the address goes into the SMTP envelope as it is.
        raise SettingsError(
            f"{ENV_PREFIX}_{key}: the address itself must be ASCII "
            "(a domain name in its xn-- form); the name before it may be in any language"
        )
    return value


def _string_list(value: Any, key: str) -> list[str]:
    items = value or []
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(k, str) and k for k in items):
        raise SettingsError(f"{ENV_PREFIX}_{key} must be a JSON list of strings")
    return items


# Whole-number site-check settings and their bounds (the webhook accepts 20 check URLs).
_SITE_CHECK_NUMBERS = {
    "SITE_CHECK_MAX_URLS": (1, 20),
    "SITE_CHECK_CONCURRENCY": (1, 10),
    "SITE_CHECK_MAX_BYTES": (1024, 50_000_000),
    "SITE_CHECK_MAX_REDIRECTS": (0, 20),
}


def _check_site_check(config: dict[str, Any]) -> None:
    for key in ("SITE_CHECK_ENABLED", "SITE_CHECK_ALLOW_PRIVATE", "HOLD_MAIL_ON_REGRESSION"):
        if not isinstance(config[key], bool):
            raise SettingsError(f"{ENV_PREFIX}_{key} must be true or false")
    for key, (low, high) in _SITE_CHECK_NUMBERS.items():
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise SettingsError(f"{ENV_PREFIX}_{key} must be a whole number from {low} to {high}")
    if not timedelta(seconds=1) <= config["SITE_CHECK_TIMEOUT"] <= timedelta(seconds=60):
        raise SettingsError(f"{ENV_PREFIX}_SITE_CHECK_TIMEOUT must be between 1s and 60s")
    snapshot = config["SITE_CHECK_SNAPSHOT_TIMEOUT"]
    if not config["SITE_CHECK_TIMEOUT"] <= snapshot <= timedelta(minutes=5):
        raise SettingsError(
            f"{ENV_PREFIX}_SITE_CHECK_SNAPSHOT_TIMEOUT must be between SITE_CHECK_TIMEOUT and 5m"
        )
    if config["SITE_CHECK_MAIL_WAIT"] < timedelta(minutes=1):
        raise SettingsError(
            f"{ENV_PREFIX}_SITE_CHECK_MAIL_WAIT must be at least 1m: a site check takes that long"
        )
    if config["SITE_CHECK_MAIL_WAIT"] < snapshot:
        raise SettingsError(
            f"{ENV_PREFIX}_SITE_CHECK_MAIL_WAIT must be at least SITE_CHECK_SNAPSHOT_TIMEOUT"
        )
    config["SITE_CHECK_ALLOWED_NETWORKS"] = _networks(config["SITE_CHECK_ALLOWED_NETWORKS"])
    agent = config.get("SITE_CHECK_USER_AGENT")
    if agent is not None and not (isinstance(agent, str) and agent.isascii() and agent.strip()):
        raise SettingsError(f"{ENV_PREFIX}_SITE_CHECK_USER_AGENT must be a non-empty ASCII text")


def _networks(value: Any) -> tuple[Any, ...]:
    import ipaddress

    key = "SITE_CHECK_ALLOWED_NETWORKS"
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise SettingsError(f"{ENV_PREFIX}_{key} must be a list of networks like 10.20.0.0/16")
    try:
        return tuple(ipaddress.ip_network(str(item).strip()) for item in items if str(item).strip())
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}_{key}: {exc}") from None


def _duration_list(value: Any, key: str) -> list[timedelta]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not [i for i in items if str(i).strip()]:
        raise SettingsError(f"{ENV_PREFIX}_{key} must be a comma list of durations")
    parsed = [parse_duration(item, key) for item in items if str(item).strip()]
    if any(item <= timedelta(0) for item in parsed):
        raise SettingsError(f"{ENV_PREFIX}_{key}: every duration must be longer than zero")
    return parsed


def _check_rate_limits(config: dict[str, Any]) -> None:
    for key in ("RATELIMIT_ENABLED", "RATELIMIT_HEADERS_ENABLED"):
        if not isinstance(config[key], bool):
            raise SettingsError(f"{ENV_PREFIX}_{key} must be true or false")
    for key in ("RATE_LIMIT_LINKS", "RATE_LIMIT_WEBHOOKS", "RATE_LIMIT_API"):
        try:
            parse_many(str(config[key]))
        except ValueError:
            raise SettingsError(
                f"{ENV_PREFIX}_{key}: {config[key]!r} is not a rate like 30/minute or 10/second"
            ) from None


def _check_languages(config: dict[str, Any]) -> None:
    """LANGUAGES: English and each language with a compiled catalog; both defaults among them."""
    try:
        found = i18n.catalog_languages(i18n.CATALOGS)
    except i18n.CatalogError as exc:
        raise SettingsError(
            f"{exc} (`pip install` compiles the package's catalogs; in a checkout, "
            "run `make translations`)"
        ) from None
    host = config.get("TRANSLATIONS_DIR")
    if host:
        if not Path(str(host)).is_dir():
            raise SettingsError(f"{ENV_PREFIX}_TRANSLATIONS_DIR: {host!r} is not a folder")
        try:
            found |= i18n.catalog_languages(Path(str(host)))
        except i18n.CatalogError as exc:
            raise SettingsError(f"{ENV_PREFIX}_TRANSLATIONS_DIR: {exc}") from None
    spoken = [i18n.SOURCE_LANGUAGE, *sorted(found - {i18n.SOURCE_LANGUAGE})]
    config["LANGUAGES"] = spoken
    if config["DEFAULT_LANGUAGE"] not in spoken:
        raise SettingsError(f"{ENV_PREFIX}_DEFAULT_LANGUAGE must be one of {', '.join(spoken)}")
    staff_language = config.get("STAFF_LANGUAGE") or config["DEFAULT_LANGUAGE"]
    if staff_language not in spoken:
        raise SettingsError(f"{ENV_PREFIX}_STAFF_LANGUAGE must be one of {', '.join(spoken)}")
    config["STAFF_LANGUAGE"] = staff_language


def _check_staff_view(config: dict[str, Any]) -> None:
    if not timedelta(seconds=10) <= config["STAFF_LOGIN_LINK_MAX_AGE"] <= timedelta(minutes=10):
        raise SettingsError(f"{ENV_PREFIX}_STAFF_LOGIN_LINK_MAX_AGE must be between 10s and 10m")
    if not timedelta(minutes=5) <= config["STAFF_SESSION_LIFETIME"] <= timedelta(days=30):
        raise SettingsError(f"{ENV_PREFIX}_STAFF_SESSION_LIFETIME must be between 5m and 30d")
    admin_url = config.get("WHMCS_ADMIN_URL")
    if admin_url:
        if not str(admin_url).startswith(("http://", "https://")):
            raise SettingsError(f"{ENV_PREFIX}_WHMCS_ADMIN_URL must start with http:// or https://")
        config["WHMCS_ADMIN_URL"] = str(admin_url).rstrip("/")


def _check_webhook_secret(secret: str) -> None:
    import base64
    import binascii

    body = secret[len("whsec_") :] if secret.startswith("whsec_") else None
    try:
        key = base64.b64decode(body + "==", validate=False) if body else b""
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise SettingsError(
            f"{ENV_PREFIX}_WEBHOOK_SECRET must be 'whsec_' followed by base64 "
            "(24 to 64 random bytes)"
        )


def load(app_config: Any, test_config: Mapping[str, Any] | None) -> None:
    """Fill `app_config` from defaults, the environment, then `test_config`; then validate."""
    for key, value in DEFAULTS.items():
        app_config.setdefault(key, value)
    app_config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app_config.update(test_config)
    validate(app_config)
