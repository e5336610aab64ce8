"""The account, API key and signing secret stores (and the Database's transactions), called
directly, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.exc import IntegrityError

from chronos.server.clock import FakeClock
from chronos.server.domain.states import KeyScope
from chronos.server.store import accounts as store
from chronos.server.store.db import Database, normalize_url
from chronos.server.store.signing import (
    signing_secret_list,
    signing_secret_rotate,
    signing_secrets_for_accounts,
)


async def test_account_count_counts_every_account(db: Database, clock: FakeClock):
    async with db.transaction() as conn:
        assert await store.account_count(conn) == 0
        await store.account_create(conn, "a", clock.now())
        await store.account_create(conn, "b", clock.now())
        assert await store.account_count(conn) == 2


async def test_account_get_by_name_returns_the_created_row(db: Database, clock: FakeClock):
    async with db.transaction() as conn:
        created = await store.account_create(conn, "acme", clock.now())
        await store.account_create(conn, "globex", clock.now())
    async with db.read() as conn:
        assert await store.account_get_by_name(conn, "acme") == created
        assert await store.account_get_by_name(conn, "initech") is None
    assert created["id"].startswith("acc_") and created["created_at"] == clock.now()


async def test_account_create_taken_name_raises(db: Database, clock: FakeClock):
    async with db.transaction() as conn:
        await store.account_create(conn, "acme", clock.now())
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await store.account_create(conn, "acme", clock.now())


async def test_account_create_gives_the_account_a_current_signing_secret(
    db: Database, clock: FakeClock
):
    async with db.transaction() as conn:
        account = await store.account_create(conn, "acme", clock.now())
        secrets = await signing_secret_list(conn, account["id"])
    assert [(s["account_id"], s["status"], s["created_at"]) for s in secrets] == [
        (account["id"], "current", clock.now())
    ]
    assert secrets[0]["secret"].startswith("whsec_")


# --- API keys -----------------------------------------------------------------------------------


async def test_api_key_create_stores_a_hash_and_returns_the_plaintext_once(
    db: Database, clock: FakeClock, account_id: str
):
    async with db.transaction() as conn:
        row, plaintext = await store.api_key_create(conn, account_id, "ci", clock.now())
        given, given_plaintext = await store.api_key_create(
            conn, account_id, "seeded", clock.now(), plaintext="chrns_seeded-key-0001"
        )
        listed = await store.api_key_list(conn, account_id)
    assert plaintext.startswith(store.KEY_PREFIX) and given_plaintext == "chrns_seeded-key-0001"
    assert row == {
        "id": row["id"],
        "account_id": account_id,
        "name": "ci",
        "prefix": plaintext[:10],
        "key_hash": hashlib.sha256(plaintext.encode()).hexdigest(),
        "created_at": clock.now(),
        "scope": "admin",
        "last_used_at": None,
    }
    assert listed == sorted([row, given], key=lambda r: r["id"])
    assert all(plaintext not in str(value) for value in listed[0].values())


async def test_api_key_list_lists_only_the_accounts_keys_by_id(
    db: Database, clock: FakeClock, account_id: str, other_account_id: str
):
    async with db.transaction() as conn:
        mine = [(await store.api_key_create(conn, account_id, n, clock.now()))[0] for n in "ab"]
        await store.api_key_create(conn, other_account_id, "theirs", clock.now())
        listed = await store.api_key_list(conn, account_id)
    assert [r["id"] for r in listed] == sorted(r["id"] for r in mine)


async def test_api_key_authenticate_returns_the_keys_account_and_scope(
    db: Database, clock: FakeClock, account_id: str, other_account_id: str
):
    async with db.transaction() as conn:
        mine, mine_plain = await store.api_key_create(conn, account_id, "k", clock.now())
        theirs, theirs_plain = await store.api_key_create(
            conn, other_account_id, "k", clock.now(), scope=KeyScope.WORKER
        )
    async with db.read() as conn:
        assert await store.api_key_authenticate(conn, mine_plain) == {
            "key_id": mine["id"],
            "account_id": account_id,
            "scope": "admin",
            "last_used_at": None,
            "key_name": "k",
            "key_prefix": mine_plain[:10],
            "account_name": "acme",
        }
        found = await store.api_key_authenticate(conn, theirs_plain)
        assert found is not None
        assert (found["key_id"], found["account_id"], found["scope"]) == (
            theirs["id"],
            other_account_id,
            "worker",
        )
        assert await store.api_key_authenticate(conn, mine_plain + "x") is None
        assert await store.api_key_authenticate(conn, mine_plain[:10]) is None


async def test_api_key_touch_records_when_the_key_was_last_used(
    db: Database, clock: FakeClock, account_id: str
):
    async with db.transaction() as conn:
        row, plaintext = await store.api_key_create(conn, account_id, "k", clock.now())
        await store.api_key_touch(conn, row["id"], clock.advance(seconds=90))
    async with db.read() as conn:
        holder = await store.api_key_authenticate(conn, plaintext)
        [listed] = await store.api_key_list(conn, account_id)
    assert holder is not None
    assert holder["last_used_at"] == listed["last_used_at"] == clock.now()


async def test_api_key_delete_deletes_only_the_accounts_own_key(
    db: Database, clock: FakeClock, account_id: str, other_account_id: str
):
    async with db.transaction() as conn:
        mine, mine_plain = await store.api_key_create(conn, account_id, "k", clock.now())
        theirs, theirs_plain = await store.api_key_create(conn, other_account_id, "k", clock.now())
    async with db.transaction() as conn:
        assert await store.api_key_delete(conn, account_id, theirs["id"]) is False
        assert await store.api_key_delete(conn, account_id, mine["id"]) is True
        assert await store.api_key_delete(conn, account_id, mine["id"]) is False
    async with db.read() as conn:
        assert await store.api_key_list(conn, account_id) == []
        assert await store.api_key_list(conn, other_account_id) == [theirs]
        assert await store.api_key_authenticate(conn, mine_plain) is None
        holder = await store.api_key_authenticate(conn, theirs_plain)
        assert holder is not None and holder["account_id"] == other_account_id


# --- signing secrets ----------------------------------------------------------------------------


async def test_signing_secret_rotate_keeps_one_previous_and_lists_current_first(
    db: Database, clock: FakeClock, account_id: str, other_account_id: str
):
    async with db.read() as conn:
        (original,) = await signing_secret_list(conn, account_id)
        (untouched,) = await signing_secret_list(conn, other_account_id)
    async with db.transaction() as conn:
        await signing_secret_rotate(conn, account_id, clock.advance(seconds=10))
        once = await signing_secret_list(conn, account_id)
        await signing_secret_rotate(conn, account_id, clock.advance(seconds=10))
        twice = await signing_secret_list(conn, account_id)
        assert await signing_secret_list(conn, other_account_id) == [untouched]
    assert [s["status"] for s in once] == ["current", "previous"]
    assert once[1] == {**original, "status": "previous"}
    assert once[0]["secret"] != original["secret"]
    assert [(s["status"], s["secret"]) for s in twice] == [
        ("current", twice[0]["secret"]),
        ("previous", once[0]["secret"]),
    ]
    assert twice[0]["secret"] not in (original["secret"], once[0]["secret"])
    assert twice[0]["created_at"] == clock.now()


async def test_signing_secrets_for_accounts_maps_each_account_to_its_secrets_current_first(
    db: Database, clock: FakeClock, account_id: str, other_account_id: str
):
    async with db.transaction() as conn:
        await signing_secret_rotate(conn, account_id, clock.now())
        mine = [s["secret"] for s in await signing_secret_list(conn, account_id)]
        theirs = [s["secret"] for s in await signing_secret_list(conn, other_account_id)]
        found = await signing_secrets_for_accounts(
            conn, [account_id, other_account_id, account_id, "acc_missing"]
        )
        only_theirs = await signing_secrets_for_accounts(conn, iter([other_account_id]))
        assert await signing_secrets_for_accounts(conn, []) == {}
    assert len(mine) == 2
    assert found == {account_id: mine, other_account_id: theirs}
    assert only_theirs == {other_account_id: theirs}


# --- the Database -------------------------------------------------------------------------------


async def test_database_transaction_rolls_back_everything_on_error(db: Database, clock: FakeClock):
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await store.account_create(conn, "doomed", clock.now())
            raise RuntimeError("boom")
    async with db.read() as conn:
        assert await store.account_get_by_name(conn, "doomed") is None
        assert await store.account_count(conn) == 0


async def test_database_ping_answers_true_on_a_live_database(db: Database):
    assert await db.ping() is True


def test_normalize_url_picks_the_async_drivers():
    assert normalize_url("sqlite:///./chronos.db") == "sqlite+aiosqlite:///./chronos.db"
    assert (
        normalize_url("postgres://u:p@db:5432/chronos")
        == "postgresql+asyncpg://u:p@db:5432/chronos"
    )
    with pytest.raises(ValueError):
        normalize_url("mysql://db/chronos")
