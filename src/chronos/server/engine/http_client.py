"""Chronos' outbound HTTP client: push requests and alert notifications, sent with aiohttp.

Why not httpx, which the SDK and the CLI use: at push rates, httpx and httpcore cost about half
of a node's CPU per request (building the request, the pool's bookkeeping, anyio streams,
reading the response); aiohttp's client does the same exchange for a fraction of that. What a
push request is, and which targets are valid, stays defined in ``push.py`` (the httpx URL
parser included, so the API and the sender read a URL alike): this module only sends, by the
address rules of ``targets.py``:

- every address a request may reach is checked where the connection is made: a host name by
  :class:`GuardedResolver` on the addresses DNS returned for that connection (aiohttp caches
  them for a few seconds: only checked addresses are cached), an address written in the URL
  (any form the system resolver reads as one, ``2852039166`` included) by :func:`target_for`
  before sending, since aiohttp does not resolve those;
- no redirects are followed, no proxy or ``.netrc`` is taken from the environment, no cookie
  is kept between requests (one tenant's endpoint cannot set a cookie another's request sends);
- TLS is verified with httpx's CA bundle (the same ``ssl.SSLContext``);
- the timeout bounds the whole exchange; connections are kept alive and reused;
- credentials in the URL are sent as HTTP Basic authorization;
- every failure becomes a classified :class:`PushResult` (:func:`describe_error`:
  ``connection refused to host:port``, ``timed out after 1s``, ...).

A tracing span needs an :class:`httpx.Request` to carry its ``traceparent`` (``telemetry.push``),
and alert notifications are built as one (``push.make_request``): :meth:`PushClient.send`
accepts one and sends it as it stands.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from chronos.server.domain.rows import ClaimedJob, HttpTarget
from chronos.server.domain.states import ExecutionStatus
from chronos.server.engine.push import (
    EXCERPT_BYTES,
    InvalidTarget,
    PushResult,
    _check_headers,
    _check_url,
    cannot_send,
    judge,
    signed_parts,
)
from chronos.server.engine.targets import (
    IPAddress,
    ResolveFailed,
    TargetRefused,
    literal_address,
    refusal_reason,
)

# Response heads: up to 16 KiB (as h11 accepts); aiohttp's default is 8 KiB a line.
MAX_RESPONSE_LINE_BYTES = 16 * 1024
KEEPALIVE_SECONDS = 30.0
# Parsed targets kept (most pushes go to a few URLs); the cache is emptied when full.
TARGET_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Target:
    """A push URL, checked and parsed once: where to connect and what to say there."""

    url: yarl.URL  # what aiohttp is given (no credentials, no fragment)
    host: str  # the URL's host as httpx reads it (an international name decoded)
    address: str  # ``host:port``, for messages
    literal: IPAddress | None  # the address the host names without DNS, if it does
    host_header: str | None  # set when ``url`` names ``literal`` instead of the host written
    authorization: str | None  # HTTP Basic, from credentials in the URL
    refused: str | None  # why ``literal`` may never be called
    refused_strict: str | None  # ... or not with CHRONOS_PUSH_BLOCK_PRIVATE

    def refusal(self, *, block_private: bool) -> str | None:
        return self.refused_strict if block_private else self.refused


_targets: dict[str, Target] = {}


def target_for(url: str) -> Target:
    """``url`` checked as ``push.py`` checks it (raises :class:`InvalidTarget`), parsed for
    aiohttp. Cached: parsing with httpx's URL parser is a good part of a request's cost."""
    target = _targets.get(url)
    if target is None:
        target = _parse_target(url)
        if len(_targets) >= TARGET_CACHE_SIZE:
            _targets.clear()
        _targets[url] = target
    return target


def _parse_target(url: str) -> Target:
    parsed = _check_url(url)
    raw_host = parsed.raw_host.decode("ascii")
    netloc = parsed.netloc.decode("ascii")
    literal = literal_address(raw_host)
    host_header = None
    connect_netloc = netloc
    if literal is not None and str(literal) != raw_host.strip("[]"):
        # A form aiohttp would refuse or not see as an address (``2852039166``, ``127.1``,
        # ``127.0.0.1.``): connect to the address it names, as the system resolver (httpx's
        # path) would, and keep the Host header the URL gives.
        host_header = netloc
        shown = f"[{literal}]" if literal.version == 6 else str(literal)
        connect_netloc = shown if parsed.port is None else f"{shown}:{parsed.port}"
    authorization = None
    if parsed.username or parsed.password:
        userpass = f"{parsed.username}:{parsed.password}".encode()
        authorization = "Basic " + base64.b64encode(userpass).decode()
    try:
        host = parsed.host
    except Exception:  # a malformed international name
        host = raw_host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    refused = refused_strict = None
    if literal is not None:
        reason = refusal_reason(literal, block_private=False)
        strict = refusal_reason(literal, block_private=True)
        refused = reason and f"refused to call {raw_host} ({literal}): {reason}"
        refused_strict = strict and f"refused to call {raw_host} ({literal}): {strict}"
    raw_path = parsed.raw_path.decode("ascii")
    return Target(
        url=yarl.URL(f"{parsed.scheme}://{connect_netloc}{raw_path}", encoded=True),
        host=host,
        address=f"{host}:{port}",
        literal=literal,
        host_header=host_header,
        authorization=authorization,
        refused=refused,
        refused_strict=refused_strict,
    )


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A signed push request, ready for :meth:`PushClient.send`."""

    method: str
    target: Target
    headers: Any  # a dict, or a list of (name, value) pairs in the order to send them
    body: bytes


