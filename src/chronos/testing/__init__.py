"""Test helpers for code that uses Chronos (as ``Oban.Testing`` and River's ``rivertest`` do).

Run a handler in-process with the context a worker would give it — no server needed::

    from chronos.testing import perform

    def test_sync_tenant():
        assert perform(sync_tenant, {"tenants": ["a", "b"]}) == {"synced": 2}
        assert perform(sync_tenant) == {"synced": 0}          # no payload: ctx.payload == {}
        with pytest.raises(NonRetryable):
            perform(charge_invoice, {})

Test against a real Chronos in the test process (``pip install 'chronos-scheduler[server]'``):
the ``chronos_server`` fixture starts an embedded server on a temporary SQLite file, with a
clock that moves only when the test says so::

    from chronos.testing import chronos_server  # noqa: F401  (the pytest fixture)

    def test_hourly_report(chronos_server):
        chronos_server.client.schedules.create(name="r", handler="report", interval="1h")
        chronos_server.refute_enqueued(handler="report")
        chronos_server.advance(hours=1)                  # moves the clock and runs a round
        chronos_server.assert_enqueued(handler="report", schedule="r")
        assert chronos_server.drain({"report": report}).completed == 1

``perform(handler, payload=None, *, attempt=1, job=None, cancel_requested=False)`` returns the
handler's output or raises its exception; ``aperform`` is the same for async tests. See
:class:`chronos.testing.embedded.ChronosTestServer` for the server's helpers, and
``docs/testing.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chronos.worker import JobContext

if TYPE_CHECKING:
    from chronos.testing.embedded import ChronosTestServer, DrainResult, TickResult

__all__ = [
    "ChronosTestServer",
    "DrainResult",
    "TickResult",
    "aperform",
    "chronos_server",
    "make_context",
    "perform",
]


def make_context(
    payload: Any = None,
    *,
    attempt: int = 1,
    job: dict[str, Any] | None = None,
    handler: str = "test",
    cancel_requested: bool = False,
) -> JobContext:
    """The :class:`chronos.worker.JobContext` a worker would pass for a job carrying
    ``payload`` (``None`` becomes ``{}``, as in the worker). ``job`` overrides any field of
    the claimed job (``id``, ``name``, ``scheduled_for``, ``tags``, ``max_retries``…)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    claimed: dict[str, Any] = {
        "id": "job_test_" + secrets.token_hex(6),
        "execution_id": "exe_test_" + secrets.token_hex(6),
        "attempt": attempt,
        "payload": payload,
        "handler": handler,
        "name": None,
        "schedule_id": None,
        "scheduled_for": None,
        "tags": {},
        "max_retries": 3,
        "timeout": 30,
    }
    claimed.update(job or {})
    ctx = JobContext(claimed)
    if cancel_requested:
        ctx._canceled.set()
    return ctx


def perform(
    handler: Callable[[JobContext], Any],
    payload: Any = None,
    *,
    attempt: int = 1,
    job: dict[str, Any] | None = None,
    cancel_requested: bool = False,
    check_json: bool = True,
) -> Any:
    """Run ``handler`` (sync or async) once, in-process, on a job carrying ``payload``, and
    return its output; its exception propagates (``NonRetryable`` included). ``check_json``:
    an output the worker could not report as JSON raises ``TypeError`` (the worker would send
    its ``repr()``)."""
    ctx = _context(handler, payload, attempt, job, cancel_requested)
    output = handler(ctx)
    if inspect.isawaitable(output):
        output = run_awaitable(output)
    return _checked(output, check_json)


async def aperform(
    handler: Callable[[JobContext], Any],
    payload: Any = None,
    *,
    attempt: int = 1,
    job: dict[str, Any] | None = None,
    cancel_requested: bool = False,
    check_json: bool = True,
) -> Any:
    """:func:`perform` for async tests: an async handler runs on the test's event loop, a sync
    one in a thread (as in the worker)."""
    ctx = _context(handler, payload, attempt, job, cancel_requested)
    if inspect.iscoroutinefunction(handler):
        output = await handler(ctx)
    else:
        output = await asyncio.to_thread(handler, ctx)
        if inspect.isawaitable(output):
            output = await output
    return _checked(output, check_json)


def run_awaitable(awaitable: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop (then
    on a fresh loop in a helper thread)."""

    async def wrapper() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chronos-test") as pool:
        return pool.submit(asyncio.run, wrapper()).result()


def _context(
    handler: Callable[..., Any],
    payload: Any,
    attempt: int,
    job: dict[str, Any] | None,
    cancel_requested: bool,
) -> JobContext:
    name = str((job or {}).get("handler") or getattr(handler, "__name__", "test"))
    return make_context(
        payload, attempt=attempt, job=job, handler=name, cancel_requested=cancel_requested
    )


def _checked(output: Any, check_json: bool) -> Any:
    if check_json:
        try:
            json.dumps(output)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the handler returned {type(output).__name__}, which is not JSON: the worker "
                f"would report its repr() as the output ({exc})"
            ) from exc
    return output


def __getattr__(name: str) -> Any:
    # The embedded server needs the server dependencies: import it only when asked for.
    if name in ("ChronosTestServer", "DrainResult", "TickResult"):
        from chronos.testing import embedded

        return getattr(embedded, name)
    if name == "chronos_server":
        from chronos.testing.pytest_plugin import chronos_server

        return chronos_server
    raise AttributeError(f"module 'chronos.testing' has no attribute {name!r}")
