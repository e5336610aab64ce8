"""One push delivery: build the signed request and judge the response (``http_client`` sends
it).

Outcome rules: a success code → completed; any other 4xx except 408 and 429 → terminal
failure; 5xx, 408, 429 (honouring ``Retry-After``), 3xx (redirects are not followed),
timeouts and connection errors → retried with the job's backoff; a refused target → terminal;
a request that cannot be built or sent at all (see :func:`check_push_target`) → terminal.

:func:`make_request` is the one place a push request is made. Creation-time validation
(:func:`check_push_target`) and delivery (:func:`build_request`) both go through it, so a target
the API accepts is one the sender can send, and a delivery never dies of an exception: whatever
goes wrong becomes a :class:`PushResult`.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h11
import httpx

from chronos.server.domain.rows import ClaimedJob, HttpTarget
from chronos.server.domain.states import ExecutionStatus
from chronos.server.domain.timing import iso
from chronos.webhooks import SIGNATURE_HEADER, signature_header

EXCERPT_BYTES = 4096
MAX_RETRY_AFTER_SECONDS = 86_400.0
MAX_HEADER_VALUE_BYTES = 4096
MAX_HEADERS_BYTES = 16 * 1024  # a target's own headers, names and values together

# RFC 9110 field-value, restricted to ASCII: visible characters, with spaces and tabs only
# between them (a leading or trailing one is not part of the value; h11 refuses it).
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x21-\x7e \t]*[\x21-\x7e])?)?")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name


@dataclass(frozen=True)
class PushResult:
    status: ExecutionStatus
    retryable: bool
    error: dict[str, Any] | None = None
    http_status: int | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None


class InvalidTarget(ValueError):
    """No request can be made from this push target. ``field`` is ``url`` or ``headers``."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _check_url(url: str) -> httpx.URL:
    """``url`` parsed as httpx sends it; refused if httpx cannot parse it, or if no connection
    can use its host or port."""
    try:
        parsed = httpx.URL(url)
        # .host decodes an international name; both raise on malformed ones.
        scheme, host, port = parsed.scheme, parsed.host, parsed.port
        raw_host = parsed.raw_host.decode("ascii")
    except Exception as exc:  # InvalidURL, and IDNA errors for malformed international names
        raise InvalidTarget(f"push url is not a valid URL: {exc}", field="url") from exc
    if scheme not in ("http", "https") or not host:
        raise InvalidTarget(f"push url must be an absolute http(s) URL, got {url!r}", field="url")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidTarget(f"push url port must be 1-65535, got {port}", field="url")
    try:
        ipaddress.ip_address(raw_host)
        return parsed
    except ValueError:
        pass
    name = raw_host[:-1] if raw_host.endswith(".") else raw_host
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidTarget(
            f"push url host {host!r} is not a valid host name or IP address", field="url"
        )
    return parsed


def _check_headers(headers: Mapping[str, str]) -> None:
    total = 0
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise InvalidTarget(f"invalid header name {name!r}", field="headers")
        if "\r" in value or "\n" in value:
            raise InvalidTarget("header values must not contain line breaks", field="headers")
        size = len(value.encode())
        if size > MAX_HEADER_VALUE_BYTES:
            raise InvalidTarget(
                f"header {name!r} is {size} bytes long; a value may have at most "
                f"{MAX_HEADER_VALUE_BYTES} bytes",
                field="headers",
            )
        if not _FIELD_VALUE.fullmatch(value):
            raise InvalidTarget(
                f"header {name!r}: a value may only hold visible ASCII characters, with spaces "
                "and tabs between them",
                field="headers",
            )
        total += len(name.encode()) + size
    if total > MAX_HEADERS_BYTES:
        raise InvalidTarget(
            f"headers are {total} bytes long (names and values); the limit is "
            f"{MAX_HEADERS_BYTES} bytes",
            field="headers",
        )


def make_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    content: bytes,
    chronos_headers: Mapping[str, str],
) -> httpx.Request:
    """The push request: ``headers`` are the target's own, ``chronos_headers`` are added last.

    Raises :class:`InvalidTarget` if the URL or the headers break the rules above, or if httpx
    refuses them.
    """
    parsed = _check_url(url)
    _check_headers(headers)
    try:
        return httpx.Request(
            method, parsed, headers={**headers, **chronos_headers}, content=content
        )
    except Exception as exc:
        raise InvalidTarget(f"invalid push request: {exc}", field="headers") from exc


def _chronos_headers(
    job_id: str, execution_id: str, attempt: int, signature: str
) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: signature,
        "X-Chronos-Job-Id": job_id,
        "X-Chronos-Execution-Id": execution_id,
        "X-Chronos-Attempt": str(attempt),
        "User-Agent": "Chronos-Push/1",
    }


def check_push_target(method: str, url: str, headers: Mapping[str, str]) -> None:
    """Raise :class:`InvalidTarget` unless the dispatcher can make, and send, a request for
    this target: the request is made as :func:`build_request` makes it, then checked as
    httpcore checks it before sending (h11 validates the request target and every header)."""
    request = make_request(
        method,
        url,
        {"Content-Type": "application/json", **headers},
        b"",
        _chronos_headers("job_x", "exe_x", 1, "t=0,v1=" + "0" * 64),
    )
    try:
        h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
    except h11.LocalProtocolError as exc:
        raise InvalidTarget(f"invalid push request: {exc}", field="headers") from exc


def cannot_send(exc: BaseException) -> PushResult:
    """The terminal outcome of a request that cannot be built or sent: the same request would
    fail the same way again."""
    reason = str(exc) if isinstance(exc, InvalidTarget) else f"{type(exc).__name__}: {exc}"
    return PushResult(
        ExecutionStatus.FAILED,
        False,
        {"type": "invalid_request", "message": f"the push request cannot be sent: {reason}"},
    )


def build_request(
    job: ClaimedJob, http: HttpTarget, secrets: list[str], now: datetime
) -> httpx.Request | PushResult:
    """The signed request for one execution of ``job`` to its target ``http``; or, when none
    can be made (a target stored before today's rules), its failed result. Never raises:
    ``http_client.PushClient.send`` passes such a result through."""
    try:
        return _build_request(job, http, secrets, now)
    except Exception as exc:
        return cannot_send(exc)


def _build_request(
    job: ClaimedJob, http: HttpTarget, secrets: list[str], now: datetime
) -> httpx.Request:
    method, headers, body, chronos_headers = signed_parts(job, http, secrets, now)
    return make_request(method, http["url"], headers, body, chronos_headers)


def signed_parts(
    job: ClaimedJob, http: HttpTarget, secrets: list[str], now: datetime
) -> tuple[str, dict[str, str], bytes, dict[str, str]]:
    """The method, the target's own headers (with a default ``Content-Type``), the body and
    Chronos' headers (the signature among them, added last) of the signed request for one
    execution of ``job``: what every sender sends. Nothing is checked here (see
    :func:`make_request`)."""
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
    signature = signature_header(secrets, int(now.timestamp()), body)
    chronos = _chronos_headers(job["id"], job["execution_id"], job["attempt"], signature)
    return method, headers, body, chronos


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
