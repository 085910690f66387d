"""tests/flows/ is the only test folder that starts Prefect: a real (temporary) Prefect server,
started once per session, and only for tests marked `flow` (they run a Prefect flow). The store,
catalog, source-kind and run-core tests run without it."""

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(autouse=True)
def _prefect_for_flows(request):
    if request.node.get_closest_marker("flow") is not None:
        request.getfixturevalue("prefect_server")


@pytest.fixture(scope="session")
def live_api(tmp_path_factory):
    """A real `prefect server start` with its scheduler (tests/flows/live_prefect.py), started once
    (~20 s) and shared by the `serve` tests; each uses its own deployment name. A test that stops the
    server starts its own instead."""
    from tests.flows.live_prefect import prefect_server as live_server

    with live_server(tmp_path_factory.mktemp("live-server")) as (url, _):
        yield url
