"""Fetching one page of a client's site safely, and what a snapshot of it records.

The checker must never become a way into our own network: every host is resolved by
us, every address it resolves to is vetted (loopback, private, link-local, metadata,
reserved... are refused), and the connection goes to the vetted address, with the
site's name in the Host header and in TLS (SNI and certificate check), so a DNS answer
that changes between the check and the connection (rebinding) cannot redirect it.
Redirects are followed by hand, each hop vetted again. Time, size and hops are capped.

No Flask here: the caller hands a `Policy` built from the settings.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from .site_check_rules import find_signs

REDIRECTS = frozenset({301, 302, 303, 307, 308})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges refused beyond what `ipaddress` calls private, reserved or not global.
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Policy:
    """The limits of one fetch; built from the SITE_CHECK_* settings."""

    timeout: float = 10.0
    max_bytes: int = 2_000_000
    max_redirects: int = 5
    # Loopback only (the tests' sites): private ranges, link-local and metadata stay shut.
    allow_loopback: bool = False
    # Networks a host opens on purpose (its sites resolve to its own private addresses).
    allowed_networks: tuple[IPNetwork, ...] = ()
    user_agent: str = "intervention-signoff site check"
    # A CA bundle to trust instead of the system's (tests with their own CA).
    ca_bundle: str | None = None


class Refused(Exception):
    """The URL or an address it leads to may not be fetched."""


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why we never connect to `ip` (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"{reason} (as IPv6)" if reason else None
        if ip.teredo is not None:
            return "a tunnel address"
    if ip in _METADATA:
        return "a cloud metadata address"
    for reason, flag in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not public", not ip.is_global),
    ):
        if flag:
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    return None


def refusal(ip: IPAddress, policy: Policy) -> str | None:
    """Why `policy` refuses `ip` (None: allowed). Metadata addresses are never allowed."""
    reason = forbidden_reason(ip)
    if reason is None or "metadata" in reason:
        return reason
    plain = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
    if policy.allow_loopback and plain.is_loopback:
        return None
    if any(plain in network for network in policy.allowed_networks):
        return None
    return reason


def vet_host(host: str, port: int, policy: Policy) -> str:
    """Resolve `host` and return the address to connect to; raise Refused if any is forbidden.

    Every address the name resolves to must be allowed: a name that mixes public and
    private answers is refused rather than tried until one works.
    """
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise requests.ConnectionError(f"{host}: name not resolved ({exc})") from None
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
        )
        if not addresses:
            raise requests.ConnectionError(f"{host}: name not resolved") from None
    for ip in addresses:
        reason = refusal(ip, policy)
        if reason:
            raise Refused(
                f"{host} is {ip}, {reason}"
                if str(ip) == host.strip("[]")
                else f"{host} resolves to {ip}, {reason}"
            )
    chosen = addresses[0]
    return f"[{chosen}]" if chosen.version == 6 else str(chosen)


class PinnedAdapter(HTTPAdapter):
    """Connects to the address vetted for the request's host, never to a fresh DNS answer.

    The pool is keyed by that address, and TLS still names and checks the host (SNI and
    certificate), as requests-hardened does; our own rule for addresses and the switch
    for tests are why this is not that library.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host, scheme = host_params["host"], host_params["scheme"]
        port = host_params["port"] or (443 if scheme == "https" else 80)
        host_params["host"] = vet_host(host, port, self.policy)
        if scheme == "https":
            pool_kwargs["server_hostname"] = host
            pool_kwargs["assert_hostname"] = host
        return host_params, pool_kwargs


def same_site(a: str, b: str) -> bool:
    """Whether two host names belong to one site (`www.` and subdomains count as the site)."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    a, b = a.removeprefix("www."), b.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def check_url(url: str) -> str:
    """The URL as we fetch it (no fragment); Refused unless http(s) with a host and no login."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Refused("only http:// and https:// URLs with a host are checked")
    if parts.username or parts.password:
        raise Refused("URLs carrying a user name or password are not checked")
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+(?::\d{1,5})?$"
)


