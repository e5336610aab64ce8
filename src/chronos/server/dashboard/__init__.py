"""The web dashboard at ``/``: server-rendered pages (Jinja2 + htmx), live over server-sent
events, on the same service layer as the REST API. ``install(app)`` adds it to the app."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from chronos.server.dashboard import (
    alerts_page,
    calendars_page,
    editor,
    jobs_pages,
    live,
    monitors_page,
    overview,
    schedule_page,
    schedules_list,
    session_routes,
    workers_page,
)
from chronos.server.dashboard.render import HERE


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # The editor's /schedules/new comes before the schedule page's /schedules/{schedule}.
    pages = (
        editor,
        schedules_list,
        schedule_page,
        jobs_pages,
        workers_page,
        monitors_page,
        calendars_page,
    )
    for module in (session_routes, live, overview, *pages, alerts_page):
        app.include_router(module.router)
