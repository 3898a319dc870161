"""A counting SMTP server on loopback (aiosmtpd), in its own process.

It accepts every message, counts them and notes when the last one was accepted
(time.monotonic, which every process on the machine shares); while `recording` is set
it also keeps each message, so the raw smtplib run can send exactly the same bytes.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("!III")


def serve(
    port: int,
    count: Synchronized,  # type: ignore[type-arg]
    last: Synchronized,  # type: ignore[type-arg]
    recording: Synchronized,  # type: ignore[type-arg]
    record_path: str,
    ready: Any,
    stop: Any,
) -> None:
    """Run the server until `stop` is set (the target of a spawned process)."""
    from aiosmtpd.controller import Controller

    record = Path(record_path).open("ab")  # noqa: SIM115 - open for the server's whole life

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if recording.value:
                sender = (envelope.mail_from or "").encode()
                recipients = "\n".join(envelope.rcpt_tos).encode()
                content = envelope.original_content or envelope.content
                record.write(_HEADER.pack(len(sender), len(recipients), len(content)))
                record.write(sender + recipients + content)
            count.value += 1
            last.value = time.monotonic()
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        stop.wait()
    finally:
        controller.stop()
        record.close()


def recorded(path: Path) -> Iterator[tuple[str, list[str], bytes]]:
    """The messages kept while recording: (sender, recipients, raw bytes)."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        a, b, c = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        sender = data[offset : offset + a].decode()
        recipients = data[offset + a : offset + a + b].decode().split("\n")
        content = data[offset + a + b : offset + a + b + c]
        offset += a + b + c
        yield sender, recipients, content