def home_url(site: str | None) -> str | None:
    """The home page of the intervention's `site` (a URL or a bare host name), if it has one."""
    text = (site or "").strip()
    if not text:
        return None
    if text.lower().startswith(("http://", "https://")):
        try:
            return check_url(text)
        except Refused:
            return None
    host = text.lower().split("/", 1)[0]
    if not _HOSTNAME.match(host):
        return None
    return f"https://{host}/"


def check_urls_for(site: str | None, given: Iterable[str] | None, max_urls: int) -> list[str]:
    """The pages to check: the panel's `check_urls` (paths resolved on the site), else home.

    Unusable entries are dropped here so a bad one never stops the others; duplicates
    count once; at most `max_urls` are kept.
    """
    home = home_url(site)
    urls: list[str] = []
    for raw in given or ():
        candidate = str(raw).strip()
        if candidate.startswith("/") and not candidate.startswith("//"):
            if home is None:
                continue
            candidate = urljoin(home, candidate)
        try:
            urls.append(check_url(candidate))
        except Refused:
            continue
    if not urls and not given and home:
        urls = [home]
    return list(dict.fromkeys(urls))[:max_urls]


class _PageParser(HTMLParser):
    """Collects the `<title>` and each form's action, method and field names."""

    MAX_FORMS, MAX_FIELDS = 50, 100

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "title" and self.title is None:
            self._in_title = True
        elif tag == "form" and len(self.forms) < self.MAX_FORMS:
            self._form = {
                "id": (values.get("id") or values.get("name") or "")[:100] or None,
                "action": values.get("action", "")[:2000],
                "method": (values.get("method") or "get").lower()[:10],
                "fields": [],
            }
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button") and self._form is not None:
            name = values.get("name")
            fields = self._form["fields"]
            if name and name not in fields and len(fields) < self.MAX_FIELDS:
                fields.append(name[:100])

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split())[:300]
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)


