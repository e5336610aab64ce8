"""/v1/signing-secrets: the secrets push requests are signed with.

Rotation keeps the old secret valid until the next rotation: meanwhile every push request
carries two ``v1=`` signatures (new first), so receivers can switch at their own pace.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from chronos.server.api.deps import AccountId, ActorDep, RuntimeDep
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.rows import SigningSecretRow
from chronos.server.domain.timing import iso

router = APIRouter(prefix="/v1/signing-secrets", tags=["signing secrets"], route_class=SafeRoute)


def _out(rows: list[SigningSecretRow]) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": r["id"],
                "secret": r["secret"],
                "status": r["status"],
                "created_at": iso(r["created_at"]),
            }
            for r in rows
        ],
        "next_cursor": None,
    }


@router.get("")
async def list_secrets(account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    return _out(await runtime.accounts.list_signing_secrets(account_id))


@router.post("/rotate")
async def rotate_secret(
    account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    return _out(await runtime.accounts.rotate_signing_secret(account_id, actor=actor))
