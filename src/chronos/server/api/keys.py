"""/v1/api-keys: a key is shown once, when created; only its hash is stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from chronos.server.api.deps import AccountId, ActorDep, RuntimeDep
from chronos.server.api.presenters import api_key_out, page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.states import KeyScope
from chronos.server.schemas import ApiKeyIn

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], route_class=SafeRoute)


@router.get("")
async def list_keys(account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    rows = await runtime.accounts.list_keys(account_id)
    return page_out([api_key_out(r) for r in rows], None)


@router.post("", status_code=201)
async def create_key(
    account_id: AccountId, actor: ActorDep, runtime: RuntimeDep, body: ApiKeyIn | None = None
) -> dict[str, Any]:
    body = body or ApiKeyIn()
    row, plaintext = await runtime.accounts.create_key(
        account_id, body.name, KeyScope(body.scope), actor=actor
    )
    return {**api_key_out(row), "key": plaintext}


@router.delete("/{key_id}", status_code=204)
async def delete_key(
    key_id: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    await runtime.accounts.delete_key(account_id, key_id, actor=actor)
    return Response(status_code=204)