def parse_page(text: str, base_url: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The title and the forms of an HTML page (actions made absolute, without fragment)."""
    parser = _PageParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # noqa: BLE001, S110 - a broken page keeps whatever was parsed before
        pass
    if parser.title is None and parser._title_parts:
        parser.title = " ".join("".join(parser._title_parts).split())[:300]
    for form in parser.forms:
        action = urljoin(base_url, form["action"]) if form["action"] else base_url
        form["action"] = urlunsplit(urlsplit(action)._replace(fragment=""))
        form["fields"] = sorted(form["fields"])
    return parser.title, parser.forms


_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([a-zA-Z0-9_-]+)", re.I)


def _decode(body: bytes, response: requests.Response) -> str:
    charset = requests.utils.get_encoding_from_headers(response.headers)
    if not charset or charset == "ISO-8859-1":  # requests' default for any text/*
        found = _META_CHARSET.search(body[:4096])
        charset = found.group(1).decode() if found else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _error(result: dict[str, Any], code: str, detail: str) -> dict[str, Any]:
    result["error"], result["error_detail"] = code, detail[:300]
    return result


def _classify(exc: BaseException) -> str:
    if isinstance(exc, Refused):
        return "refused"
    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        verification = any(
            word in text for word in ("CERTIFICATE_VERIFY_FAILED", "CertificateError", "match")
        )
        return "tls_invalid" if verification else "tls"
    if isinstance(exc, requests.Timeout | socket.timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError) and "name not resolved" in str(exc):
        return "dns"
    if isinstance(exc, requests.ConnectionError | ssl.SSLError | OSError):
        return "connect"
    return "failed"


def fetch(url: str, policy: Policy) -> dict[str, Any]:
    """Take the snapshot of one page; never raises: a failure is part of the result.

    Records the status, the final URL and each redirect, whether TLS was valid, the time
    to the end of the body, the size read (at most `max_bytes`), the title, the forms
    and the failure signs found. `error` names why the page could not be read: refused,
    dns, connect, timeout, tls, tls_invalid, too_many_redirects, offsite or failed.
    """
    result: dict[str, Any] = {
        "url": url,
        "final_url": url,
        "status": None,
        "redirects": [],
        "tls_valid": None,
        "elapsed_ms": None,
        "size": 0,
        "truncated": False,
        "content_type": None,
        "title": None,
        "forms": [],
        "signs": [],
        "error": None,
        "error_detail": None,
    }
    started = time.monotonic()
    try:
        current = check_url(url)
    except Refused as exc:
        return _error(result, "refused", str(exc))
    first_host = urlsplit(current).hostname or ""
    session = requests.Session()
    # Proxies from the environment would connect for us, around the address check.
    session.trust_env = False
    adapter = PinnedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        for hop in range(policy.max_redirects + 1):
            left = policy.timeout - (time.monotonic() - started)
            if left <= 0:
                return _error(result, "timeout", f"no complete answer within {policy.timeout:g}s")
            request = requests.Request(
                "GET",
                current,
                headers={
                    "User-Agent": policy.user_agent,
                    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                },
            )
            prepared = session.prepare_request(request)
            # The connection goes to an address: the site's name travels in Host.
            prepared.headers["Host"] = urlsplit(prepared.url or current).netloc
            try:
                response = session.send(
                    prepared,
                    stream=True,
                    allow_redirects=False,
                    timeout=(min(left, 5.0), left),
                    verify=policy.ca_bundle or True,
                )
            except Exception as exc:  # noqa: BLE001 - every failure is a result to report
                if current.startswith("https://"):
                    result["tls_valid"] = False if _classify(exc) == "tls_invalid" else None
                return _error(result, _classify(exc), f"{type(exc).__name__}: {exc}")
            with response:
                result["status"] = response.status_code
                result["final_url"] = current
                if current.startswith("https://"):
                    result["tls_valid"] = True
                location = response.headers.get("Location")
                if response.status_code in REDIRECTS and location:
                    target = urljoin(current, location)
                    result["redirects"].append({"status": response.status_code, "url": target})
                    try:
                        target = check_url(target)
                        # Vetted before anything else: a redirect inwards is refused as such.
                        parts = urlsplit(target)
                        default_port = 443 if parts.scheme == "https" else 80
                        vet_host(parts.hostname or "", parts.port or default_port, policy)
                    except Refused as exc:
                        return _error(result, "refused", f"redirect to {target}: {exc}")
                    host = urlsplit(target).hostname or ""
                    if not same_site(host, first_host):
                        # We check the client's site only: another site is not fetched.
                        result["final_url"] = target
                        return _error(result, "offsite", f"redirects to another site ({host})")
                    if hop == policy.max_redirects:
                        return _error(
                            result, "too_many_redirects", f"more than {policy.max_redirects}"
                        )
                    current = target
                    continue
                return _read_body(result, response, policy, started)
        return result
    finally:
        session.close()
        result["elapsed_ms"] = int((time.monotonic() - started) * 1000)


def _read_body(
    result: dict[str, Any], response: requests.Response, policy: Policy, started: float
) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size >= policy.max_bytes:
                result["truncated"] = True
                break
            if time.monotonic() - started > policy.timeout:
                result["size"] = size
                return _error(result, "timeout", f"body not read within {policy.timeout:g}s")
    except Exception as exc:  # noqa: BLE001 - a cut connection is a result too
        result["size"] = size
        return _error(result, _classify(exc), f"{type(exc).__name__}: {exc}")
    body = b"".join(chunks)[: policy.max_bytes]
    result["size"] = len(body)
    content_type = response.headers.get("Content-Type", "")
    result["content_type"] = content_type.split(";")[0].strip().lower()[:100] or None
    text = _decode(body, response) if _is_text(content_type) else ""
    if text and "html" in (result["content_type"] or "html"):
        result["title"], result["forms"] = parse_page(text, result["final_url"])
    result["signs"] = find_signs(body, text, result["title"], result["status"])
    return result


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return not kind or kind.startswith("text/") or "html" in kind or "xml" in kind
