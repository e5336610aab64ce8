"""Rendering: the Jinja2 environment, the filters templates use, and page responses.

Times are rendered as ``<time datetime="…Z" data-tz="…">`` elements: the server writes UTC,
and ``static/app.js`` shows them in the viewer's timezone (or UTC, by the switch), with the
schedule's timezone and UTC on hover.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from chronos import __version__
from chronos.server.dashboard.auth import Session
from chronos.server.domain.timing import iso

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
env = templates.env
env.globals["version"] = __version__
env.trim_blocks = True
env.lstrip_blocks = True


def when(value: datetime | None, tz: str | None = None, *, countdown: bool = False) -> Markup:
    """A ``<time>`` element the browser localises; ``—`` for None."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    attrs = f'datetime="{iso(value)}"'
    if tz:
        attrs += f' data-tz="{escape(tz)}"'
    if countdown:
        attrs += " data-countdown"
    return Markup(f"<time {attrs}>{text}</time>")


def duration_ms(value: float | int | None) -> str:
    if value is None:
        return "—"
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def seconds(value: float | None) -> str:
    return "—" if value is None else duration_ms(value * 1000)


def percent(rate: float | None) -> str:
    """A success rate as people read it: ``97.5%`` (one decimal below 100)."""
    if rate is None:
        return "—"
    value = rate * 100
    return "100%" if value >= 100 else f"{value:.1f}%".replace(".0%", "%")


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def query(request: Request, **changes: Any) -> str:
    """The current URL's query string with ``changes`` applied (None removes a key)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return ("?" + urlencode(params)) if params else "?"


env.filters["when"] = when
env.filters["duration_ms"] = duration_ms
env.filters["seconds"] = seconds
env.filters["percent"] = percent
env.filters["to_json"] = to_json
env.globals["query"] = query


def page(
    request: Request,
    template: str,
    session: Session | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A whole page (htmx picks out the fragment it wants with ``hx-select``)."""
    base_url = str(request.base_url).rstrip("/")  # for the snippets pages show
    context = {"request": request, "session": session, "base_url": base_url, **(context or {})}
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def flash(message: str, *, kind: str = "error", status_code: int = 200) -> HTMLResponse:
    """A message for the page's flash area (htmx retargets it there)."""
    body = f'<div class="flash {escape(kind)}" role="alert">{escape(message)}</div>'
    response = HTMLResponse(body, status_code=status_code)
    response.headers["HX-Retarget"] = "#flash"
    response.headers["HX-Reswap"] = "innerHTML"
    return response
