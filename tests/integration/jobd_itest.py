"""jobd_itest.py: what the integration tests import their helpers from
(PYTHON3, wait_until, proto, ...).  The harness itself is tests/pyfixtures.py,
shared by every Python suite; this name stays for the test modules."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyfixtures import *  # noqa: E402,F401,F403
from pyfixtures import proto  # noqa: E402,F401
