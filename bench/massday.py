"""The mass-intervention day: N interventions started, then completed, through the webhooks.

Run twice against gunicorn and real `panel-addon worker`s: once with the site check off,
once with every client's site checked, three pages each, on a loopback shop whose pages
answer in `DELAY` seconds (a WordPress shop's usual time to first byte). Each client has
a host of their own: the shop listens on one loopback address per client (127.0.x.y).
The panel sends from `SENDERS` threads. The figure of each run is the time from the
first completion webhook to the last client's mail accepted by the SMTP sink; the mails
are then counted per client: none lost, none doubled.
"""

from __future__ import annotations

import http.client
import json
import resource
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue
from typing import Any

DELAY = 0.3
SENDERS = 8
PAGES = {
    "/": """<html><head><title>Boutique {n}</title></head><body>
<form role="search" action="/"><input name="s"></form>{filler}</body></html>""",
    "/commande/": """<html><head><title>Commande</title></head><body>
<form name="checkout" method="post" action="/commande/"><input name="billing_email">
<input name="payment_method"><button name="place_order">Commander</button></form>
{filler}</body></html>""",
    "/contact/": """<html><head><title>Contact</title></head><body>
<form action="/contact/" method="post"><input name="your-name"><input name="your-email">
<textarea name="your-message"></textarea></form>{filler}</body></html>""",
}
FILLER = "<p>" + "Des produits faits main, livrés en 48 heures. " * 200 + "</p>"


def addresses(count: int) -> list[str]:
    """`count` loopback addresses, one host per client: 127.0.1.1, 127.0.1.2..."""
    return [f"127.0.{1 + n // 250}.{1 + n % 250}" for n in range(count)]


def serve_shop(hosts: list[str], port: int, delay: float, ready: Any, stop: Any) -> None:
    """Serve the shop's pages on every address until `stop` is set (a spawned process)."""
    import asyncio

    from aiohttp import web

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    bodies = {path: page.format(n=1, filler=FILLER).encode() for path, page in PAGES.items()}

    async def page(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in hosts:
            await web.TCPSite(runner, host, port, backlog=1024).start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(main())


def webhooks(
    tag: str, count: int, hosts: list[str], port: int, secret: str
) -> tuple[list[tuple[str, dict[str, str]]], list[tuple[str, dict[str, str]]]]:
    """The signed `started` and `completed` webhooks of `count` interventions."""
    from standardwebhooks.webhooks import Webhook

    signer = Webhook(secret)
    stamp = datetime.now(UTC)
    iso = stamp.isoformat()

    def signed(kind: str, n: int, data: dict[str, Any]) -> tuple[str, dict[str, str]]:
        body = json.dumps({"type": kind, "timestamp": iso, "data": data})
        msg_id = f"msg_{tag}_{kind.rsplit('.', 1)[1]}_{n}"
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": signer.sign(msg_id, stamp, body),
        }
        return body, headers

    started, completed = [], []
    for n in range(count):
        site = f"http://{hosts[n]}:{port}"
        data = {
            "id": f"{tag}-{n}",
            "ticket_id": str(800000 + n),
            "client": {
                "id": f"{tag}-c{n}",
                "email": email(n),
                "name": f"Client {n}",
                "language": "french" if n % 3 else "english",
            },
            "site": site,
            "check_urls": [site + path for path in PAGES],
            "technician": "Patch bot",
            "backup": {"reference": f"bk-{tag}-{n}", "created_at": iso},
        }
        started.append(signed("intervention.started", n, data))
        summary = "Extension de paiement mise à jour sur toutes les boutiques."
        completed.append(
            signed("intervention.completed", n, {"id": f"{tag}-{n}", "summary": summary})
        )
    return started, completed


def email(n: int) -> str:
    return f"client{n}@massday.example"


def post_all(port: int, requests: list[tuple[str, dict[str, str]]]) -> list[int]:
    """POST every webhook from SENDERS threads, as the panel does; the statuses, in order."""
    todo: Queue[int | None] = Queue()
    for index in range(len(requests)):
        todo.put(index)
    statuses = [0] * len(requests)

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (index := todo.get()) is not None:
            body, headers = requests[index]
            for _attempt in range(3):
                try:
                    conn.request("POST", "/webhooks/panel", body.encode(), headers)
                    answer = conn.getresponse()
                    answer.read()
                    statuses[index] = answer.status
                    if answer.getheader("Connection", "").lower() == "close":
                        conn.close()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()  # gunicorn's sync workers close after each answer
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for _ in threads:
        todo.put(None)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def mails_per_client(record: Path, recorded: Any) -> Counter[str]:
    """How many mails each recipient got, from the sink's record."""
    counts: Counter[str] = Counter()
    for _sender, recipients, _content in recorded(record):
        counts.update(recipients)
    return counts


def lost_and_doubled(counts: Counter[str], count: int) -> tuple[int, int]:
    lost = sum(1 for n in range(count) if counts[email(n)] == 0)
    doubled = sum(1 for n in range(count) if counts[email(n)] > 1)
    return lost, doubled


def wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
