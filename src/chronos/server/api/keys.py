"""/v1/api-keys: a key is shown once, when created; only its hash is stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from chronos.server.api.deps import AccountId, RuntimeDep
from chronos.server.api.presenters import api_key_out, page_out
from chronos.server.errors import NotFound
from chronos.server.schemas import ApiKeyIn
from chronos.server.store import accounts as account_store

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.get("")
async def list_keys(account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        rows = await account_store.api_key_list(conn, account_id)
    return page_out([api_key_out(r) for r in rows], None)


@router.post("", status_code=201)
async def create_key(
    account_id: AccountId, runtime: RuntimeDep, body: ApiKeyIn | None = None
) -> dict[str, Any]:
    body = body or ApiKeyIn()
    async with runtime.db.transaction() as conn:
        row, plaintext = await account_store.api_key_create(
            conn, account_id, body.name, runtime.clock.now()
        )
    return {**api_key_out(row), "key": plaintext}


@router.delete("/{key_id}", status_code=204)
async def delete_key(key_id: str, account_id: AccountId, runtime: RuntimeDep) -> Response:
    async with runtime.db.transaction() as conn:
        if not await account_store.api_key_delete(conn, account_id, key_id):
            raise NotFound(f"no API key {key_id!r}")
    runtime.key_cache.forget_account_keys(account_id)
    return Response(status_code=204)
