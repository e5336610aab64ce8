"""The PostgreSQL bridge: wake-ups between nodes with ``LISTEN``/``NOTIFY``.

Each node holds one dedicated connection that listens on channel ``chronos`` and sends the
node's own wake-ups, batched (several per ``NOTIFY``, deduplicated) and tagged with the node's
id so it ignores its own. If the connection drops (a PostgreSQL restart), the bridge
reconnects with backoff and, once back, wakes every local waiter: anything sent meanwhile was
lost, and a spurious wake-up costs only a query. The services' own slow polls (≤ 1 s, claims
≤ 5 s) cover the gap, so a lost notification delays work but never strands it.
"""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg

from chronos.server.ids import new_id
from chronos.server.notifier import Message, Notifier
from chronos.server.store.notify import (
    CONNECTION_ERRORS,
    MAX_PAYLOAD,
    notify_connect,
    notify_listen,
    notify_send,
)

log = logging.getLogger("chronos.cluster")


class PgBridge:
    name = "cluster-bridge"

    def __init__(self, database_url: str, notifier: Notifier) -> None:
        self.database_url = database_url
        self.notifier = notifier
        self.node_id = new_id("node")
        self._outbox: set[Message] = set()
        self._outbox_ready = asyncio.Event()
        self.connected = asyncio.Event()
        notifier.broadcast = self.send

    def send(self, message: Message) -> None:
        self._outbox.add(message)
        self._outbox_ready.set()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await notify_connect(self.database_url)
            except CONNECTION_ERRORS as exc:
                failures += 1
                delay = min(5.0, 0.2 * 2**failures)
                log.warning("cluster bridge cannot connect (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            try:
                await self._serve(conn)
            except CONNECTION_ERRORS as exc:
                log.warning("cluster bridge lost its connection: %s", exc)
            finally:
                self.connected.clear()
                if not conn.is_closed():
                    conn.terminate()

    async def _serve(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await notify_listen(conn, self._on_notification)
        self.connected.set()
        self._wake_everything()  # whatever was sent while we were away is lost: re-check
        while not lost.is_set():
            waiter = asyncio.ensure_future(self._outbox_ready.wait())
            lost_waiter = asyncio.ensure_future(lost.wait())
            await asyncio.wait({waiter, lost_waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            lost_waiter.cancel()
            if lost.is_set():
                return
            self._outbox_ready.clear()
            messages, self._outbox = list(self._outbox), set()
            await notify_send(conn, self._payloads(messages))

    def _payloads(self, messages: list[Message]) -> list[str]:
        payloads: list[str] = []
        batch: list[list[str]] = []
        for message in messages:
            batch.append(list(message))
            if len(json.dumps(batch)) > MAX_PAYLOAD - 100:
                payloads.append(json.dumps({"n": self.node_id, "m": batch[:-1]}))
                batch = batch[-1:]
        if batch:
            payloads.append(json.dumps({"n": self.node_id, "m": batch}))
        return payloads

    def _on_notification(self, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if data.get("n") == self.node_id:
            return
        for kind, account_id, key in data.get("m", []):
            self.notifier.receive((kind, account_id, key))

    def _wake_everything(self) -> None:
        self.notifier.wake_everything()
