"""``/schedules``: the account's schedules in a searchable table that stays live.

Filters live in the URL, as the API spells them, so a view can be bookmarked and shared::

    /schedules?search=night&state=paused&handler=report&tag.team=ops

The filter form's ``tag`` field takes ``key=value`` pairs; a plain form submission is
redirected to the canonical URL above, and an htmx one has it pushed into the history.

Each row shows the schedule's timing in words, its next fire with a countdown, the strip of
its last 30 runs and its success rate. Actions — pause/resume, enable/disable, run now — work
on one row (``POST /schedules/{schedule}/{action}``) or on the checked rows
(``POST /schedules/bulk`` with ``action`` and repeated ``ids``), through the same service
calls as the REST API. For htmx they answer with the table as it now is, for the URL the
page shows, and a message; without JavaScript they redirect back.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.errors import ChronosError
from chronos.server.api.deps import MAX_TAG_FILTERS, TAG_KEY
from chronos.server.api.schedules import MAX_SEARCH_LENGTH
from chronos.server.dashboard.auth import Session, SessionDep, check_action, form_items, safe_next
from chronos.server.dashboard.render import flash, page
from chronos.server.dashboard.routing import DashboardRoute, is_htmx
from chronos.server.domain.audit import Actor
from chronos.server.domain.describe import describe_spec
from chronos.server.domain.states import ScheduleState
from chronos.server.errors import BadRequest, NotFound
from chronos.server.runtime import Runtime
from chronos.server.services.schedules import ScheduleFilter

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 50
MAX_BULK = 500
# The live region htmx swaps, and the filter form (htmx names it in ``HX-Trigger``).
TABLE_ID = "schedules-table"
FILTER_FORM_ID = "schedule-filters"
# Where each action takes a schedule (``None``: resume, back to what its configuration says).
STATE_ACTIONS: dict[str, ScheduleState | None] = {
    "pause": ScheduleState.PAUSED,
    "resume": None,
    "enable": ScheduleState.ENABLED,
    "disable": ScheduleState.DISABLED,
}
ACTIONS = (*STATE_ACTIONS, "trigger")
DONE = {
    "pause": "Paused",
    "resume": "Resumed",
    "enable": "Enabled",
    "disable": "Disabled",
    "trigger": "Triggered",
}
MAX_FAILURES_SHOWN = 5
_PAIR_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Listing:
    """What the table shows: the filters and the page (cursor)."""

    where: ScheduleFilter = field(default_factory=ScheduleFilter)
    cursor: str | None = None

    @property
    def filtered(self) -> bool:
        where = self.where
        return bool(where.search or where.state or where.handler or where.tags)

    def params(self) -> list[tuple[str, str]]:
        """The canonical query parameters, in a fixed order."""
        where = self.where
        items = [("search", where.search), ("state", where.state), ("handler", where.handler)]
        items += [(f"tag.{key}", value) for key, value in sorted(where.tags.items())]
        items.append(("cursor", self.cursor))
        return [(key, value) for key, value in items if value is not None]

    def url(self) -> str:
        query = urlencode(self.params())
        return f"/schedules?{query}" if query else "/schedules"


def listing_from(params: Sequence[tuple[str, str]]) -> Listing:
    """The listing a query string asks for; :class:`BadRequest` says what is wrong in it."""
    last = {key: value.strip() for key, value in params}
    search = last.get("search") or None
    if search is not None and len(search) > MAX_SEARCH_LENGTH:
        raise BadRequest(f"search: at most {MAX_SEARCH_LENGTH} characters")
    state = None
    if last.get("state"):
        try:
            state = ScheduleState(last["state"])
        except ValueError:
            choices = ", ".join(s.value for s in ScheduleState)
            raise BadRequest(f"state: {last['state']!r} is not one of {choices}") from None
    where = ScheduleFilter(
        state=state, handler=last.get("handler") or None, tags=_tags(params), search=search
    )
    return Listing(where, last.get("cursor") or None)


def _tags(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``tag.KEY=VALUE`` parameters (as the API takes them) and the form's ``tag`` field of
    ``key=value`` pairs (separated by spaces or commas)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params:
        if key.startswith("tag."):
            pairs.append((key[4:], value))
        elif key == "tag":
            for pair in _PAIR_SEPARATORS.split(value.strip()):
                if pair:
                    name, equals, tag_value = pair.partition("=")
                    if not equals:
                        raise BadRequest(f"tag: write key=value (as in team=backend), not {pair!r}")
                    pairs.append((name, tag_value))
    for name, _ in pairs:
        if not TAG_KEY.match(name):
            raise BadRequest(f"tag: {name!r} is not a valid tag key")
    tags = dict(pairs)
    if len(tags) > MAX_TAG_FILTERS:
        raise BadRequest(f"tag: at most {MAX_TAG_FILTERS} tag filters")
    return tags


# --- the page ------------------------------------------------------------------------------


@router.get("/schedules")
async def schedules_page(request: Request, session: SessionDep) -> Response:
    given = request.query_params.multi_items()
    listing = listing_from(given)
    if not is_htmx(request) and sorted(given) != sorted(listing.params()):
        return RedirectResponse(listing.url(), status_code=303)
    response = await _render(request, session, listing)
    if request.headers.get("hx-trigger") == FILTER_FORM_ID:
        response.headers["HX-Push-Url"] = listing.url()
    return response


async def _render(
    request: Request,
    session: Session,
    listing: Listing,
    *,
    message: str | None = None,
    message_kind: str = "ok",
) -> Response:
    """The page for ``listing``, or only its table when htmx asks for that (a live refresh,
    a filter change, an action), with ``message`` for the page's flash area."""
    runtime: Runtime = request.app.state.runtime
    views, next_cursor = await runtime.schedules.find(
        session.account_id, listing.where, cursor=listing.cursor, limit=PAGE_SIZE
    )
    runs = await runtime.schedules.recent_runs(session.account_id, [v.row["id"] for v in views])
    context = {
        "views": views,
        "runs": runs,
        "next_cursor": next_cursor,
        "listing": listing,
        "where": listing.where,
        "tag_text": " ".join(f"{k}={v}" for k, v in sorted(listing.where.tags.items())),
        "states": [s.value for s in ScheduleState],
        "max_search": MAX_SEARCH_LENGTH,
        "describe": describe_spec,
        "table_id": TABLE_ID,
        "message": message,
        "message_kind": message_kind,
    }
    table_only = is_htmx(request) and request.headers.get("hx-target") == TABLE_ID
    template = "_schedules_table.html" if table_only else "schedules.html"
    # Rendered as a GET of the listing's URL: the live region and the pager link there.
    return page(_as_listing_request(request, listing), template, session, context)


