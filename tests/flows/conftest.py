"""tests/flows/ is the only test folder that starts Prefect: a real (temporary) Prefect server."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
