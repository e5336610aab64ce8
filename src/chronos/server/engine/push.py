"""One push delivery: build the signed request, send it, and judge the response.

Outcome rules: a success code → completed; any other 4xx except 408 and 429 → terminal
failure; 5xx, 408, 429 (honouring ``Retry-After``), 3xx (redirects are not followed),
timeouts and connection errors → retried with the job's backoff; a refused target → terminal.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from chronos.server.domain.rows import ClaimedJob, HttpTarget
from chronos.server.domain.states import ExecutionStatus
from chronos.server.domain.timing import iso
from chronos.server.engine.targets import ResolveFailed, TargetRefused
from chronos.webhooks import SIGNATURE_HEADER, signature_header

EXCERPT_BYTES = 4096
MAX_RETRY_AFTER_SECONDS = 86_400.0


@dataclass(frozen=True)
class PushResult:
    status: ExecutionStatus
    retryable: bool
    error: dict[str, Any] | None = None
    http_status: int | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None


def build_request(
    job: ClaimedJob, http: HttpTarget, secrets: list[str], now: datetime
) -> httpx.Request:
    """The signed request for one execution of ``job`` to its target ``http``."""
    method = http["method"]
    headers = {**http["headers"]}
    if http["body"] is not None:
        body = http["body"].encode()
        headers.setdefault("Content-Type", "application/json")
    elif method in ("GET", "DELETE"):
        body = b""
    else:
        body = json.dumps(
            {
                "job_id": job["id"],
                "execution_id": job["execution_id"],
                "attempt": job["attempt"],
                "handler": job["handler"],
                "name": job["name"],
                "payload": job["payload"],
                "schedule_id": job["schedule_id"],
                "scheduled_for": iso(job["scheduled_for"]),
            },
            separators=(",", ":"),
        ).encode()
        headers.setdefault("Content-Type", "application/json")
    headers.update(
        {
            SIGNATURE_HEADER: signature_header(secrets, int(now.timestamp()), body),
            "X-Chronos-Job-Id": job["id"],
            "X-Chronos-Execution-Id": job["execution_id"],
            "X-Chronos-Attempt": str(job["attempt"]),
            "User-Agent": "Chronos-Push/1",
        }
    )
    return httpx.Request(method, http["url"], headers=headers, content=body)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_SECONDS)


def judge(
    status_code: int,
    success_codes: list[tuple[int, int]],
    excerpt: str,
    retry_after: str | None,
    now: datetime,
) -> PushResult:
    if any(low <= status_code <= high for low, high in success_codes):
        return PushResult(ExecutionStatus.COMPLETED, False, None, status_code, excerpt)
    retryable = status_code >= 500 or status_code in (408, 429) or 300 <= status_code < 400
    kind = "redirect" if 300 <= status_code < 400 else "http_status"
    message = f"the endpoint answered {status_code}"
    if kind == "redirect":
        message += " (redirects are not followed)"
    return PushResult(
        ExecutionStatus.FAILED,
        retryable,
        {"type": kind, "message": message},
        status_code,
        excerpt,
        parse_retry_after(retry_after, now) if status_code in (429, 503) else None,
    )


def _target(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def describe_error(exc: BaseException, url: str, timeout: float) -> PushResult:
    target = _target(url)
    if isinstance(exc, TargetRefused):
        return PushResult(
            ExecutionStatus.FAILED, False, {"type": "target_refused", "message": str(exc)}
        )
    if isinstance(exc, ResolveFailed):
        return PushResult(ExecutionStatus.FAILED, True, {"type": "dns", "message": str(exc)})
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        seconds = f"{timeout:g}"
        return PushResult(
            ExecutionStatus.TIMEOUT,
            True,
            {"type": "timeout", "message": f"timed out after {seconds}s"},
        )
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return PushResult(
                ExecutionStatus.FAILED,
                True,
                {"type": "tls", "message": f"TLS error with {target}: {cause}"},
            )
        if isinstance(cause, ConnectionRefusedError):
            break
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if (
            "refused" in text.lower()
            or "all connection attempts failed" in text.lower()
            or isinstance(cause, ConnectionRefusedError)
        ):
            message = f"connection refused to {target}"
        elif "ssl" in text.lower() or "certificate" in text.lower():
            return PushResult(
                ExecutionStatus.FAILED,
                True,
                {"type": "tls", "message": f"TLS error with {target}: {text}"},
            )
        else:
            message = f"could not connect to {target}: {text or type(exc).__name__}"
        return PushResult(ExecutionStatus.FAILED, True, {"type": "connection", "message": message})
    if isinstance(exc, httpx.HTTPError):
        return PushResult(
            ExecutionStatus.FAILED,
            True,
            {
                "type": "connection",
                "message": f"request to {target} failed: {exc or type(exc).__name__}",
            },
        )
    return PushResult(
        ExecutionStatus.FAILED, True, {"type": "error", "message": f"{type(exc).__name__}: {exc}"}
    )


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    timeout_seconds: float,
    success_codes: list[tuple[int, int]],
    now: datetime,
) -> tuple[PushResult, int]:
    """Send ``request``; the job's ``timeout`` bounds the whole exchange. Returns the result
    and the duration in milliseconds."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            response = await client.send(request, stream=True)
            try:
                excerpt = await _read_excerpt(response)
            finally:
                await response.aclose()
        result = judge(
            response.status_code, success_codes, excerpt, response.headers.get("retry-after"), now
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every failure becomes a recorded, classified outcome
        result = describe_error(exc, str(request.url), timeout_seconds)
    return result, int((time.perf_counter() - started) * 1000)


async def _read_excerpt(response: httpx.Response) -> str:
    collected = bytearray()
    async for chunk in response.aiter_bytes():
        collected.extend(chunk)
        if len(collected) >= EXCERPT_BYTES:
            break
    return bytes(collected[:EXCERPT_BYTES]).decode("utf-8", errors="replace")