def _as_listing_request(request: Request, listing: Listing) -> Request:
    scope = {
        **request.scope,
        "method": "GET",
        "path": "/schedules",
        "raw_path": b"/schedules",
        "query_string": urlencode(listing.params()).encode(),
    }
    return Request(scope)


# --- actions -------------------------------------------------------------------------------


async def _apply(runtime: Runtime, session: Session, schedule: str, action: str, **kw: str) -> str:
    """Do ``action`` to one schedule (the REST API's service calls); its name, as done."""
    actor = Actor.of(session.holder, via="dashboard")
    if action == "trigger":
        job = await runtime.schedules.trigger(session.account_id, schedule, actor=actor)
        return f"{job['name'] or schedule} (job {job['id']})"
    view = await runtime.schedules.set_state(
        session.account_id, schedule, STATE_ACTIONS[action], actor=actor, **kw
    )
    return view.row["name"]


def _one(action: str) -> Callable[[Request, str, Session], Awaitable[Response]]:
    async def act_on_schedule(request: Request, schedule: str, session: SessionDep) -> Response:
        await check_action(request, session)
        runtime: Runtime = request.app.state.runtime
        note = dict(await form_items(request)).get("note") if action == "pause" else None
        extra = {"note": note} if note else {}
        name = await _apply(runtime, session, schedule, action, **extra)
        return await _answer(request, session, f"{DONE[action]} {name}.")

    return act_on_schedule


for _action in ACTIONS:
    router.add_api_route(
        f"/schedules/{{schedule}}/{_action}",
        _one(_action),
        methods=["POST"],
        name=f"schedules_{_action}",
    )


@router.post("/schedules/bulk")
async def bulk_action(request: Request, session: SessionDep) -> Response:
    """One action on many schedules; each is done (or fails) on its own."""
    await check_action(request, session)
    fields = await form_items(request)
    action = dict(fields).get("action", "")
    if action not in ACTIONS:
        what = f"unknown action {action!r}" if action else "no action"
        raise BadRequest(f"{what}: use one of {', '.join(ACTIONS)}")
    ids = list(dict.fromkeys(v.strip() for k, v in fields if k == "ids" and v.strip()))
    if not ids:
        raise BadRequest("check at least one schedule first")
    if len(ids) > MAX_BULK:
        raise BadRequest(f"at most {MAX_BULK} schedules at once ({len(ids)} checked)")
    runtime: Runtime = request.app.state.runtime
    done, failed = 0, []
    for schedule_id in ids:
        try:
            await _apply(runtime, session, schedule_id, action)
            done += 1
        except NotFound:  # gone, or another account's: counted, never touched
            failed.append(f"{schedule_id} (not found)")
        except ChronosError as exc:
            failed.append(f"{schedule_id} ({exc.message})")
    message = f"{DONE[action]} {done}"
    if failed:
        shown = ", ".join(failed[:MAX_FAILURES_SHOWN])
        if len(failed) > MAX_FAILURES_SHOWN:
            shown += f" and {len(failed) - MAX_FAILURES_SHOWN} more"
        message += f"; {len(failed)} failed: {shown}"
    return await _answer(request, session, message + ".", kind="error" if failed else "ok")


async def _answer(request: Request, session: Session, message: str, kind: str = "ok") -> Response:
    """After an action: the table for the URL the page shows (htmx, from this page), the
    message alone (htmx, from another page), or a redirect back (a plain form)."""
    if not is_htmx(request):
        return RedirectResponse(_back(request), status_code=303)
    if request.headers.get("hx-target") != TABLE_ID:
        return flash(message, kind=kind)
    return await _render(
        request, session, _shown_listing(request), message=message, message_kind=kind
    )


def _shown_listing(request: Request) -> Listing:
    """The listing of the page the action came from (htmx sends its URL)."""
    shown = urlsplit(request.headers.get("hx-current-url", ""))
    if shown.path != "/schedules":
        return Listing()
    try:
        return listing_from(parse_qsl(shown.query, keep_blank_values=True))
    except ChronosError:
        return Listing()


def _back(request: Request) -> str:
    """The page a plain form was posted from, when it is one of this site's schedule pages."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.headers.get("host") or not referer.path.startswith("/schedules"):
        return "/schedules"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