def prepare(
    job: ClaimedJob, http: HttpTarget, secrets: list[str], now: datetime
) -> PreparedRequest | PushResult:
    """The signed request for one execution of ``job``: what ``push.build_request`` builds,
    checked by the same rules, without an :class:`httpx.Request`. Or, when none can be made (a
    target stored before today's rules), its failed result. Never raises."""
    try:
        method, own, body, chronos = signed_parts(job, http, secrets, now)
        target = target_for(http["url"])
        _check_headers(own)
        headers = {**own, **chronos}
        return PreparedRequest(method, target, _with_target_headers(headers, target), body)
    except Exception as exc:
        return cannot_send(exc)


def _with_target_headers(headers: dict[str, str], target: Target) -> dict[str, str]:
    """Add what httpx adds for this URL: Basic authorization from its credentials (replacing
    any), and its Host when the URL's host was rewritten (unless the target gives one)."""
    if target.authorization is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = target.authorization
    if target.host_header is not None and not any(k.lower() == "host" for k in headers):
        headers["Host"] = target.host_header
    return headers


def _from_httpx(request: httpx.Request) -> PreparedRequest:
    """An :class:`httpx.Request` (as ``push.build_request`` makes it, a span's ``traceparent``
    added) as aiohttp sends it: the headers httpx put in it (Host, Content-Length) included."""
    target = target_for(str(request.url))
    headers: list[tuple[str, str]] = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
    ]
    if target.authorization is not None:
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        headers.append(("Authorization", target.authorization))
    return PreparedRequest(request.method, target, headers, request.content)


