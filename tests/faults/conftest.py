"""conftest.py: fixtures of the fault-injection suite (helpers live in
faults_lib.py, processes are started by tests/pyfixtures.py)."""
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults_lib as fl  # noqa: E402
import pyfixtures  # noqa: E402  (faults_lib put tests/ on the path)


@pytest.fixture
def fworkdir():
    d = tempfile.mkdtemp(prefix="jdf", dir="/tmp")
    yield d
    if os.environ.get("FAULTS_KEEP"):
        sys.stderr.write("faults: kept %s\n" % d)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def aof_redis(fworkdir):
    r = pyfixtures.RedisServer(fworkdir, aof=True).start()
    yield r
    r.stop()


@pytest.fixture
def cluster(request, fworkdir, aof_redis):
    """cluster: a Cluster (no daemon started yet); teardown stops them and
    fails the test on a bad exit or a sanitizer report."""
    c = fl.Cluster(fworkdir, aof_redis, os.path.join(fworkdir, "exec.log"))
    request.node._fault_cluster = c
    yield c
    problems = c.stop_all()
    c.kill_all()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    c = getattr(item, "_fault_cluster", None)
    if rep.failed and c is not None:
        for name, text in c.all_logs():
            rep.sections.append(("jobd log %s" % name,
                                 "".join(text.splitlines(True)[-150:])))
        rep.sections.append(("redis-server log", c.redis.log_tail(30)))
