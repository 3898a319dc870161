"""Fetching the pages of clients' sites safely and concurrently, and what a snapshot records.

The fetches of a batch of snapshots run together on one asyncio event loop (aiohttp):
they spend their time waiting on the sites, so hundreds are in flight at once, at most
`per_host` to any one host (name and port). Every fetch has a hard deadline, its whole
time (connection, each redirect, status line, headers, body) cut by the event loop at
`timeout`, and every snapshot one at `snapshot_timeout`: a slow or hostile site costs
its own snapshot and nothing else.

The checker must never become a way into our own network: every host is resolved by
us, every address it resolves to is vetted (loopback, private, link-local, metadata,
reserved... are refused), and the connection goes to a vetted address, with the site's
name in the Host header and in TLS (SNI and certificate check), so a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it: the
connector's resolver is ours (`VettingResolver`), and it is the only one it asks.
Redirects are followed by hand, each hop vetted again. Size and hops are capped too.

No Flask here: the caller hands a `Policy` built from the settings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import queue
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import certifi
import idna
from aiohttp.abc import AbstractResolver, ResolveResult

from .site_check_rules import find_signs

log = logging.getLogger(__name__)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Key = TypeVar("Key")

# Ranges refused beyond what `ipaddress` calls private, reserved or not global.
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Policy:
    """The limits of the fetches; built from the SITE_CHECK_* settings."""

    # All the time one page may take: connection, redirects, status line, headers, body.
    timeout: float = 10.0
    # All the time one snapshot (every page of it) may take.
    snapshot_timeout: float = 60.0
    # Fetches in flight at once to one host (name and port).
    per_host: int = 3
    max_bytes: int = 2_000_000
    max_redirects: int = 5
    # Loopback only (the tests' sites): private ranges, link-local and metadata stay shut.
    allow_loopback: bool = False
    # Networks a host opens on purpose (its sites resolve to its own private addresses).
    allowed_networks: tuple[IPNetwork, ...] = ()
    user_agent: str = "intervention-signoff site check"
    # A CA bundle to trust instead of the usual one (tests with their own CA).
    ca_bundle: str | None = None


class Refused(Exception):
    """The URL or an address it leads to may not be fetched."""


class InvalidURL(Refused):
    """The URL cannot be read as one (a bad port, an unusable host name...)."""


class NameNotResolved(OSError):
    """The host name has no address."""


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


class VettingResolver(AbstractResolver):
    """The connector's resolver: aiohttp's own lookup, every answer vetted by our rule.

    The connector connects to the addresses this returns and to no others, so what was
    vetted is what is connected to. Each host is looked up once per batch (the check of
    a redirect's target and the connection share the answer), and every address it
    resolves to must be allowed: a name that mixes public and private answers is refused
    rather than tried until one works. Host names that are IP addresses never reach a
    resolver in aiohttp; `vet` checks them, and the fetcher calls it before every hop.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._lookup = aiohttp.ThreadedResolver()
        self._answers: dict[tuple[str, int], asyncio.Future[list[ResolveResult]]] = {}

    async def vet(self, host: str, port: int) -> list[ResolveResult]:
        """The allowed addresses of `host`; Refused or NameNotResolved otherwise."""
        key = (host.lower(), port)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = asyncio.ensure_future(self._vetted(host, port))
            # One fetch giving up (its deadline) must not cancel the lookup others share.
            answer.add_done_callback(lambda done: done.cancelled() or done.exception())
        return list(await asyncio.shield(answer))

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        answers = await self.vet(host, port)
        return [a for a in answers if family in (socket.AF_UNSPEC, a["family"])]

    async def close(self) -> None:
        await self._lookup.close()

    async def _vetted(self, host: str, port: int) -> list[ResolveResult]:
        literal = _ip_literal(host)
        if literal is not None:
            reason = refusal(literal, self.policy)
            if reason:
                raise Refused(f"{host} is {literal}, {reason}")
            family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            return [
                {
                    "hostname": host,
                    "host": str(literal),
                    "port": port,
                    "family": family,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            ]
        try:
            answers = await self._lookup.resolve(host, port, family=socket.AF_UNSPEC)
        except (OSError, UnicodeError) as exc:
            raise NameNotResolved(f"{host}: name not resolved ({exc})") from None
        if not answers:
            raise NameNotResolved(f"{host}: name not resolved")
        for answer in answers:
            ip = ipaddress.ip_address(answer["host"].split("%")[0])
            reason = refusal(ip, self.policy)
            if reason:
                raise Refused(f"{host} resolves to {ip}, {reason}")
        return answers


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def same_site(a: str, b: str) -> bool:
    """Whether two host names belong to one site (`www.` and subdomains count as the site)."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    a, b = a.removeprefix("www."), b.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def ascii_host(host: str) -> str:
    """The host name as DNS knows it: an internationalised name (`café-boutique.fr`) in its
    IDNA form (`xn--caf-boutique-...`, UTS 46 mapping); InvalidURL if it has none."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidURL(f"{host!r} is not a usable host name ({exc})") from None


def check_url(url: str) -> str:
    """The URL as we fetch it: no fragment, an internationalised host in its IDNA form.

    Refused unless http(s) with a host and no login; InvalidURL when it does not parse.
    """
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidURL(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise Refused("only http:// and https:// URLs with a host are checked")
    if parts.username or parts.password:
        raise Refused("URLs carrying a user name or password are not checked")
    netloc = parts.netloc
    if not netloc.isascii():
        netloc = ascii_host(host) + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+(?::\d{1,5})?$"
)
_PORT = re.compile(r"^(.*?)(:\d{1,5})?$")


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
    name, port = _PORT.match(text.lower().split("/", 1)[0]).groups()  # type: ignore[union-attr]
    try:
        host = ascii_host(name) + (port or "")
    except Refused:
        return None
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


def _decode(body: bytes, charset: str | None) -> str:
    if not charset:
        found = _META_CHARSET.search(body[:4096])
        charset = found.group(1).decode() if found else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _blank(url: str) -> dict[str, Any]:
    return {
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


def _error(result: dict[str, Any], code: str, detail: str) -> dict[str, Any]:
    result["error"], result["error_detail"] = code, detail[:300]
    return result


def _classify(exc: BaseException) -> str:
    if isinstance(exc, InvalidURL | aiohttp.InvalidURL):
        return "invalid_url"
    if isinstance(exc, Refused):
        return "refused"
    if isinstance(exc, NameNotResolved):
        return "dns"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "tls_invalid"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return "connect"
    return "failed"


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return not kind or kind.startswith("text/") or "html" in kind or "xml" in kind


class Fetcher:
    """The HTTP client of one batch of snapshots, on the running event loop.

    One aiohttp session: its connector asks only `VettingResolver` for addresses, keeps
    a site's connection alive from one of its pages to the next, and has no cap of its
    own: a fetch waits for one of the `per_host` places of its host (before its time
    starts), never for a connection. No cookie jar (a fetch carries the cookies of its
    own redirects only), no proxy from the environment (it would connect for us, around
    the check), no timeout of aiohttp's: the deadlines are the event loop's.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._hosts: dict[tuple[str, int | None], asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        self.resolver = VettingResolver(self.policy)
        context = ssl.create_default_context(cafile=self.policy.ca_bundle or certifi.where())
        connector = aiohttp.TCPConnector(
            resolver=self.resolver, use_dns_cache=False, limit=0, ssl=context
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(),
            trust_env=False,
            headers={
                "User-Agent": self.policy.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            },
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def snapshot(self, urls: Sequence[str]) -> list[dict[str, Any]]:
        """Fetch every URL (at most `per_host` at once per host); one result per URL, in
        order, all within `snapshot_timeout`."""
        until = asyncio.get_running_loop().time() + self.policy.snapshot_timeout
        return list(await asyncio.gather(*(self.page(url, until) for url in urls)))

    async def page(self, url: str, until: float) -> dict[str, Any]:
        """Fetch one page of a snapshot that must be done by `until` (event-loop time)."""
        try:
            parts = urlsplit(check_url(url))
            slot_key = ((parts.hostname or "").lower(), parts.port)
        except Refused:
            return await self.fetch(url)  # refused before any connection: no place needed
        slot = self._hosts.setdefault(slot_key, asyncio.Semaphore(self.policy.per_host))
        try:
            async with asyncio.timeout_at(until):
                await slot.acquire()
        except TimeoutError:
            detail = f"not reached within the snapshot's {self.policy.snapshot_timeout:g}s"
            return _error(_blank(url), "timeout", detail)
        try:
            return await self.fetch(url, until)
        finally:
            slot.release()

    async def fetch(self, url: str, until: float | None = None) -> dict[str, Any]:
        """Take the snapshot of one page; never raises: a failure is part of the result.

        Records the status, the final URL and each redirect, whether TLS was valid, the
        time to the end of the body, the size read (at most `max_bytes`), the title, the
        forms and the failure signs found. `error` names why the page could not be read:
        invalid_url, refused, dns, connect, timeout, tls, tls_invalid, too_many_redirects,
        offsite or failed. The whole fetch ends at `timeout`, or at `until` if sooner.
        """
        result = _blank(url)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.policy.timeout
        cut = f"no complete answer within {self.policy.timeout:g}s"
        if until is not None and until < deadline:
            deadline = until
            cut = f"the snapshot's {self.policy.snapshot_timeout:g}s ran out"
        try:
            async with asyncio.timeout_at(deadline):
                await self._follow(result)
        except TimeoutError:
            _error(result, "timeout", cut)
        except Exception as exc:  # noqa: BLE001 - every failure is a result to report
            code = _classify(exc)
            if code == "failed":
                log.warning("site check of %s failed", url, exc_info=True)
            _error(result, code, f"{type(exc).__name__}: {exc}")
        finally:
            result["elapsed_ms"] = int((loop.time() - started) * 1000)
        return result

    async def _follow(self, result: dict[str, Any]) -> None:
        """Fetch `result["url"]`, following same-site redirects, each hop vetted first."""
        current = check_url(result["url"])
        first_host = urlsplit(current).hostname or ""
        cookies: SimpleCookie = SimpleCookie()
        for hop in range(self.policy.max_redirects + 1):
            parts = urlsplit(current)
            await self.resolver.vet(parts.hostname or "", parts.port or _default_port(parts))
            try:
                response = await self.session.get(
                    current, allow_redirects=False, cookies=cookies or None
                )
            except (aiohttp.ClientError, OSError) as exc:
                if current.startswith("https://"):
                    result["tls_valid"] = False if _classify(exc) == "tls_invalid" else None
                raise
            async with response:
                result["status"] = response.status
                result["final_url"] = current
                if current.startswith("https://"):
                    result["tls_valid"] = True
                location = response.headers.get("Location")
                if response.status in REDIRECTS and location:
                    cookies.update(response.cookies)
                    target = await self._redirect(result, current, location, first_host)
                    if target is None:
                        return
                    if hop == self.policy.max_redirects:
                        _error(result, "too_many_redirects", f"more than {hop}")
                        return
                    current = target
                    continue
                await self._read_body(result, response)
                return

    async def _redirect(
        self, result: dict[str, Any], current: str, location: str, first_host: str
    ) -> str | None:
        """The redirect's target if it is to be followed; else None, the result says why."""
        try:
            target = urljoin(current, location)
        except ValueError:  # a Location that is no URL at all: check_url says so below
            target = location
        result["redirects"].append({"status": result["status"], "url": target[:2000]})
        try:
            target = check_url(target)
            # Vetted before anything else: a redirect inwards is refused as such.
            parts = urlsplit(target)
            await self.resolver.vet(parts.hostname or "", parts.port or _default_port(parts))
        except Refused as exc:
            _error(result, "refused", f"redirect to {target}: {exc}")
            return None
        host = parts.hostname or ""
        if not same_site(host, first_host):
            # We check the client's site only: another site is not fetched.
            result["final_url"] = target
            _error(result, "offsite", f"redirects to another site ({host})")
            return None
        return target

    async def _read_body(self, result: dict[str, Any], response: aiohttp.ClientResponse) -> None:
        chunks: list[bytes] = []
        size, limit = 0, self.policy.max_bytes
        while size < limit:
            chunk = await response.content.read(min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            result["size"] = size  # what a deadline cutting the body leaves on record
        result["truncated"] = size >= limit
        body = b"".join(chunks)
        content_type = response.headers.get("Content-Type", "")
        result["content_type"] = content_type.split(";")[0].strip().lower()[:100] or None
        text = _decode(body, response.charset) if _is_text(content_type) else ""
        if text and "html" in (result["content_type"] or "html"):
            result["title"], result["forms"] = parse_page(text, result["final_url"])
        result["signs"] = find_signs(body, text, result["title"], result["status"])


def _default_port(parts: Any) -> int:
    return 443 if parts.scheme == "https" else 80


# --- Running the event loop --------------------------------------------------------------


class SnapshotRunner:
    """An event loop in a thread of its own that takes the snapshots handed to it.

    The caller's thread hands snapshots over at any time (`submit`) and receives each as
    soon as it is done (`next_done`), so it can record one (a database transaction,
    synchronous) while the others are still being fetched, and hand over more work
    while earlier work is in flight. One `Fetcher` serves them all. Use it as a context
    manager: leaving it closes the session and stops the loop.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="site-check")
        self._thread.daemon = True
        self._fetcher = Fetcher(policy)
        self._done: queue.SimpleQueue[tuple[Any, Sequence[str], Any]] = queue.SimpleQueue()

    def __enter__(self) -> SnapshotRunner:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._fetcher.__aenter__(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            closing = asyncio.run_coroutine_threadsafe(self._fetcher.__aexit__(), self._loop)
            closing.result(10)
        except Exception:  # noqa: BLE001 - the process goes on; its sockets close with the loop
            log.warning("site check: the HTTP session did not close cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def submit(self, key: Any, urls: Sequence[str]) -> None:
        """Start the snapshot of `urls`; `next_done` returns it under `key` when done."""
        future = asyncio.run_coroutine_threadsafe(self._fetcher.snapshot(urls), self._loop)
        future.add_done_callback(lambda done: self._done.put((key, urls, done)))

    def next_done(self, timeout: float) -> tuple[Any, list[dict[str, Any]]] | None:
        """The next finished snapshot `(key, results)`; None if none within `timeout`."""
        try:
            key, urls, future = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        try:
            return key, future.result()
        except BaseException as exc:  # noqa: BLE001 - a bug: the pages are not checked
            log.error("site check of %s failed", list(urls), exc_info=exc)
            return key, [_error(_blank(u), "failed", type(exc).__name__) for u in urls]


def snapshots(
    jobs: Sequence[tuple[Key, Sequence[str]]], policy: Policy
) -> Iterator[tuple[Key, list[dict[str, Any]]]]:
    """Take every snapshot at once; yield `(key, results)` for each as soon as it is done."""
    if not jobs:
        return
    with SnapshotRunner(policy) as runner:
        for key, urls in jobs:
            runner.submit(key, urls)
        for _ in jobs:
            done = runner.next_done(policy.snapshot_timeout + 30)
            if done is None:
                return
            yield done


def fetch(url: str, policy: Policy) -> dict[str, Any]:
    """Take the snapshot of one page (see `Fetcher.fetch`), from synchronous code."""
    for _key, results in snapshots([(url, [url])], replace(policy, per_host=1)):
        return results[0]
    return _error(_blank(url), "failed", "the site check stopped")
