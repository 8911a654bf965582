"""conftest.py: the integration tests' fixtures, from tests/pyfixtures.py
(tests import helpers from jobd_itest or pyfixtures: "conftest" is
ambiguous when pytest runs several test directories)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyfixtures  # noqa: E402
from pyfixtures import (client, daemon, jobd, redis_server,  # noqa: E402,F401
                        sclient, shared_daemon, workdir)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    pyfixtures.attach_logs(item, outcome.get_result())
