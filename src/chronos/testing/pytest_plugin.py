"""The ``chronos_server`` pytest fixture: an embedded Chronos per test (see
:mod:`chronos.testing.embedded`). Installed as a pytest plugin (entry point ``pytest11``), so
the fixture is there in any project that has ``chronos-scheduler[server]``; or load it
explicitly::

    # conftest.py (the top-level one)
    pytest_plugins = ["chronos.testing.pytest_plugin"]

    # or, in a test module
    from chronos.testing import chronos_server  # noqa: F401

    def test_report_is_enqueued(chronos_server):
        chronos_server.client.jobs.create(handler="report")
        chronos_server.assert_enqueued(handler="report")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chronos.testing.embedded import ChronosTestServer


@pytest.fixture
def chronos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosTestServer]:
    """A running embedded Chronos on a fresh SQLite file, its clock frozen at the real time of
    the test's start: ``.client``, ``.url``, ``.api_key``, ``.advance()``, ``.tick()``,
    ``.assert_enqueued()``, ``.drain()``…"""
    from chronos.testing.embedded import ChronosTestServer

    with ChronosTestServer(tmp_path_factory.mktemp("chronos")) as server:
        yield server
