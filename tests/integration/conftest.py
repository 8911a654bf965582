"""conftest.py: the integration tests' fixtures; they live in jobd_itest.py
(import helpers from there: "conftest" is ambiguous when pytest runs several
test directories, each with its own conftest.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobd_itest import (daemon, jobd, redis_server, sclient,  # noqa: E402,F401
                        shared_daemon, workdir)
from jobd_itest import client  # noqa: E402,F401


# --- report hook: attach daemon logs to failed tests ----------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in getattr(item, "_jobd_daemons", []):
            rep.sections.append(("jobd log %s (pid %s)" % (d.name, d.pid),
                                 d.log_tail(300)))
        r = getattr(item, "_redis_server", None)
        if r is not None and rep.when != "setup":
            rep.sections.append(("redis-server log", r.log_tail(40)))


