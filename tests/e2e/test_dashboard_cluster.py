"""The dashboard across nodes: a page open on one node hears of a change made on another
(through PostgreSQL ``LISTEN/NOTIFY``), and one node's session cookie works on every node."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.e2e.test_cluster import make_servers

pytestmark = pytest.mark.e2e


@contextmanager
def signed_in(node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=10) as client:
        response = client.post("/login", data={"api_key": node.api_key, "next": "/"})
        assert response.status_code == 303, response.text
        yield client


def test_a_change_on_one_node_reaches_a_page_open_on_another(pg_database, servers, tmp_path):
    watched, changed = make_servers(pg_database, tmp_path, servers, 2)
    watched.start()
    changed.start()
    heard: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        with signed_in(watched) as browser, browser.stream("GET", "/events") as stream:
            for line in stream.iter_lines():
                if line == "event: hello":
                    ready.set()
                elif line.startswith("event: "):
                    heard.append(line.removeprefix("event: "))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(10), "the event stream did not open"
    with changed.client() as api:
        body = {"name": "made-elsewhere", "cron": "0 * * * *", "handler": "h"}
        assert api.post("/v1/schedules", json=body).status_code == 201
    listener.join(10)
    assert heard == ["schedules"]


def test_a_session_from_one_node_is_valid_on_another(pg_database, servers, tmp_path):
    first, second = make_servers(pg_database, tmp_path, servers, 2)
    first.start()
    second.start()
    with signed_in(first) as browser:
        cookie = browser.cookies["chronos_session"]
    with httpx.Client(base_url=second.url, cookies={"chronos_session": cookie}) as other:
        page = other.get("/", follow_redirects=False)
    assert page.status_code == 200
    assert "Overview" in page.text
