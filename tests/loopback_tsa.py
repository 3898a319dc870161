"""An RFC 3161 time-stamping authority on loopback: `openssl ts -reply` behind HTTP.

It makes its own CA and TSA certificate (extended key usage timeStamping) in a folder,
answers each POSTed TimeStampReq with OpenSSL's TimeStampResp, and can check a token as
a third party would (`openssl ts -verify`).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

_CONFIG = """
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = {cn}
[ tsa_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(  # noqa: S603 - fixed arguments, the tests' own files
        ["openssl", *args], input=data, capture_output=True, check=False, timeout=30
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} {args[1]}: {done.stderr.decode(errors='replace')}")
    return done.stdout


class LoopbackTsa:
    """The authority at `url` while started; `requests` counts the stamps it gave."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tsa-")
        self.folder = Path(self._dir.name)
        self.requests = 0
        self.refuse_with: int | None = None  # an HTTP status to answer instead
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._make_certificates()

    def _make_certificates(self) -> None:
        folder = self.folder
        for name, cn in (("ca", "Loopback TSA root"), ("tsa", "Loopback TSA")):
            (folder / f"{name}.cnf").write_text(_CONFIG.format(cn=cn, folder=folder))
        (folder / "serial").write_text("01\n")
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.pem"), "-days", "30",
            "-config", str(folder / "ca.cnf"), "-extensions", "ca_ext",
        )  # fmt: skip
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(folder / "tsa.key"), "-out", str(folder / "tsa.csr"),
            "-config", str(folder / "tsa.cnf"),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(folder / "tsa.csr"), "-CA", str(folder / "ca.pem"),
            "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "30",
            "-extfile", str(folder / "tsa.cnf"), "-extensions", "tsa_ext",
            "-out", str(folder / "tsa.pem"),
        )  # fmt: skip

    def reply(self, query: bytes) -> bytes:
        with self._lock:
            self.requests += 1
            path = self.folder / f"query-{self.requests}.tsq"
            path.write_bytes(query)
            return _openssl(
                "ts", "-reply", "-config", str(self.folder / "tsa.cnf"),
                "-queryfile", str(path), "-out", "-",
            )  # fmt: skip

    def verify(self, token_der: bytes, digest_hex: str) -> str:
        """`openssl ts -verify` of a token over a digest; its output (raises if it fails)."""
        path = self.folder / "token.der"
        path.write_bytes(token_der)
        return _openssl(
            "ts", "-verify", "-digest", digest_hex, "-in", str(path), "-token_in",
            "-CAfile", str(self.folder / "ca.pem"), "-untrusted", str(self.folder / "tsa.pem"),
        ).decode()  # fmt: skip

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/tsa"

    def __enter__(self) -> Self:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if tsa.refuse_with is not None:
                    self.send_response(tsa.refuse_with)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        self._dir.cleanup()
