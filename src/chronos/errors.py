"""Exception types shared by the SDK and the server: each carries a stable API error code."""

from __future__ import annotations

from typing import Any


class ChronosError(Exception):
    """An error with a stable machine-readable ``code`` and an HTTP ``status``."""

    code: str = "error"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}
