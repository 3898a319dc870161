"""The WHMCS addon module, run by Debian's PHP against the real service on loopback.

WHMCS itself is stood in for by tests/php/stubs.php (add_hook, localAPI, logModuleCall,
the CSRF token functions, Capsule); tests/php/harness.php runs the module's hooks, its
addon page and its Client class as WHMCS would, and reports what they printed, returned
and logged. The service is the Flask app served over HTTP in a thread.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from standardwebhooks.webhooks import Webhook

from panel_addon import create_app, whmcs_module
from panel_addon.clock import now as clock_now
from panel_addon.domain import eligibility, lifecycle
from panel_addon.domain.trail import Actor
from panel_addon.models import Client, Intervention, db

from . import typography
from .browser_support import serve
from .conftest import REDIS_URL
from .flow import run_due, send
from .support import STAFF_TOKEN, WEBHOOK_SECRET, SmtpSink, free_port, start_smtp

PHP = shutil.which("php")
HARNESS = Path(__file__).parent / "php" / "harness.php"
MODULE_SOURCE = Path(whmcs_module.__file__).parent / whmcs_module.NAME

pytestmark = pytest.mark.skipif(
    PHP is None, reason="needs php-cli with cURL (.ci/run installs them)"
)

# Every kind of file the module ships (WHMCS's addon layout, as WHMCS/sample-addon-module).
SHIPPED = [
    "intervention_signoff.php",
    "hooks.php",
    "whmcs.json",
    "logo.png",
    "README.md",
    "lang/english.php",
    "lang/french.php",
    "lib/autoload.php",
    "lib/Client.php",
    "lib/ClientArea.php",
    "templates/clientarea.tpl",
]

ADMINS = {
    "3": {"firstname": "Alex", "lastname": "Martin", "username": "alex", "language": "english"}
}
TICKET = {
    "ticketid": 501,
    "tid": "ABC-501",
    "userid": 42,
    "subject": "Shop down",
    "status": "Open",
    "service": "S77",
    "replies": {"reply": []},
}
CLIENT = {
    "id": 42,
    "userid": 42,
    "firstname": "Camille",
    "lastname": "Martin",
    "fullname": "Camille Martin",
    "email": "camille@example.test",
    "language": "",
    "companyname": "",
}


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpSink]:
    controller, sink = start_smtp()
    yield sink
    controller.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, mail: SmtpSink) -> Iterator[dict[str, Any]]:
    """The real service over HTTP on 127.0.0.1, with the real clock."""
    tmp = tmp_path_factory.mktemp("php-service")
    port = free_port()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "php-tests-secret-key",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STAFF_API_TOKEN": STAFF_TOKEN,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'php.sqlite'}",
            "REDIS_URL": REDIS_URL,
            "QUEUE_PREFIX": f"php-{port}",
            "MAIL_SERVER": mail.host,
            "MAIL_PORT": mail.port,
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DEFAULT_LANGUAGE": "en",
            "SITE_CHECK_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
    with serve(app, port) as url:
        yield {"app": app, "url": url}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module as `panel-addon whmcs-module` writes it, in a WHMCS root."""
    root = tmp_path_factory.mktemp("whmcs-root")
    whmcs_module.write(root)
    return root / whmcs_module.INSTALL_PATH


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung service)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield int(sock.getsockname()[1])
    sock.close()


def settings(url: str, **overrides: str) -> dict[str, str]:
    values = {
        "service_url": url,
        "webhook_secret": WEBHOOK_SECRET,
        "staff_token": STAFF_TOKEN,
        "timeout": "3",
        "action_timeout": "10",
        "status_in_progress": "Intervention in progress",
        "status_awaiting": "Awaiting client validation",
        "set_status": "on",
        "default_summary": "",
    }
    values.update(overrides)
    return values


