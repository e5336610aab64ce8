"""Accounts, API keys and signing secrets.

    accounts = AccountService(db, clock)
    holder = await accounts.authenticate("chrns_…")   # account_id, scope; None if unknown
    row, plaintext = await accounts.create_key(account_id, "ci")

Verified keys are cached briefly (:class:`KeyCache`), so a busy worker does not cost a key
lookup per request. A deleted key is dropped from this node's cache at once; other nodes of a
cluster may accept it for up to ``ttl_seconds`` (one second) more. A ``worker`` key may only
speak the worker protocol (claim, heartbeat, results); an ``admin`` key may do everything.

Creating or deleting a key and rotating the signing secret are recorded in the audit log in the
same transaction (``actor``: who did it) — never the key, its hash or a secret's value.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from chronos.server.clock import Clock
from chronos.server.domain.audit import Actor, audit_row
from chronos.server.domain.rows import AccountSummaryRow, ApiKeyRow, KeyHolder, SigningSecretRow
from chronos.server.domain.states import KeyScope
from chronos.server.errors import NotFound
from chronos.server.store import accounts as account_store
from chronos.server.store import signing as signing_store
from chronos.server.store.audit import audit_insert
from chronos.server.store.db import Database


class KeyCache:
    """Recently verified API keys (by hash) and who they speak for, for ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float = 1.0, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[KeyHolder, float]] = {}

    def get(self, key_hash: str) -> KeyHolder | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, holder: KeyHolder) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (holder, time.monotonic() + self.ttl_seconds)

    def forget_account_keys(self, account_id: str) -> None:
        """Drop every cached key of an account (after one of its keys is deleted)."""
        for key in [k for k, (h, _) in self._entries.items() if h["account_id"] == account_id]:
            del self._entries[key]


# ``last_used_at`` is written at most this often per key.
LAST_USED_PRECISION = timedelta(minutes=1)


class AccountService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.key_cache = KeyCache()

    async def authenticate(self, plaintext: str) -> KeyHolder | None:
        """Who an API key speaks for, or None. A revoked key stops working on every node
        within the cache's second."""
        key_hash = account_store.hash_key(plaintext)
        holder = self.key_cache.get(key_hash)
        if holder is not None:
            return holder
        async with self.db.read() as conn:
            holder = await account_store.api_key_authenticate(conn, plaintext)
        if holder is None:
            return None
        now = self.clock.now()
        last_used = holder["last_used_at"]
        if last_used is None or now - last_used >= LAST_USED_PRECISION:
            async with self.db.transaction() as conn:
                await account_store.api_key_touch(conn, holder["key_id"], now)
            holder["last_used_at"] = now
        self.key_cache.put(key_hash, holder)
        return holder

    async def bootstrap(self, api_key: str | None) -> str | None:
        """On an empty database, create account ``default`` and a key; return the key if new."""
        async with self.db.read() as conn:
            if await account_store.account_count(conn) > 0:
                return None
        if api_key is not None and not api_key.startswith(account_store.KEY_PREFIX):
            raise ValueError(
                f"CHRONOS_BOOTSTRAP_API_KEY must start with {account_store.KEY_PREFIX!r}"
            )
        try:
            async with self.db.transaction() as conn:
                account = await account_store.account_create(conn, "default", self.clock.now())
                _, plaintext = await account_store.api_key_create(
                    conn, account["id"], "bootstrap", self.clock.now(), plaintext=api_key
                )
        except IntegrityError:  # another node bootstrapped first
            return None
        return plaintext

    async def create_account(self, name: str) -> str:
        """A new account with one API key; returns the key."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ValueError("an account name must have 1 to 200 characters")
        now = self.clock.now()
        try:
            async with self.db.transaction() as conn:
                account = await account_store.account_create(conn, name, now)
                _, key = await account_store.api_key_create(conn, account["id"], "default", now)
        except IntegrityError as exc:
            raise ValueError(f"an account named {name!r} already exists") from exc
        return key

    async def list_accounts(self) -> list[AccountSummaryRow]:
        """Every account with its number of keys (for operators: ``chronos accounts list``)."""
        async with self.db.read() as conn:
            return await account_store.account_list_with_key_counts(conn)

    async def list_keys(self, account_id: str) -> list[ApiKeyRow]:
        async with self.db.read() as conn:
            return await account_store.api_key_list(conn, account_id)

    async def create_key(
        self,
        account_id: str,
        name: str,
        scope: KeyScope = KeyScope.ADMIN,
        *,
        actor: Actor | None = None,
    ) -> tuple[ApiKeyRow, str]:
        """A new key: its row and its plaintext, which is shown once and never stored."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row, plaintext = await account_store.api_key_create(
                conn, account_id, name, now, scope=scope
            )
            await audit_insert(
                conn,
                audit_row(
                    account_id,
                    actor,
                    "key.created",
                    "key",
                    row["id"],
                    row["name"],
                    before=None,
                    after=_key_audited(row),
                    at=now,
                ),
            )
        return row, plaintext

    async def delete_key(self, account_id: str, key_id: str, *, actor: Actor | None = None) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            keys = await account_store.api_key_list(conn, account_id)
            row = next((k for k in keys if k["id"] == key_id), None)
            if row is None or not await account_store.api_key_delete(conn, account_id, key_id):
                raise NotFound(f"no API key {key_id!r}")
            await audit_insert(
                conn,
                audit_row(
                    account_id,
                    actor,
                    "key.deleted",
                    "key",
                    row["id"],
                    row["name"],
                    before=_key_audited(row),
                    after=None,
                    at=now,
                ),
            )
        self.key_cache.forget_account_keys(account_id)

    async def list_signing_secrets(self, account_id: str) -> list[SigningSecretRow]:
        """Current first, then the previous one (if any)."""
        async with self.db.read() as conn:
            return await signing_store.signing_secret_list(conn, account_id)

    async def rotate_signing_secret(
        self, account_id: str, *, actor: Actor | None = None
    ) -> list[SigningSecretRow]:
        """A new current secret; the old one stays valid (and sent) until the next rotation.
        The audit log names the secrets by id only."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await signing_store.signing_secret_list(conn, account_id)
            await signing_store.signing_secret_rotate(conn, account_id, now)
            after = await signing_store.signing_secret_list(conn, account_id)
            current = after[0]
            await audit_insert(
                conn,
                audit_row(
                    account_id,
                    actor,
                    "signing_secret.rotated",
                    "signing_secret",
                    current["id"],
                    None,
                    before=_secret_ids(before),
                    after=_secret_ids(after),
                    at=now,
                ),
            )
            return after


def _key_audited(row: ApiKeyRow) -> dict[str, object]:
    """What the audit log keeps of a key: never the key or its hash."""
    return {"name": row["name"], "scope": row["scope"], "prefix": row["prefix"]}


def _secret_ids(rows: list[SigningSecretRow]) -> dict[str, object]:
    return {f"{row['status']}_id": row["id"] for row in rows}
