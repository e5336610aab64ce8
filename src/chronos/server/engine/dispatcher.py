"""The dispatcher: sends due push jobs as signed HTTP requests.

Each round claims up to as many ``queued`` push jobs as there are free delivery slots
(``CHRONOS_PUSH_CONCURRENCY``) and starts one task per request, so a slow endpoint holds one
slot, never the others. When a request ends, its outcome is recorded in one transaction with
the same retry rules as a worker's result. If the node dies mid-request, the execution's lease
(the job's timeout plus a margin) expires and the lease rescuer retries the job.

Slots are shared fairly between accounts. An account has at most
``CHRONOS_PUSH_ACCOUNT_CONCURRENCY`` requests in flight on a node (by default half of the
slots), so a slow endpoint of one account cannot take every slot. Each round lists the accounts
with queued jobs (``store/claims.py``) and deals the free slots among them one at a time,
round-robin, the account served longest ago first (then the one whose oldest job has waited
longest), each up to what it may still have in flight: one account's backlog never sits in front
of another account's job. The cap applies even to an account alone on the node; a single-tenant
deployment raises it to ``CHRONOS_PUSH_CONCURRENCY``.

A canceled job's request is aborted: at once when the cancel happens on this node, and within
a round (≤ 1 s) when it happens elsewhere.

On shutdown (:meth:`Dispatcher.drain`) it claims nothing more, lets the requests in flight
finish and be recorded until the grace period ends, then aborts the rest and releases their
jobs (``store/releases.py``): they are ``queued`` again at once, for any node, instead of
waiting for their leases.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from chronos.server import metrics, telemetry
from chronos.server.clock import Clock
from chronos.server.domain.jobs import Result, success_code_ranges
from chronos.server.domain.rows import ClaimedJob
from chronos.server.engine.http_client import PushClient, prepare
from chronos.server.engine.push import PushResult, build_request
from chronos.server.engine.service import Service
from chronos.server.ids import new_id
from chronos.server.notifier import Notifier
from chronos.server.services.executions import ExecutionService, Report
from chronos.server.store import claims
from chronos.server.store import jobs as job_store
from chronos.server.store import releases as release_store
from chronos.server.store import signing as signing_store
from chronos.server.store.db import Database

log = logging.getLogger("chronos.dispatcher")

# Lease beyond the job's timeout: the request is bounded by the timeout, so only a dead node
# (or a stalled database) lets the lease run out.
LEASE_MARGIN_SECONDS = 10.0
CLAIM_BATCH = 100
# Accounts with queued jobs looked at per round, those waiting longest. At most ``concurrency``
# of them can be at their cap on this node, so the list always holds accounts it can serve.
ACCOUNTS_PER_ROUND = 1000
CANCEL_CHECK_SECONDS = 1.0


@functools.lru_cache(maxsize=256)
def _success_codes(codes: tuple[str, ...]) -> list[tuple[int, int]]:
    """A target's success codes as ranges; parsed once per distinct list (with regular
    expressions, it showed in the profile). Callers only read the list."""
    return success_code_ranges(list(codes))


@dataclass
class Drained:
    """What a shutdown did with the requests in flight."""

    finished: int = 0  # finished within the grace period and recorded
    released: int = 0  # aborted at the end of it, their jobs queued again


@dataclass
class DispatchRound:
    started: int = 0
    aborted: int = 0
    free_slots: int = 0
    accounts: int = 0  # accounts that got requests started
    more: bool = False  # stopped at a batch limit, not for want of jobs or slots


def share_slots(wants: Sequence[tuple[str, int]], slots: int) -> dict[str, int]:
    """Deal ``slots`` one at a time, round-robin in the order given, to accounts that each want
    up to a number of them: every account gets one before any gets two. Accounts given nothing
    are left out."""
    wanted = dict(wants)
    granted: dict[str, int] = {}
    active = [account for account, want in wants if want > 0]
    while slots > 0 and active:
        for account in active[:slots]:
            granted[account] = granted.get(account, 0) + 1
        slots -= min(slots, len(active))
        active = [account for account in active if granted.get(account, 0) < wanted[account]]
    return granted


class Dispatcher(Service):
    name = "dispatcher"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        *,
        concurrency: int = 100,
        account_concurrency: int | None = None,
        block_private: bool = False,
        client: PushClient | None = None,
    ) -> None:
        super().__init__(clock, notifier.dispatch_wakeup)
        self.db = db
        self.notifier = notifier
        self.executions = ExecutionService(db, clock, notifier)
        self.concurrency = concurrency
        # Requests in flight per account; None: no cap below ``concurrency`` (the node's
        # settings give half of it, see ``Settings.push_account_concurrency``).
        self.account_concurrency = max(1, min(concurrency, account_concurrency or concurrency))
        self.node_id = f"dispatcher:{socket.gethostname()}:{new_id('node')[-8:]}"
        self.client = client or PushClient(block_private=block_private, max_connections=concurrency)
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        # The account of each job in flight, and how many each account has in flight.
        self._account_of: dict[str, str] = {}
        self.in_flight_by_account: Counter[str] = Counter()
        # The round in which each account waiting last got a request started (round-robin).
        self._served: dict[str, int] = {}
        self._rounds = 0
        # The execution of each job in flight (released if it has not finished at shutdown).
        self._executions: dict[str, str] = {}
        # Shutting down: claim nothing more (see ``drain``).
        self.draining = False
        self._claiming = asyncio.Lock()
        self._finished_draining = 0
        self.refill_at = max(1, min(CLAIM_BATCH, concurrency) // 4)
        # Likewise per account: an account near its cap waits until a few of its requests end.
        self.account_refill_at = max(1, min(CLAIM_BATCH, self.account_concurrency) // 4)
        self._cancel_checked_at = 0.0
        # Finished deliveries waiting to be recorded; recorded together, in one transaction.
        self._to_record: list[tuple[ClaimedJob, PushResult, int, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        notifier.on_job_canceled(self._abort)

    async def run_once(self) -> DispatchRound:
        outcome = DispatchRound()
        outcome.aborted = await self._abort_canceled_elsewhere()
        free = self.concurrency - len(self.in_flight)
        outcome.free_slots = free
        # Refill in batches, not one claim per finished request.
        if self.draining or free <= 0 or (self.in_flight and free < self.refill_at):
            return outcome
        async with self._claiming:
            if self.draining:
                return outcome
            slots = min(self.concurrency - len(self.in_flight), CLAIM_BATCH)
            # Read outside the claiming transaction: on SQLite that one holds the only writer
            # lock, and with no account to serve (the idle case) it is not opened at all. A
            # list that is stale by the claim only makes a claim return fewer jobs.
            async with self.db.read() as conn:
                waiting = await claims.job_queued_accounts(
                    conn, limit=ACCOUNTS_PER_ROUND, cap=self.account_concurrency
                )
            shares = share_slots(self._round_robin(waiting), slots)
            claimed: list[ClaimedJob] = []
            secrets: dict[str, list[str]] = {}
            if shares:
                now = self.clock.now()
                async with self.db.transaction() as conn:
                    for account_id, share in shares.items():  # one short statement each
                        claimed += await claims.job_claim_queued(
                            conn,
                            limit=share,
                            node_id=self.node_id,
                            now=now,
                            lease_margin=LEASE_MARGIN_SECONDS,
                            account_id=account_id,
                        )
                    secrets = await signing_store.signing_secrets_for_accounts(
                        conn, {job["account_id"] for job in claimed}
                    )
            self._rounds += 1
            for job in claimed:
                self._start(job, secrets.get(job["account_id"], []))
                self._served[job["account_id"]] = self._rounds
        outcome.started = len(claimed)
        outcome.accounts = len({job["account_id"] for job in claimed})
        # Stopped at a batch limit with slots still free (more of them than one batch holds,
        # or more accounts waiting than one round looks at): go again at once.
        outcome.more = (
            bool(claimed)
            and len(self.in_flight) < self.concurrency
            and (len(claimed) == slots or len(waiting) == ACCOUNTS_PER_ROUND)
        )
        return outcome

    def _round_robin(self, waiting: list[claims.QueuedAccount]) -> list[tuple[str, int]]:
        """The accounts waiting, in the order slots are dealt to them, each with how many
        requests it may start now: the one served longest ago first (never served counts as
        longest), then the one whose oldest job has waited longest.

        An account takes no more than it has queued, nor than its cap allows; an account with
        requests in flight waits until ``account_refill_at`` of its slots are free, so that a
        busy account is claimed for in batches, not once per finished request.
        """
        served = {a.account_id: self._served.get(a.account_id, 0) for a in waiting}
        self._served = {account: at for account, at in served.items() if at}  # forget the rest
        wants = []
        for account in sorted(waiting, key=lambda a: served[a.account_id]):  # stable: then age
            busy = self.in_flight_by_account[account.account_id]
            allowance = self.account_concurrency - busy
            if busy and allowance < self.account_refill_at:
                continue
            wants.append((account.account_id, min(allowance, account.queued)))
        return wants

    def _start(self, job: ClaimedJob, secrets: list[str]) -> None:
        task = asyncio.create_task(self._deliver(job, secrets), name=f"chronos:push:{job['id']}")
        self.in_flight[job["id"]] = task
        self._executions[job["id"]] = job["execution_id"]
        self._account_of[job["id"]] = job["account_id"]
        self.in_flight_by_account[job["account_id"]] += 1
        task.add_done_callback(functools.partial(self._done, job["id"]))

    def has_more(self, result: DispatchRound) -> bool:
        return result.more

    async def wait_idle(self) -> None:
        """Wait until every request started so far has been sent and recorded (for tests)."""
        while self.in_flight:
            await asyncio.gather(*list(self.in_flight.values()), return_exceptions=True)

    async def drain(self, grace_seconds: float) -> Drained:
        """Shut down delivery: claim nothing more, give the requests in flight up to
        ``grace_seconds`` to finish (their results are recorded), then abort the others and
        release their jobs so that any node can send them again at once."""
        self.draining = True
        async with self._claiming:  # a claim under way has started its requests
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self.in_flight and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(
                list(self.in_flight.values()),
                timeout=remaining,
                return_when=asyncio.FIRST_COMPLETED,
            )
        unfinished = list(self._executions.values())
        for task in list(self.in_flight.values()):
            task.cancel()
        await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
        if self._recorder is not None:  # results that arrived as the grace period ended
            await asyncio.gather(self._recorder, return_exceptions=True)
        return Drained(self._finished_draining, await self._release(unfinished))

    async def _release(self, execution_ids: list[str]) -> int:
        if not execution_ids:
            return 0
        try:
            async with self.db.transaction() as conn:
                moved = await release_store.job_release_running(
                    conn, execution_ids, self.clock.now()
                )
        except Exception as exc:
            log.warning(
                "could not release %d unfinished push job(s) (%s); they will be retried when "
                "their leases expire",
                len(execution_ids),
                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
            )
            return 0
        self.notifier.jobs_released(moved)
        return len(moved)

    async def close(self) -> None:
        for task in list(self.in_flight.values()):
            task.cancel()
        await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
        await self.client.aclose()

    def _done(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self.in_flight.pop(job_id, None)
        self._executions.pop(job_id, None)
        busy = 0
        if (account_id := self._account_of.pop(job_id, None)) is not None:
            self.in_flight_by_account[account_id] -= 1
            if (busy := self.in_flight_by_account[account_id]) <= 0:
                del self.in_flight_by_account[account_id]
        # Wake up when a round could start something: the node's free slots just reached the
        # refill mark (accounts may be waiting for slots), or there are enough of them and this
        # account has room for a batch (it may have more queued). Not on every finished
        # request: an account at its cap would then cost a round of queries per request.
        free = self.concurrency - len(self.in_flight)
        room = self.account_concurrency - busy
        if free == self.refill_at or (free > self.refill_at and room >= self.account_refill_at):
            self.wakeup.set()

    def _abort(self, job_id: str) -> None:
        task = self.in_flight.get(job_id)
        if task is not None:
            task.cancel()

    async def _abort_canceled_elsewhere(self) -> int:
        """Abort requests of jobs canceled on other nodes (checked at most once a second)."""
        loop_time = asyncio.get_running_loop().time()
        if not self.in_flight or loop_time - self._cancel_checked_at < CANCEL_CHECK_SECONDS:
            return 0
        self._cancel_checked_at = loop_time
        async with self.db.read() as conn:
            canceled = await job_store.job_canceled_among(conn, list(self.in_flight))
        for job_id in canceled:
            self._abort(job_id)
        return len(canceled)

    async def _deliver(self, job: ClaimedJob, secrets: list[str]) -> None:
        """Send one job and record the outcome.

        Cancellation (a canceled job, whose execution is already marked canceled, or a node
        shutting down, which releases the job) aborts the request and records nothing.
        """
        http = job["delivery"].get("http")
        assert http is not None, "a queued job is a push job"
        now = self.clock.now()
        timeout, codes = job["timeout_seconds"], _success_codes(tuple(http["success_codes"]))
        if telemetry.ENABLED:  # a span; the request (an httpx.Request) carries its traceparent
            traced = build_request(job, http, secrets, now)
            sending = self.client.send(
                traced, timeout_seconds=timeout, success_codes=codes, now=now
            )
            result, duration_ms = await telemetry.push(job, traced, sending)
        else:
            result, duration_ms = await self.client.send(
                prepare(job, http, secrets, now),
                timeout_seconds=timeout,
                success_codes=codes,
                now=now,
            )
        metrics.PUSH_REQUESTS.labels(
            str(result.http_status) if result.http_status else (result.error or {}).get("type")
        ).inc()
        metrics.PUSH_DURATION.observe(duration_ms / 1000)
        await self._record(job, result, duration_ms)
        if self.draining:
            self._finished_draining += 1

    async def _record(self, job: ClaimedJob, result: PushResult, duration_ms: int) -> None:
        """Queue the outcome for the recorder and wait until it is committed.

        Deliveries that finish together are recorded in one transaction: commits, not HTTP,
        are the cost at high rates.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_record.append((job, result, duration_ms, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_pending())
        await asyncio.shield(done)

    async def _record_pending(self) -> None:
        while self._to_record:
            await asyncio.sleep(0)  # let deliveries finishing in this tick join the batch
            batch, self._to_record = self._to_record, []
            try:
                await self._record_batch([(j, r, d) for j, r, d, _ in batch])
            except Exception:
                # The lease rescuer will retry these jobs: a lost record is never a lost job.
                log.exception("could not record %d push result(s)", len(batch))
            for *_, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _record_batch(self, batch: list[tuple[ClaimedJob, PushResult, int]]) -> None:
        """Record outcomes through the one result pipeline. A job canceled or timed out
        meanwhile keeps what it has (its report is refused, and that is not an error here)."""
        await self.executions.finish(
            None,
            [
                Report(
                    job["execution_id"],
                    Result(
                        status=result.status,
                        error=result.error,
                        retryable=result.retryable,
                        http_status=result.http_status,
                        response_excerpt=result.response_excerpt,
                        duration_ms=duration_ms,
                        retry_after=result.retry_after,
                    ),
                )
                for job, result, duration_ms in batch
            ],
        )
