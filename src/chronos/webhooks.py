"""Signing and verifying push requests (``X-Chronos-Signature``).

Chronos signs every push request with the account's signing secret::

    X-Chronos-Signature: t=1767225600,v1=5f2b…

``v1`` is the hex HMAC-SHA256 of ``"<t>.<raw body>"``. Right after a rotation the header carries
one ``v1=`` per valid secret (new first), so receivers may hold either secret. Verify with::

    from chronos.webhooks import verify
    verify(raw_body, request.headers, secret)   # raises InvalidSignature, or returns None
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

SIGNATURE_HEADER = "X-Chronos-Signature"


class InvalidSignature(Exception):
    """The request was not signed by Chronos with this secret, or is too old."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"v1={compute_signature(secret, timestamp, body)}" for secret in secrets]
    return ",".join(parts)


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isdigit():
            timestamp = int(item)
        elif key == "v1" and item:
            signatures.append(item)
    if timestamp is None or not signatures:
        raise InvalidSignature("malformed X-Chronos-Signature header")
    return timestamp, signatures


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> None:
    """Raise :class:`InvalidSignature` unless ``body`` carries a valid, fresh signature."""
    raw = body.encode() if isinstance(body, str) else body
    header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    if header is None:
        raise InvalidSignature("missing X-Chronos-Signature header")
    timestamp, signatures = parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("signature timestamp is outside the tolerance")
    expected = compute_signature(secret, timestamp, raw)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no signature matches the secret")