class GuardedResolver(AbstractResolver):
    """Resolves a host name, refusing it if any address DNS returns is one Chronos will not
    call (``targets.refusal_reason``): the connection is then made to a checked address."""

    def __init__(self, *, block_private: bool) -> None:
        self.block_private = block_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except socket.gaierror as exc:
            raise ResolveFailed(f"could not resolve host {host}") from exc
        results: list[ResolveResult] = []
        seen: set[str] = set()
        for info_family, _type, proto, _name, sockaddr in infos:
            text = str(sockaddr[0])
            address = ipaddress.ip_address(text.split("%")[0])
            reason = refusal_reason(address, block_private=self.block_private)
            if reason is not None:
                raise TargetRefused(f"refused to call {host} ({address}): {reason}")
            if text in seen:
                continue
            seen.add(text)
            results.append(
                {
                    "hostname": host,
                    "host": text,
                    "port": int(sockaddr[1]),
                    "family": info_family,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
            )
        if not results:
            raise ResolveFailed(f"could not resolve host {host}")
        return results

    async def close(self) -> None:
        pass


class PushClient:
    """One connection pool for a node's outbound requests — push deliveries, or alert
    notifications (each service has its own) — opened at the first request, in the running
    event loop."""

    def __init__(
        self,
        *,
        block_private: bool,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.block_private = block_private
        self.max_connections = max_connections
        self.ssl_context = ssl_context or httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=0,
            resolver=GuardedResolver(block_private=self.block_private),
            ssl=self.ssl_context,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # The job's timeout bounds the whole exchange (``send``); aiohttp's own are off.
            timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_read=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=True,
            max_line_size=MAX_RESPONSE_LINE_BYTES,
            max_field_size=MAX_RESPONSE_LINE_BYTES,
        )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        request: PreparedRequest | httpx.Request | PushResult,
        *,
        timeout_seconds: float,
        success_codes: list[tuple[int, int]],
        now: datetime,
    ) -> tuple[PushResult, int]:
        """Send ``request``; the job's ``timeout`` bounds the whole exchange. Returns the result
        and the duration in milliseconds. Never raises but for cancellation; a result (no
        request could be made) is returned as it is."""
        if isinstance(request, PushResult):
            return request, 0
        started = time.perf_counter()
        address = "?"
        try:
            if isinstance(request, httpx.Request):
                request = _from_httpx(request)
            address = request.target.address
            async with asyncio.timeout(timeout_seconds):
                result = await self._exchange(request, success_codes, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes a recorded, classified outcome
            try:
                result = describe_error(exc, address, timeout_seconds)
            except Exception:
                result = cannot_send(exc)
        return result, int((time.perf_counter() - started) * 1000)

    async def _exchange(
        self, request: PreparedRequest, success_codes: list[tuple[int, int]], now: datetime
    ) -> PushResult:
        target = request.target
        if target.literal is not None:
            refused = target.refusal(block_private=self.block_private)
            if refused is not None:
                raise TargetRefused(refused)
        session = self._session or self._open()
        async with session.request(
            request.method,
            target.url,
            headers=request.headers,
            data=request.body or None,
            allow_redirects=False,
            server_hostname=target.host if target.host_header is not None else None,
        ) as response:
            excerpt = await _read_excerpt(response)
            return judge(
                response.status,
                success_codes,
                excerpt,
                response.headers.get("Retry-After"),
                now,
            )


async def _read_excerpt(response: aiohttp.ClientResponse) -> str:
    collected = bytearray()
    while len(collected) < EXCERPT_BYTES:
        chunk = await response.content.read(EXCERPT_BYTES - len(collected))
        if not chunk:
            break
        collected += chunk
    return bytes(collected).decode("utf-8", errors="replace")


def _ssl_error(exc: BaseException) -> BaseException | None:
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 20:
        if isinstance(cause, aiohttp.ClientConnectorError):
            cause = cause.os_error  # aiohttp's own TLS errors are ssl.SSLErrors too: unwrap them
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return cause
        if isinstance(cause, ConnectionRefusedError):
            return None
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def describe_error(exc: BaseException, address: str, timeout: float) -> PushResult:
    """A failed exchange as a recorded outcome: which kind of failure, whether a retry may
    help, and a message naming the target's ``host:port``."""
    if isinstance(exc, InvalidTarget | aiohttp.InvalidURL):
        return cannot_send(exc)
    if isinstance(exc, TargetRefused):
        return PushResult(
            ExecutionStatus.FAILED, False, {"type": "target_refused", "message": str(exc)}
        )
    if isinstance(exc, ResolveFailed):
        return PushResult(ExecutionStatus.FAILED, True, {"type": "dns", "message": str(exc)})
    if isinstance(exc, TimeoutError):
        return PushResult(
            ExecutionStatus.TIMEOUT,
            True,
            {"type": "timeout", "message": f"timed out after {timeout:g}s"},
        )
    tls = _ssl_error(exc)
    if tls is not None or isinstance(exc, aiohttp.ClientSSLError):
        return PushResult(
            ExecutionStatus.FAILED,
            True,
            {"type": "tls", "message": f"TLS error with {address}: {tls or exc}"},
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, ConnectionRefusedError) or cause.errno == errno.ECONNREFUSED:
            message = f"connection refused to {address}"
        else:
            message = f"could not connect to {address}: {cause.strerror or cause}"
        return PushResult(ExecutionStatus.FAILED, True, {"type": "connection", "message": message})
    if isinstance(exc, aiohttp.ClientError | OSError):
        return PushResult(
            ExecutionStatus.FAILED,
            True,
            {
                "type": "connection",
                "message": f"request to {address} failed: {exc or type(exc).__name__}",
            },
        )
    # Not a network failure: something about this request that a retry would not change.
    return cannot_send(exc)