def run_php(module_dir: Path, calls: list[dict[str, Any]], **scenario: Any) -> dict[str, Any]:
    document = {
        "module": str(module_dir),
        "admins": ADMINS,
        "configuration": {"Language": "french"},
        "localapi": {
            "tickets": {
                "501": dict(TICKET),
                "502": dict(TICKET, ticketid=502, service="", userid=0),
            },
            "clients": {"42": dict(CLIENT)},
            "products": {"77": {"id": 77, "domain": "boutique-camille.fr"}},
        },
        "session": {"adminid": 3},
        **scenario,
        "calls": calls,
    }
    done = subprocess.run(
        [str(PHP), "-d", "display_errors=stderr", "-d", "error_reporting=E_ALL", str(HARNESS)],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Deprecated" not in done.stderr, done.stderr
    return dict(json.loads(done.stdout))


def client_call(
    url: str,
    method: str,
    *params: Any,
    secret: str = WEBHOOK_SECRET,
    token: str = STAFF_TOKEN,
    timeout: float = 3.0,
) -> dict[str, Any]:
    return {
        "kind": "client",
        "args": [url, secret, token, timeout],
        "method": method,
        "params": list(params),
    }


def intervention(app: Flask, panel_id: str) -> Intervention | None:
    with app.app_context():
        found = lifecycle.get_by_panel_id(panel_id)
        if found is not None:
            db.session.expunge(found)
        return found


def started(panel_id: str, client_id: str = "42") -> dict[str, Any]:
    return {
        "id": panel_id,
        "ticket_id": "900",
        "client": {
            "id": client_id,
            "email": "camille@example.test",
            "name": "Camille",
            "language": "fr",
        },
        "site": "boutique.example",
        "technician": "Alex",
        "backup": {"reference": f"bk-{panel_id}", "created_at": "2026-11-26T08:00:00Z"},
    }


# -- The files ------------------------------------------------------------------------------


def test_every_php_file_passes_php_lint() -> None:
    files = sorted(MODULE_SOURCE.rglob("*.php")) + sorted(HARNESS.parent.glob("*.php"))
    assert len(files) >= 8
    for path in files:
        done = subprocess.run(
            [str(PHP), "-l", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_writes_the_module_in_a_whmcs_root_without_any_setting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "panel-addon"),
            "whmcs-module",
            "--target",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "modules" / "addons" / "intervention_signoff"
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == sorted(whmcs_module.files())
    assert set(SHIPPED) <= set(written)
    for name in written:
        assert (folder / name).read_bytes() == (MODULE_SOURCE / name).read_bytes(), name


def test_the_command_writes_a_zip_to_unzip_at_the_whmcs_root(tmp_path: Path) -> None:
    archive = tmp_path / "intervention_signoff.zip"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "panel-addon"), "whmcs-module", "--zip", str(archive)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.testzip() is None
        names = bundle.namelist()
        prefix = "modules/addons/intervention_signoff/"
        assert sorted(names) == sorted(prefix + name for name in whmcs_module.files())
        assert all((bundle.getinfo(n).external_attr >> 16) & 0o777 == 0o644 for n in names)
        bundle.extractall(tmp_path / "whmcs")
    unzipped = tmp_path / "whmcs" / whmcs_module.INSTALL_PATH
    out = run_php(unzipped, [{"kind": "config"}, {"kind": "activate"}])
    assert out["results"][1]["return"]["status"] == "success"
    bad = subprocess.run(
        [str(Path(sys.executable).parent / "panel-addon"), "whmcs-module"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "--target DIRECTORY or --zip FILE" in bad.stderr


# WHMCS's "JSON File" (developers.whmcs.com/advanced/json-file): its fields, no others.
WHMCS_JSON_KEYS = {
    "schema",
    "type",
    "name",
    "license",
    "category",
    "description",
    "logo",
    "support",
    "authors",
}
SUPPORT_KEYS = {"homepage", "learn_more", "email", "support_url", "docs_url"}


def _check_whmcs_json(meta: dict[str, Any]) -> None:
    assert set(meta) <= WHMCS_JSON_KEYS, set(meta) - WHMCS_JSON_KEYS
    assert meta["schema"] == "1.0" and meta["type"] == "whmcs-addons"
    assert meta["name"] == whmcs_module.NAME
    assert set(meta["description"]) == {"name", "tagline", "long", "features"}
    assert all(isinstance(f, str) and f for f in meta["description"]["features"])
    assert set(meta["logo"]) == {"filename"}
    assert meta["authors"] and all(a["name"] for a in meta["authors"])
    assert all(set(a) <= {"name", "homepage"} for a in meta["authors"])
    support = meta.get("support", {})
    assert set(support) <= SUPPORT_KEYS and all(support.values())
    for key, value in support.items():
        if key == "email":
            assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value)
        else:
            assert re.fullmatch(r"https?://[^/\s]+\S*", value), (key, value)


def test_the_module_carries_its_whmcs_metadata_logo_languages_and_readme() -> None:
    meta = json.loads((MODULE_SOURCE / "whmcs.json").read_text())
    _check_whmcs_json(meta)
    assert "support" not in meta  # the project has no public URL: the host's links go in
    logo = (MODULE_SOURCE / meta["logo"]["filename"]).read_bytes()
    assert logo[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", logo[16:24])
    assert 0 < width <= 500 and 0 < height <= 500  # "should not exceed 500 pixels"
    english = _lang_keys(MODULE_SOURCE / "lang" / "english.php")
    french = _lang_keys(MODULE_SOURCE / "lang" / "french.php")
    assert english == french and "ca_title" in english
    assert "panel-addon check" in (MODULE_SOURCE / "README.md").read_text()


def test_the_module_and_the_service_have_one_version() -> None:
    out = run_php(MODULE_SOURCE, [{"kind": "config"}, {"kind": "version"}])
    config_version, client_version = (r["return"] for r in out["results"])
    assert config_version["version"] == client_version  # one version for WHMCS and the client
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == client_version  # released together
    assert "'" + client_version + "'" in (MODULE_SOURCE / "lib" / "Version.php").read_text()
    for path in MODULE_SOURCE.rglob("*.php"):  # written once, in lib/Version.php
        if path.name != "Version.php":
            assert client_version not in path.read_text(), path


def test_the_command_fills_whmcs_json_s_support_links_with_the_host_s(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).parent / "panel-addon"), "whmcs-module"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PANEL_ADDON_PUBLIC_URL": "https://signoff.host.example",
    }
    options = [
        "--support-url",
        "https://help.host.example/",
        "--docs-url",
        "https://wiki.host.example/signoff",
        "--support-email",
        "noc@host.example",
    ]

    def run(*args: str, environment: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )

    done = run("--target", str(tmp_path / "root"), *options)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "root" / whmcs_module.INSTALL_PATH
    meta = json.loads((folder / "whmcs.json").read_text())
    _check_whmcs_json(meta)
    assert meta["support"] == {
        "homepage": "https://signoff.host.example/",  # the service's home page
        "learn_more": "https://wiki.host.example/signoff",
        "email": "noc@host.example",
        "support_url": "https://help.host.example/",
        "docs_url": "https://wiki.host.example/signoff",
    }
    assert list(meta)[-2:] == ["support", "authors"]
    shipped = json.loads((MODULE_SOURCE / "whmcs.json").read_text())
    assert {k: v for k, v in meta.items() if k != "support"} == shipped
    # The zip carries the same file; --service-url wins over the environment.
    archive = tmp_path / "module.zip"
    done = run("--zip", str(archive), "--service-url", "http://10.0.0.5:8000/", *options)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(archive) as bundle:
        zipped = json.loads(bundle.read(f"{whmcs_module.INSTALL_PATH.as_posix()}/whmcs.json"))
    assert zipped["support"]["homepage"] == "http://10.0.0.5:8000/"
    out = run_php(folder, [{"kind": "config"}])
    assert out["results"][0]["error"] is None
    # Links that are not links are refused, and nothing is written.
    for bad in (["--docs-url", "wiki/signoff"], ["--support-email", "noc at host"]):
        refused = run("--target", str(tmp_path / "bad"), *bad)
        assert refused.returncode == 2 and "is not an" in refused.stderr, refused.stderr
        assert not (tmp_path / "bad").exists()
    # No link at all (no option, no PANEL_ADDON_PUBLIC_URL): no support block.
    bare = run("--target", str(tmp_path / "bare"), environment={"PATH": "/usr/bin:/bin"})
    assert bare.returncode == 0 and "no support links" in bare.stdout
    written = tmp_path / "bare" / whmcs_module.INSTALL_PATH / "whmcs.json"
    assert written.read_bytes() == (MODULE_SOURCE / "whmcs.json").read_bytes()


def _lang_keys(path: Path) -> set[str]:
    return set(re.findall(r"^\$_ADDONLANG\['([a-z_]+)'\]", path.read_text(), re.M))


def test_the_module_s_french_follows_french_typography(module_dir: Path) -> None:
    # What admins and clients read in WHMCS, as PHP loads it.
    load = "define('WHMCS', true); include $argv[1]; echo json_encode($_ADDONLANG);"
    done = subprocess.run(
        [str(PHP), "-r", load, str(module_dir / "lang" / "french.php")],
        capture_output=True,
        text=True,
        check=True,
    )
    texts = json.loads(done.stdout)
    assert len(texts) > 50
    found = {key: typography.problems(text, markup=True) for key, text in texts.items()}
    assert {key: problems for key, problems in found.items() if problems} == {}


# -- PHP versions and coding standard -------------------------------------------------------

# The files WHMCS parses whatever PHP it runs on: the Addon Modules page requires every
# addon's main file, every page loads hooks.php, and WHMCS includes the language files.
PARSED_ON_ANY_PHP = [
    "intervention_signoff.php",
    "lib/Version.php",
    "hooks.php",
    "lang/english.php",
    "lang/french.php",
]
COMPAT = HARNESS.parent / "compat72.php"

# What the PHP 7.2 check must catch: one construct per line, with what it reports.
NEWER_SYNTAX = {
    "$f = fn ($x) => $x;": "arrow function (7.4)",
    "$a ??= 1;": "??= (7.4)",
    "echo match ($a) { 1 => 'x', default => 'y' };": "match (8.0)",
    "echo $a?->b;": "?-> (8.0)",
    "#[Attribute]\nfunction attributed() {}": "attribute #[...] (8.0)",
    "enum Suit { case Hearts; }": "enum (8.1)",
    "class A { public readonly int $x; }": "readonly (8.1)",
    "class B { private string $name; }": "typed property (7.4)",
    "class C { public function __construct(private int $x) {} }": "constructor promotion (8.0)",
    "function u(int|string $x) {}": "union type (8.0)",
    "function m(mixed $x) {}": "parameter type mixed (8.0)",
    "function r(): static {}": "return type static (8.0)",
    "try {} catch (Exception) {}": "catch without a variable (8.0)",
    "$x = $y ?? throw new Exception();": "throw as an expression (8.0)",
    "foo(name: 1);": "named argument (8.0)",
    "foo(1, 2,);": "trailing comma in a call (7.3)",
    "function t($a, $b,) {}": "trailing comma in parameters (8.0)",
    "$c = strlen(...);": "first-class callable syntax (8.1)",
    "$n = 1_000;": "numeric literal separator (7.4)",
    "$o = 0o17;": "0o octal prefix (8.1)",
    "$arr = [...$other];": "spread in an array (7.4)",
    "function n($d = new DateTime()) {}": "new in an initializer (8.1)",
    "if (str_contains($a, 'b')) {}": "str_contains() (8.0)",
    "$k = array_key_first($a);": "array_key_first() (7.3)",
}


def test_the_php_7_2_check_catches_every_newer_construct(tmp_path: Path) -> None:
    files = {}
    for index, (code, _) in enumerate(NEWER_SYNTAX.items()):
        path = tmp_path / f"snippet{index}.php"
        path.write_text(f"<?php\n{code}\n")
        files[str(path)] = code
    old = tmp_path / "old.php"
    old.write_text(
        "<?php\nfunction ok(?array $a = null, int ...$rest): ?string\n{\n"
        "    $x = $a ?? [];\n    $y = array(1, 2,);\n    $z = [1, 2,];\n"
        "    $f = function ($v) use ($x): void {};\n    try {} catch (\\Throwable $e) {}\n"
        "    if (!$a) throw new \\RuntimeException('x');\n    return $a ? 'a' : null;\n}\n"
    )
    report = _compat(*files, str(old))
    for name, code in files.items():
        assert any(NEWER_SYNTAX[code] in found for found in report[name]), (code, report[name])
    assert report[str(old)] == []


def _compat(*paths: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [str(PHP), str(COMPAT), *paths], capture_output=True, text=True, check=True, timeout=60
    )
    return dict(json.loads(done.stdout))


def test_the_files_whmcs_always_parses_use_only_php_7_2_syntax() -> None:
    report = _compat(*(str(MODULE_SOURCE / name) for name in PARSED_ON_ANY_PHP))
    assert report == {str(MODULE_SOURCE / name): [] for name in PARSED_ON_ANY_PHP}
    # lib/ may use PHP 8.1 (the check does see it there): only a supported PHP loads it.
    assert _compat(str(MODULE_SOURCE / "lib" / "Client.php"))[
        str(MODULE_SOURCE / "lib" / "Client.php")
    ]
    main = (MODULE_SOURCE / "intervention_signoff.php").read_text()
    hooks = (MODULE_SOURCE / "hooks.php").read_text()
    # lib/ is required in one place, called only after the version check; before it,
    # only lib/Version.php (checked above), for the version _config() gives WHMCS.
    requires = re.findall(r"require_once __DIR__ \. '([^']+)'", main)
    assert requires == ["/lib/Version.php", "/lib/autoload.php"]
    assert len(re.findall(r"\b(?:require|include)(?:_once)?\b", main)) == 2
    assert "function intervention_signoff_load(): void\n{\n    require_once" in main
    for function in ("output", "clientarea"):
        body = main.split(f"function intervention_signoff_{function}(")[1]
        assert body.index("intervention_signoff_unsupported()") < body.index("_load()")
    guard = hooks.index("if (PHP_VERSION_ID < 80100)")
    assert guard < hooks.index("require_once") and guard < hooks.index("add_hook")


def test_activation_is_refused_below_the_supported_php_with_the_reason(module_dir: Path) -> None:
    out = run_php(
        module_dir,
        [{"kind": "unsupported", "version": 70433, "text": "7.4.33"}, {"kind": "activate"}],
    )
    reason = out["results"][0]["return"]
    assert "needs PHP 8.1 or later; this server runs PHP 7.4.33" in reason
    # Without cURL (disabled here for real), activation is refused as well.
    done = subprocess.run(
        [str(PHP), "-d", "disable_functions=curl_init", str(HARNESS)],
        input=json.dumps(
            {"module": str(module_dir), "calls": [{"kind": "activate"}, {"kind": "config"}]}
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    activate, config = (r["return"] for r in json.loads(done.stdout)["results"])
    assert activate == {
        "status": "error",
        "description": "Intervention sign-off needs PHP's cURL extension.",
    }
    assert config["description"] == activate["description"]


def test_the_module_follows_psr_12(tmp_path: Path) -> None:
    phpcs = shutil.which("phpcs")
    if phpcs is None:
        pytest.skip("needs phpcs (Debian's php-codesniffer)")
    done = subprocess.run(
        [
            phpcs,
            "--standard=" + str(HARNESS.parent / "phpcs.xml"),
            "--report=json",
            str(MODULE_SOURCE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    totals = json.loads(done.stdout)["totals"]
    assert totals == {"errors": 0, "warnings": 0, "fixable": 0}, done.stdout


def test_the_module_declares_its_settings_and_activates(module_dir: Path) -> None:
    out = run_php(module_dir, [{"kind": "config"}, {"kind": "activate"}, {"kind": "deactivate"}])
    config, activate, deactivate = (r["return"] for r in out["results"])
    assert config["name"] == "Intervention sign-off"
    assert {
        "service_url",
        "webhook_secret",
        "staff_token",
        "timeout",
        "action_timeout",
        "status_in_progress",
        "status_awaiting",
    } <= set(config["fields"])
    assert config["fields"]["webhook_secret"]["Type"] == "password"
    assert activate["status"] == "success" and deactivate["status"] == "success"


# -- The Client class -----------------------------------------------------------------------


def test_the_signature_is_the_standard_webhooks_one() -> None:
    body = '{"type":"intervention.started","data":{"id":"x"}}'
    out = run_php(
        MODULE_SOURCE,
        [
            {
                "kind": "sign",
                "secret": WEBHOOK_SECRET,
                "id": "msg_1",
                "timestamp": 1795680000,
                "body": body,
            }
        ],
    )
    from datetime import UTC, datetime

    expected = Webhook(WEBHOOK_SECRET).sign("msg_1", datetime.fromtimestamp(1795680000, UTC), body)
    assert out["results"][0]["return"] == expected


def test_the_client_sends_events_the_service_accepts_and_reads_them_back(
    service: dict[str, Any], module_dir: Path
) -> None:
    url, app = service["url"], service["app"]
    out = run_php(
        module_dir,
        [
            client_call(url, "sendEvent", "intervention.started", started("php-1"), "start_php-1"),
            client_call(url, "sendEvent", "intervention.started", started("php-1"), "start_php-1"),
            client_call(url, "intervention", "php-1"),
            client_call(url, "intervention", "nobody"),
            client_call(url, "eligibility", "42"),
            client_call(url, "latestForTicket", "900"),
            client_call(url, "interventions", {"client": "42"}, 5, True),
        ],
    )
    first, again, one, unknown, eligibility, latest, listed = out["results"]
    assert first["error"] is None and first["return"]["state"] == "in_progress"
    assert again["return"]["redelivered"] is True
    assert one["return"]["backup"]["reference"] == "bk-php-1"
    assert any(e["type"] == "start" for e in one["return"]["events"])
    assert unknown["return"] is None and unknown["error"] is None
    assert eligibility["return"]["eligible"] is True
    assert latest["return"]["id"] == "php-1"
    assert "counts" in listed["return"] and listed["return"]["interventions"][0]["id"] == "php-1"
    assert intervention(app, "php-1") is not None


def test_a_wrong_secret_or_token_is_refused_with_the_service_s_error(
    service: dict[str, Any], module_dir: Path
) -> None:
    wrong = "whsec_" + "d3Jvbmctc2VjcmV0LWZvci13ZWJob29rcy0xMjM0NTY3OA=="
    out = run_php(
        module_dir,
        [
            client_call(
                service["url"], "sendEvent", "intervention.started", started("php-2"), secret=wrong
            ),
            client_call(service["url"], "eligibility", "42", token="not-the-token"),
            client_call(service["url"], "checkSignature"),
            client_call(service["url"], "checkSignature", secret=wrong),
        ],
    )
    signed, token, good, bad = out["results"]
    assert signed["error"]["status"] == 401 and signed["error"]["code"] == "invalid_signature"
    assert token["error"]["status"] == 401 and token["error"]["code"] == "unauthorized"
    assert good["return"] is True and bad["return"] is False
    assert intervention(service["app"], "php-2") is None


def test_the_staff_login_url_signs_the_admin_into_the_staff_view(
    service: dict[str, Any], module_dir: Path
) -> None:
    out = run_php(
        module_dir, [client_call(service["url"], "staffLoginUrl", "Alex Martin", "php-1")]
    )
    url = out["results"][0]["return"]
    assert url.startswith(f"{service['url']}/staff/login/")
    with urllib.request.urlopen(url, timeout=5) as page:  # noqa: S310 - loopback
        assert b"Continue as Alex Martin" in page.read()

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(Keep).open(request, timeout=5)
    assert answer.value.code == 303
    assert answer.value.headers["Location"] == "/staff/interventions/php-1"
    assert "HttpOnly" in answer.value.headers["Set-Cookie"]


def test_an_unreachable_service_fails_at_once_and_a_silent_one_within_the_timeout(
    module_dir: Path, silent_port: int
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    silent = f"http://127.0.0.1:{silent_port}"
    out = run_php(
        module_dir,
        [
            client_call(closed, "eligibility", "42", timeout=5.0),
            {
                "kind": "client",
                "args": [silent, WEBHOOK_SECRET, STAFF_TOKEN, 1.0],
                "method": "eligibility",
                "params": ["42"],
            },
        ],
    )
    refused, hung = out["results"]
    assert refused["error"]["class"] == "InterventionSignoff\\ServiceUnavailableException"
    assert refused["seconds"] < 1.0
    assert hung["error"]["class"] == "InterventionSignoff\\ServiceUnavailableException"
    assert 0.9 <= hung["seconds"] < 2.0


# -- The hooks and the addon page ------------------------------------------------------------


def _ticket_page(out: dict[str, Any], index: int = 0) -> str:
    return str(out["results"][index]["return"])


def test_a_technician_runs_the_whole_flow_from_the_ticket(
    service: dict[str, Any], module_dir: Path, mail: SmtpSink
) -> None:
    url, app = service["url"], service["app"]
    ticket_page = {"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 501}}
    start_form = {
        "kind": "output",
        "post": {
            "action": "start",
            "ticketid": "501",
            "backup": "bk-2026-11-26-0900",
            "site": "",
            "token": "csrf-token-of-this-session",
        },
    }
    out = run_php(module_dir, [ticket_page, start_form, ticket_page], settings=settings(url))
    before, started_page, after = out["results"]

    page = str(before["return"])
    assert "No intervention on this ticket yet." in page
    assert 'name="token" value="csrf-token-of-this-session"' in page
    assert 'name="backup"' in page and 'value="boutique-camille.fr"' in page

    assert "supporttickets.php?action=view&amp;id=501" in started_page["output"]
    iv = intervention(app, "T501-1")
    assert iv is not None and iv.state == "in_progress"
    assert iv.technician == "Alex Martin" and iv.site == "boutique-camille.fr"
    assert iv.backup_reference == "bk-2026-11-26-0900" and iv.ticket_id == "501"
    with app.app_context():
        client = db.session.get(Client, "42")
        assert (
            client.email == "camille@example.test" and client.language == "fr"
        )  # WHMCS default: french
    assert out["tickets"]["501"]["status"] == "Intervention in progress"

    page = str(after["return"])
    assert "Intervention T501-1 started." in page  # the flash, shown once
    assert "In progress" in page and "bk-2026-11-26-0900" in page
    assert 'name="summary"' in page and 'name="backup"' not in page
    assert "action=open&amp;intervention=T501-1" in page

    complete_form = {
        "kind": "output",
        "post": {
            "action": "complete",
            "ticketid": "501",
            "summary": "WooCommerce updated; the checkout works again.",
            "token": "csrf-token-of-this-session",
        },
    }
    out = run_php(
        module_dir, [complete_form, ticket_page], settings=settings(url), session=out["session"]
    )
    assert intervention(app, "T501-1").state == "awaiting_validation"
    page = _ticket_page(out, 1)
    # The window starts when the mail server accepts the mail: no deadline to show yet.
    assert "the client is being mailed" in page
    assert "Awaiting the client" in page
    assert "kept" in page
    assert out["tickets"]["501"]["status"] == "Awaiting client validation"
    run_due(app)
    assert any(m["To"] == "camille@example.test" for m in mail.received())
    out = run_php(module_dir, [ticket_page], settings=settings(url), session=out["session"])
    page = _ticket_page(out, 0)
    assert "left" in page and "data-signoff-deadline" in page

    # The next start on this ticket waits for the client's answer.
    out = run_php(module_dir, [start_form], settings=settings(url))
    assert "still in progress or awaiting the client" in str(
        out["session"]["intervention_signoff_flash"]
    )


def test_a_forged_form_is_refused_by_the_csrf_check(
    service: dict[str, Any], module_dir: Path
) -> None:
    forged = {
        "kind": "output",
        "post": {"action": "start", "ticketid": "501", "backup": "x", "token": "guessed"},
    }
    out = run_php(module_dir, [forged], settings=settings(service["url"]))
    assert out["results"][0]["output"] == "Invalid CSRF Protection Token"
    assert not [c for c in out["localapi_calls"] if c["command"] == "GetTicket"]


def test_ticket_statuses_start_and_complete_the_intervention(
    service: dict[str, Any], module_dir: Path
) -> None:
    url, app = service["url"], service["app"]
    tickets = {"601": dict(TICKET, ticketid=601)}
    status = {
        "kind": "hook",
        "name": "TicketStatusChange",
        "vars": {"ticketid": 601, "status": "Intervention in progress", "adminid": 3},
    }
    out = run_php(
        module_dir,
        [status],
        settings=settings(url),
        localapi={
            "tickets": tickets,
            "clients": {"42": CLIENT},
            "products": {"77": {"domain": "boutique-camille.fr"}},
        },
    )
    iv = intervention(app, "T601-1")
    assert iv is not None and iv.state == "in_progress" and iv.backup_reference is None
    assert iv.site == "boutique-camille.fr"
    # Setting the status from the button must not start a second one; no UpdateTicket here.
    assert not [c for c in out["localapi_calls"] if c["command"] == "UpdateTicket"]

    reply = {
        "admin": "Alex Martin",
        "date": "2999-01-01 10:00:00",
        "message": "<p>Plugins updated &amp; cache cleared.</p>",
    }
    client_reply = {"admin": "", "date": "2999-01-01 11:00:00", "message": "thanks"}
    tickets["601"]["replies"] = {"reply": [reply, client_reply]}
    done = {
        "kind": "hook",
        "name": "TicketStatusChange",
        "vars": {"ticketid": 601, "status": "awaiting client validation", "adminid": 3},
    }
    run_php(
        module_dir,
        [done],
        settings=settings(url),
        localapi={"tickets": tickets, "clients": {"42": CLIENT}},
    )
    iv = intervention(app, "T601-1")
    assert iv.state == "awaiting_validation"
    assert iv.summary == "Plugins updated & cache cleared."

    # Other statuses, and the same status again, change nothing.
    other = {
        "kind": "hook",
        "name": "TicketStatusChange",
        "vars": {"ticketid": 601, "status": "Answered", "adminid": 3},
    }
    out = run_php(
        module_dir,
        [other, done],
        settings=settings(url),
        localapi={"tickets": tickets, "clients": {"42": CLIENT}},
    )
    assert all(r["error"] is None for r in out["results"])
    assert intervention(app, "T601-2") is None


def test_an_ineligible_client_is_shown_on_the_ticket_and_the_client_summary(
    service: dict[str, Any], module_dir: Path
) -> None:
    url, app = service["url"], service["app"]
    with app.test_client() as http:
        assert (
            send(http, "intervention.started", started("php-7", client_id="77")).status_code == 200
        )
        assert send(http, "intervention.started", started("php-8")).status_code == 200
    with app.app_context():
        iv = lifecycle.get_by_panel_id("php-7")
        eligibility.flag_ineligible(iv.client, iv, Actor("staff", name="Alex"), clock_now())
        db.session.commit()
    tickets = {"700": dict(TICKET, ticketid=700, userid=77)}
    out = run_php(
        module_dir,
        [
            {"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 700}},
            {"kind": "hook", "name": "AdminAreaClientSummaryPage", "vars": {"userid": 77}},
            {"kind": "hook", "name": "AdminAreaClientSummaryPage", "vars": {"userid": 42}},
        ],
        settings=settings(url),
        localapi={"tickets": tickets, "clients": {"77": dict(CLIENT, id=77, userid=77)}},
    )
    ticket, summary, other = (str(r["return"]) for r in out["results"])
    assert "not eligible for free interventions (since" in ticket
    assert "not eligible for free interventions" in summary and "php-7" in summary
    assert "action=open&amp;client=77" in summary
    assert "Eligible for free interventions." in other and "php-8" in other


def test_the_pages_speak_the_admin_s_language(service: dict[str, Any], module_dir: Path) -> None:
    admins = {"3": dict(ADMINS["3"], language="french")}
    out = run_php(
        module_dir,
        [{"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 502}}],
        settings=settings(service["url"]),
        admins=admins,
    )
    page = _ticket_page(out)
    assert "Validation des interventions" in page
    assert "rattaché à aucun compte client" in page and 'name="backup"' not in page


def test_a_down_or_hung_service_never_breaks_or_holds_the_pages(
    module_dir: Path, silent_port: int
) -> None:
    hung = settings(f"http://127.0.0.1:{silent_port}", timeout="0.5", action_timeout="0.5")
    out = run_php(
        module_dir,
        [
            {"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 501}},
            {"kind": "hook", "name": "AdminAreaClientSummaryPage", "vars": {"userid": 42}},
            {
                "kind": "hook",
                "name": "TicketStatusChange",
                "vars": {"ticketid": 501, "status": "Intervention in progress", "adminid": 3},
            },
            {
                "kind": "output",
                "post": {
                    "action": "start",
                    "ticketid": "501",
                    "backup": "bk",
                    "token": "csrf-token-of-this-session",
                },
            },
        ],
        settings=hung,
    )
    ticket, summary, status, start = out["results"]
    for result in out["results"]:
        assert result["error"] is None
        assert result["seconds"] < 1.5  # the page waits the module's timeout, no more
    assert "not answering right now" in str(ticket["return"])
    assert "not answering right now" in str(summary["return"])
    assert "did not answer" in out["session"]["intervention_signoff_flash"]["message"]
    assert "supporttickets.php" in start["output"]
    assert out["logs"] and all(STAFF_TOKEN not in json.dumps(entry) for entry in out["logs"])
    assert all(WEBHOOK_SECRET not in json.dumps(entry) for entry in out["logs"])

    closed = settings(f"http://127.0.0.1:{free_port()}")
    started_at = time.monotonic()
    out = run_php(
        module_dir,
        [{"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 501}}],
        settings=closed,
    )
    assert time.monotonic() - started_at < 5
    assert "not answering right now" in _ticket_page(out)


def test_a_broken_database_or_missing_settings_leave_the_pages_alone(
    service: dict[str, Any], module_dir: Path
) -> None:
    broken = run_php(
        module_dir,
        [{"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 501}}],
        settings=settings(service["url"]),
        capsule_fails=True,
    )
    assert broken["results"][0]["return"] == "" and broken["results"][0]["error"] is None
    assert broken["logs"][-1]["action"] == "AdminAreaViewTicketPage"
    empty = run_php(
        module_dir,
        [{"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 501}}],
        settings={},
    )
    assert "not configured yet" in _ticket_page(empty)


def test_the_addon_page_shows_counts_checks_the_connection_and_opens_the_staff_view(
    service: dict[str, Any], module_dir: Path
) -> None:
    url = service["url"]
    with service["app"].test_client() as http:
        assert send(http, "intervention.started", started("php-9")).status_code == 200
    out = run_php(
        module_dir,
        [
            {"kind": "output", "get": {}},
            {"kind": "output", "get": {"action": "check"}},
            {"kind": "output", "get": {"action": "open", "intervention": "php-9"}},
        ],
        settings=settings(url),
    )
    overview, check, open_page = (html.unescape(r["output"]) for r in out["results"])
    assert "Interventions by state" in overview and "In progress" in overview
    assert "php-9" in overview
    assert "Database: ok" in check and "accepts this module's signature" in check
    assert f'action="{url}/staff/login/' in open_page and 'method="post"' in open_page

    wrong = run_php(
        module_dir, [{"kind": "output", "get": {}}], settings=settings(url, staff_token="nope")
    )
    assert "refuses the staff API token" in wrong["results"][0]["output"]


def test_the_service_s_own_reopen_is_not_taken_for_a_technician_s_status(
    service: dict[str, Any], module_dir: Path
) -> None:
    # The worst case: the operator's REOPEN_TICKET_STATUS is also the module's "in
    # progress" status. The service's UpdateTicket is an API call: WHMCS fires
    # TicketStatusChange inside it with no adminid and no admin session.
    url, app = service["url"], service["app"]
    localapi = {"tickets": {"801": dict(TICKET, ticketid=801)}, "clients": {"42": CLIENT}}
    reopen = {
        "kind": "api",
        "command": "UpdateTicket",
        "values": {"ticketid": 801, "status": "Customer-Reply"},
    }
    configured = settings(url, status_in_progress="Customer-Reply")
    out = run_php(module_dir, [reopen], settings=configured, localapi=localapi)
    assert out["hooks_fired"] == [
        {"hook": "TicketStatusChange", "ticketid": 801, "status": "Customer-Reply"}
    ]
    assert intervention(app, "T801-1") is None
    assert [e["action"] for e in out["logs"]] == ["status change ignored (no admin)"]

    # The same status set by a technician starts one; the module's own UpdateTicket
    # (from the button, in the admin's session) fires the hook too and is not echoed.
    localapi["tickets"]["801"]["status"] = "Open"
    by_hand = {
        "kind": "hook",
        "name": "TicketStatusChange",
        "vars": {"ticketid": 801, "status": "Customer-Reply", "adminid": 3},
    }
    out = run_php(module_dir, [by_hand], settings=configured, localapi=localapi)
    assert intervention(app, "T801-1") is not None
    localapi["tickets"]["802"] = dict(TICKET, ticketid=802)
    start_form = {
        "kind": "output",
        "post": {
            "action": "start",
            "ticketid": "802",
            "backup": "bk-802",
            "token": "csrf-token-of-this-session",
        },
    }
    out = run_php(module_dir, [start_form], settings=configured, localapi=localapi)
    assert out["hooks_fired"] == [
        {"hook": "TicketStatusChange", "ticketid": 802, "status": "Customer-Reply", "adminid": 3}
    ]
    assert out["tickets"]["802"]["status"] == "Customer-Reply"
    assert intervention(app, "T802-1") is not None and intervention(app, "T802-2") is None


# -- The client area ---------------------------------------------------------------------------


def _awaiting(app: Flask, panel_id: str, client_id: str, summary: str) -> None:
    with app.test_client() as http:
        data = dict(started(panel_id, client_id=client_id), site=f"site-of-{client_id}.example")
        assert send(http, "intervention.started", data).status_code == 200
        done = send(http, "intervention.completed", {"id": panel_id, "summary": summary})
        assert done.status_code == 200, done.json
    run_due(app)  # the mail server takes the request: the window and the backup's time run


@pytest.fixture(scope="module")
def client_area(service: dict[str, Any]) -> dict[str, Any]:
    """Client 4242 has an intervention awaiting them; client 4343 one of their own."""
    app = service["app"]
    _awaiting(app, "php-ca-1", "4242", "Plugins <updated> & cache cleared.\nAll good.")
    _awaiting(app, "php-ca-2", "4343", "Theme fixed.")
    return service


CLIENTS = {"4242": {"language": "english"}, "4343": {"language": "french"}, "5555": {}}


def _as_client(module_dir: Path, url: str, uid: int, calls: list[dict[str, Any]]) -> Any:
    return run_php(
        module_dir,
        calls,
        settings=settings(url),
        session={"uid": uid},
        localapi={"tickets": {}, "clients": CLIENTS},
    )


def test_my_interventions_shows_the_client_their_own_with_the_signed_links(
    client_area: dict[str, Any], module_dir: Path
) -> None:
    url = client_area["url"]
    out = _as_client(module_dir, url, 4242, [{"kind": "clientarea"}])
    page = out["results"][0]["return"]
    assert page["templatefile"] == "clientarea" and page["requirelogin"] is True
    assert page["pagetitle"] == "My interventions"
    body = page["vars"]["signoff_body"]
    assert "site-of-4242.example" in body and "Awaiting your validation" in body
    assert "Plugins &lt;updated&gt; &amp; cache cleared.<br>" in body  # escaped, lines kept
    assert "left" in body and "data-signoff-deadline" in body
    assert "A backup of your site from before the intervention is kept until" in body
    assert "php-ca-2" not in body and "site-of-4343" not in body
    links = dict(re.findall(r'href="([^"]+/i/[^"/]+/(validate|report))"', body))
    assert {purpose for purpose in links.values()} == {"validate", "report"}
    for link in links:
        assert link.startswith(url + "/i/")
        with urllib.request.urlopen(html.unescape(link), timeout=5) as answer:  # noqa: S310
            assert answer.status == 200  # the same page as the mail's link
    assert [iv["id"] for iv in page["vars"]["interventions"]] == ["php-ca-1"]


def test_another_client_s_intervention_is_refused(
    client_area: dict[str, Any], module_dir: Path
) -> None:
    url = client_area["url"]
    mine = {"kind": "clientarea", "get": {"intervention": "php-ca-1"}}
    theirs = {"kind": "clientarea", "get": {"intervention": "php-ca-2"}}
    out = _as_client(module_dir, url, 4242, [mine, theirs])
    own, other = (r["return"]["vars"] for r in out["results"])
    assert "/i/" in own["signoff_body"] and [iv["id"] for iv in own["interventions"]] == [
        "php-ca-1"
    ]
    assert "This intervention is not in your account." in other["signoff_body"]
    assert "/i/" not in other["signoff_body"] and other["interventions"] == []
    assert "Theme fixed" not in json.dumps(out)

    french = _as_client(module_dir, url, 4343, [{"kind": "clientarea", "language": "french"}])
    page = french["results"][0]["return"]
    assert page["pagetitle"] == "Mes interventions"
    assert "Attend votre validation" in page["vars"]["signoff_body"]
    assert "php-ca-1" not in json.dumps(page)


def test_the_home_page_shows_a_panel_while_an_intervention_awaits_the_client(
    client_area: dict[str, Any], module_dir: Path
) -> None:
    url = client_area["url"]
    home = {"kind": "menu", "name": "ClientAreaHomepagePanels"}
    navbar = {"kind": "menu", "name": "ClientAreaPrimaryNavbar", "children": ["Support"]}
    out = _as_client(module_dir, url, 4242, [home, navbar])
    panels, menu = (r["return"] for r in out["results"])
    panel = panels["children"]["intervention-signoff"]["attributes"]
    assert panel["label"] == "An intervention awaits your validation"
    assert "Plugins &lt;updated&gt;" in panel["bodyHtml"]
    assert re.search(r'href="http://127\.0\.0\.1:\d+/i/[^"]+/validate"', panel["bodyHtml"])
    assert "index.php?m=intervention_signoff" in panel["footerHtml"]
    item = menu["children"]["Support"]["children"]["intervention-signoff"]["attributes"]
    assert item == {
        "label": "My interventions",
        "uri": "index.php?m=intervention_signoff",
        "order": 100,
    }

    french = _as_client(module_dir, url, 4343, [home])["results"][0]["return"]
    assert french["children"]["intervention-signoff"]["attributes"]["label"] == (
        "Une intervention attend votre validation"
    )
    nothing = _as_client(module_dir, url, 5555, [home, navbar])
    empty, still = (r["return"] for r in nothing["results"])
    assert empty["children"] == []  # nothing awaits client 5555: no panel
    assert "intervention-signoff" in still["children"]["Support"]["children"]


def test_the_client_area_asks_nothing_of_anyone_signed_out_or_when_switched_off(
    client_area: dict[str, Any], module_dir: Path, silent_port: int
) -> None:
    home = {"kind": "menu", "name": "ClientAreaHomepagePanels"}
    # Signed out: the page asks WHMCS for a sign-in, the service is never called.
    hung = f"http://127.0.0.1:{silent_port}"
    out = _as_client(module_dir, hung, 0, [{"kind": "clientarea"}, home])
    page, panels = (r["return"] for r in out["results"])
    assert page["requirelogin"] is True and page["vars"]["signoff_body"] == ""
    assert panels["children"] == [] and all(r["seconds"] < 0.5 for r in out["results"])
    off = run_php(
        module_dir,
        [{"kind": "clientarea"}, home],
        settings=settings(client_area["url"], client_area=""),
        session={"uid": 4242},
        localapi={"tickets": {}, "clients": CLIENTS},
    )
    page, panels = (r["return"] for r in off["results"])
    assert "/i/" not in page["vars"]["signoff_body"] and panels["children"] == []
    # A hung service: the page says so within the module's timeout.
    slow = run_php(
        module_dir,
        [{"kind": "clientarea"}, home],
        settings=settings(hung, timeout="0.5"),
        session={"uid": 4242},
        localapi={"tickets": {}, "clients": CLIENTS},
    )
    page, panels = slow["results"]
    assert "cannot be shown right now" in page["return"]["vars"]["signoff_body"]
    assert panels["return"]["children"] == []
    assert all(r["seconds"] < 1.5 and r["error"] is None for r in slow["results"])


def test_the_ticket_banner_opens_the_dispute_dossier_through_a_login_link(
    service: dict[str, Any], module_dir: Path
) -> None:
    url = service["url"]
    with service["app"].test_client() as http:
        data = dict(started("php-dossier"), ticket_id="501")
        assert send(http, "intervention.started", data).status_code == 200
    ticket_page = {"kind": "hook", "name": "AdminAreaViewTicketPage", "vars": {"ticketid": 501}}
    opened = {"kind": "output", "get": {"action": "open", "intervention": "php-dossier"}}
    out = run_php(
        module_dir,
        [
            ticket_page,
            dict(opened, get={**opened["get"], "dossier": "pdf"}),
            dict(opened, get={**opened["get"], "dossier": "json"}),
        ],
        settings=settings(url),
    )
    banner, pdf_page, json_page = out["results"]
    page = str(banner["return"])
    assert "Dispute dossier:" in page
    assert "action=open&amp;intervention=php-dossier&amp;dossier=pdf" in page
    assert "action=open&amp;intervention=php-dossier&amp;dossier=json" in page

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    for result, wanted in ((pdf_page, "?format=pdf"), (json_page, "?format=json")):
        form = re.search(r'action="([^"]+/staff/login/[^"]+)"', html.unescape(result["output"]))
        assert form is not None
        request = urllib.request.Request(form.group(1), data=b"", method="POST")  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.build_opener(Keep).open(request, timeout=5)
        assert answer.value.code == 303
        assert (
            answer.value.headers["Location"] == f"/staff/interventions/php-dossier/evidence{wanted}"
        )


def test_the_staff_view_opens_in_the_admin_s_language(
    service: dict[str, Any], module_dir: Path
) -> None:
    url = service["url"]
    with service["app"].test_client() as http:
        assert send(http, "intervention.started", started("php-lang")).status_code == 200
    opened = {"kind": "output", "get": {"action": "open", "intervention": "php-lang"}}
    pages = {}
    for language in ("french", "english"):
        admins = {"3": dict(ADMINS["3"], language=language)}
        out = run_php(module_dir, [opened], settings=settings(url), admins=admins)
        form = re.search(
            r'action="([^"]+/staff/login/[^"]+)"', html.unescape(out["results"][0]["output"])
        )
        assert form is not None
        # A browser: the login link's POST sets the session and follows to the page.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        request = urllib.request.Request(form.group(1), data=b"", method="POST")  # noqa: S310
        with browser.open(request, timeout=5) as answer:
            pages[language] = answer.read().decode()
    assert '<html lang="fr">' in pages["french"] and "php-lang" in pages["french"]
    assert '<html lang="en">' in pages["english"]


def _issued(text: str) -> set[str]:
    """The link tokens the service issued that appear in `text`."""
    links = re.findall(r"/i/([A-Za-z0-9_.-]{8,})/(?:validate|report)", text)
    logins = re.findall(r"/staff/login/([A-Za-z0-9_.-]{8,})", text)
    return set(links) | set(logins)


def test_no_link_token_reaches_the_module_log_or_the_activity_log(
    client_area: dict[str, Any], module_dir: Path
) -> None:
    url = client_area["url"]
    home = {"kind": "menu", "name": "ClientAreaHomepagePanels"}
    one = {"kind": "clientarea", "get": {"intervention": "php-ca-1"}}
    client = _as_client(module_dir, url, 4242, [{"kind": "clientarea"}, one, home])
    opened = {"kind": "output", "get": {"action": "open", "intervention": "php-ca-1"}}
    staff = run_php(module_dir, [opened], settings=settings(url))
    for out, logged in (
        (client, ["get /clients/{id}/interventions", "get /interventions/{id}/links"]),
        (staff, ["post /staff/login-links"]),
    ):
        issued = _issued(json.dumps(out["results"], ensure_ascii=False))
        assert issued  # the pages carry the live links
        logs = json.dumps(out["logs"], ensure_ascii=False)
        activity = json.dumps(out["activity"], ensure_ascii=False)
        assert not [token for token in issued if token in logs or token in activity]
        actions = {re.sub(r"/(4242|php-ca-1)/", "/{id}/", e["action"]) for e in out["logs"]}
        assert set(logged) <= actions
        # The answers are still logged, each link with its path and without its token.
        assert ("/i/…/validate" in logs) if out is client else ("/staff/login/…" in logs)
    assert "logActivity" not in "".join(p.read_text() for p in module_dir.rglob("*.php"))
