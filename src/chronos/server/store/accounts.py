"""Accounts and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import AccountRow, AccountSummaryRow, ApiKeyRow, KeyHolder
from chronos.server.domain.states import KeyScope
from chronos.server.ids import new_id
from chronos.server.store.signing import signing_secret_create
from chronos.server.store.tables import accounts, api_keys

KEY_PREFIX = "chrns_"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


async def account_count(conn: AsyncConnection) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(accounts))).scalar_one()


async def account_get_by_name(conn: AsyncConnection, name: str) -> AccountRow | None:
    row = (await conn.execute(sa.select(accounts).where(accounts.c.name == name))).first()
    return cast(AccountRow, dict(row._mapping)) if row else None


async def account_create(conn: AsyncConnection, name: str, now: datetime) -> AccountRow:
    """A new account, with its first signing secret for push requests."""
    row: AccountRow = {"id": new_id("acc"), "name": name, "created_at": now}
    await conn.execute(sa.insert(accounts).values(row))
    await signing_secret_create(conn, row["id"], now)
    return row


async def api_key_create(
    conn: AsyncConnection,
    account_id: str,
    name: str,
    now: datetime,
    plaintext: str | None = None,
    *,
    scope: KeyScope = KeyScope.ADMIN,
) -> tuple[ApiKeyRow, str]:
    """Store a key; return its row and the plaintext, which is never stored."""
    plaintext = plaintext or generate_key()
    row: ApiKeyRow = {
        "id": new_id("key"),
        "account_id": account_id,
        "name": name,
        "prefix": plaintext[:10],
        "key_hash": hash_key(plaintext),
        "created_at": now,
        "scope": scope.value,
        "last_used_at": None,
    }
    await conn.execute(sa.insert(api_keys).values(**row))
    return row, plaintext


async def api_key_list(conn: AsyncConnection, account_id: str) -> list[ApiKeyRow]:
    rows = await conn.execute(
        sa.select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
    )
    return [cast(ApiKeyRow, dict(r._mapping)) for r in rows]


async def api_key_delete(conn: AsyncConnection, account_id: str, key_id: str) -> bool:
    result = await conn.execute(
        sa.delete(api_keys).where(api_keys.c.id == key_id, api_keys.c.account_id == account_id)
    )
    return result.rowcount == 1


async def api_key_authenticate(conn: AsyncConnection, plaintext: str) -> KeyHolder | None:
    """Who the key speaks for (its id, name, account and scope), or None."""
    row = (
        await conn.execute(
            sa.select(
                api_keys.c.id.label("key_id"),
                api_keys.c.account_id,
                api_keys.c.scope,
                api_keys.c.last_used_at,
                api_keys.c.name.label("key_name"),
                api_keys.c.prefix.label("key_prefix"),
                accounts.c.name.label("account_name"),
            )
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .where(api_keys.c.key_hash == hash_key(plaintext))
        )
    ).first()
    return cast(KeyHolder, dict(row._mapping)) if row else None


async def api_key_touch(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    """Record that the key was used at ``now``."""
    await conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


async def account_list_with_key_counts(conn: AsyncConnection) -> list[AccountSummaryRow]:
    """Every account, oldest first, with how many API keys it has (never the keys)."""
    key_count = (
        sa.select(sa.func.count())
        .select_from(api_keys)
        .where(api_keys.c.account_id == accounts.c.id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        sa.select(accounts, key_count.label("key_count")).order_by(accounts.c.id)
    )
    return [cast(AccountSummaryRow, dict(r._mapping)) for r in rows]
