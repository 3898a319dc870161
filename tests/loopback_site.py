"""A client's website on loopback for the site-check tests: pages a test changes at will.

Each page has a status, a body, an optional delay and extra headers, and may drip (a
hostile or broken site): its status line, its headers or its body sent one byte every
`drip` seconds. The site records every request (path, Host, User-Agent) and the most
requests it had in flight at once.
With `tls`, it serves HTTPS and records the name each client asked for (SNI).
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

HTML = "text/html; charset=utf-8"


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0
    drip_from: str = "body"  # "status", "headers" or "body": where the dripping starts


@dataclass
class Seen:
    path: str
    host: str | None
    user_agent: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512  # hundreds of fetches may connect at once

    def __init__(self, address: tuple[str, int], site: LoopbackSite) -> None:
        self.site = site
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a timeout test) is expected


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        path = urlsplit(self.path).path
        with site.lock:
            site.seen.append(Seen(path, self.headers.get("Host"), self.headers.get("User-Agent")))
            site.in_flight += 1
            site.max_in_flight = max(site.max_in_flight, site.in_flight)
            page = site.pages.get(path, Page(404, b"<title>Not found</title>"))
        try:
            if page.delay:
                time.sleep(page.delay)
            if page.drip:
                self._drip(page)
                return
            self.send_response(page.status)
            headers = {"Content-Type": HTML, **page.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)
        finally:
            with site.lock:
                site.in_flight -= 1

    def _drip(self, page: Page) -> None:
        status = f"HTTP/1.1 {page.status} OK\r\n".encode()
        headers = f"Content-Type: {HTML}\r\nContent-Length: {len(page.body)}\r\n\r\n".encode()
        parts = {"status": (b"", status + headers + page.body)}
        parts["headers"] = (status, headers + page.body)
        parts["body"] = (status + headers, page.body)
        at_once, dripped = parts[page.drip_from]
        self.wfile.write(at_once)
        self.wfile.flush()
        for byte in dripped:
            time.sleep(page.drip)
            self.wfile.write(bytes([byte]))  # fails once the client has hung up
            self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackSite:
    """A small website on 127.0.0.1 (or another loopback address) for one test."""

    def __init__(self, host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None) -> None:
        self.lock = threading.Lock()
        self.pages: dict[str, Page] = {}
        self.seen: list[Seen] = []
        self.sni: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.server = _Server((host, 0), self)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment,misc]
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def page(
        self,
        path: str,
        body: str | bytes = "",
        status: int = 200,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        drip: float = 0.0,
        drip_from: str = "body",
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        with self.lock:
            self.pages[path] = Page(status, data, delay, dict(headers or {}), drip, drip_from)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.page(path, b"", status, headers={"Location": location})

    def hits(self, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if path is None or s.path == path]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_certificates(folder: Path) -> dict[str, Path]:
    """A test CA, a certificate for `localhost` it signed, and one for another name.

    Uses the openssl command; returns the paths of `ca`, `localhost` (cert, key) and
    `other` (cert, key).
    """

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Site check test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
    )
    for name, alt in (("localhost", "DNS:localhost"), ("other", "DNS:other.example")):
        (folder / f"{name}.ext").write_text(
            f"subjectAltName={alt}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        )
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )
    return {
        "ca": folder / "ca.pem",
        "localhost": folder / "localhost.pem",
        "localhost_key": folder / "localhost.key",
        "other": folder / "other.pem",
        "other_key": folder / "other.key",
    }
