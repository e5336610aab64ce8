"""Per-account signing secrets for push requests."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import SigningSecretRow
from chronos.server.domain.states import SigningSecretStatus
from chronos.server.ids import new_id
from chronos.server.store.tables import signing_secrets


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def signing_secret_create(conn: AsyncConnection, account_id: str, now: datetime) -> None:
    """The account's first secret (at account creation)."""
    await conn.execute(
        sa.insert(signing_secrets).values(
            id=new_id("sec"),
            account_id=account_id,
            secret=generate_secret(),
            status=SigningSecretStatus.CURRENT.value,
            created_at=now,
        )
    )


async def signing_secret_list(conn: AsyncConnection, account_id: str) -> list[SigningSecretRow]:
    """Current first, then the previous one (if any)."""
    rows = await conn.execute(
        sa.select(signing_secrets)
        .where(signing_secrets.c.account_id == account_id)
        .order_by(signing_secrets.c.status)  # "current" < "previous"
    )
    return [cast(SigningSecretRow, dict(r._mapping)) for r in rows]


async def signing_secret_rotate(conn: AsyncConnection, account_id: str, now: datetime) -> None:
    """Drop the previous secret, demote the current one, create a new current one."""
    await conn.execute(
        sa.delete(signing_secrets).where(
            signing_secrets.c.account_id == account_id,
            signing_secrets.c.status == SigningSecretStatus.PREVIOUS.value,
        )
    )
    await conn.execute(
        sa.update(signing_secrets)
        .where(
            signing_secrets.c.account_id == account_id,
            signing_secrets.c.status == SigningSecretStatus.CURRENT.value,
        )
        .values(status=SigningSecretStatus.PREVIOUS.value)
    )
    await signing_secret_create(conn, account_id, now)


async def signing_secrets_for_accounts(
    conn: AsyncConnection, account_ids: Iterable[str]
) -> dict[str, list[str]]:
    """Each account's valid secrets, current first."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(signing_secrets.c.account_id, signing_secrets.c.secret)
        .where(signing_secrets.c.account_id.in_(ids))
        .order_by(signing_secrets.c.account_id, signing_secrets.c.status)
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.account_id, []).append(row.secret)
    return found
