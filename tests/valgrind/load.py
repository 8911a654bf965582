"""load.py SOCKET N MASTER_PID: the valgrind run's load.  N jobs of each
handler kind, a timeout, a cancel, a killed worker and a reload; exits 1 if
any job ends otherwise than expected."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from proto import Client  # noqa: E402

sock, n, master = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = Client(sock, timeout=600)
bad = 0
for t, p, want in [("jobd.noop", {}, "finished"),
                   ("jobd.echo", {"x": [1, 2]}, "finished"),
                   ("jobd.fail", {}, "failed"),
                   ("echo_exec", {"y": 1}, "finished"),
                   ("echo_persistent", {"z": 2}, "finished"),
                   ("hook", {"h": 3}, "finished")]:
    ids = c.ok("submit_many",
               jobs=[{"type": t, "payload": p} for _ in range(n)])["job_ids"]
    wrong = sum(c.ok("wait", job_id=i, timeout=300)["job"]["status"] != want
                for i in ids)
    print("  %d x %s: %d unexpected" % (n, t, wrong))
    bad += wrong
to = c.ok("submit", type="jobd.sleep", payload={"seconds": 30},
          timeout=1)["job_id"]
cn = c.ok("submit", type="jobd.sleep", payload={"seconds": 30})["job_id"]
time.sleep(1)
c.ok("cancel", job_id=cn)
bad += c.ok("wait", job_id=to, timeout=60)["job"]["status"] != "failed"
kids = open("/proc/%d/task/%d/children" % (master, master)).read().split()
os.kill(int(kids[0]), signal.SIGKILL)
os.kill(master, signal.SIGHUP)
time.sleep(3)
j = c.ok("submit", type="jobd.echo", payload={"after": "reload"})["job_id"]
bad += c.ok("wait", job_id=j, timeout=60)["job"]["status"] != "finished"
c.ok("stats")
print("  timeout, cancel, worker kill, reload: %s" % ("ok" if not bad else "FAILED"))
sys.exit(1 if bad else 0)
