"""run.py: jobd's long-running paths under valgrind (make check-valgrind,
through run.sh).

Starts a private redis-server and jobd (master and its forked workers
under valgrind's memcheck; exec'd handlers run natively) with
tests/pyfixtures.py, pushes jobs of every handler kind through them
(builtin, exec one-shot and persistent, http) with load.py, which also
cancels, times out, kills a worker and reloads; then stops jobd with
SIGTERM.  Fails if valgrind reports an error or a definite leak in any
jobd process.  VALGRIND_JOBS=N (default 300): jobs per kind; KEEP=1 keeps
the work directory.
"""
import glob
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import pyfixtures as pf  # noqa: E402

VG_ERROR = re.compile(r"definitely lost: [1-9]|ERROR SUMMARY: [1-9]|"
                      r"Invalid (read|write)|uninitialised")


class Hook(http.server.BaseHTTPRequestHandler):
    """The http handler's endpoint: echoes the job's payload."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        out = json.dumps({"got": json.loads(body).get("payload")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def run(d, n):
    redis = pf.RedisServer(d).start()
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    settings = {"socket": os.path.join(d, "jobd.sock"), "redis": redis.url,
                "workers": 2, "lease": 5, "grace": 1, "shutdown_grace": 5,
                "log_level": "info"}
    types = {
        "echo_exec": {"handler": "exec", "timeout": 30,
                      "command": os.path.join(pf.HANDLERS, "echo.py")},
        "echo_persistent": {"handler": "exec", "persistent": True,
                            "timeout": 30,
                            "command": os.path.join(pf.HANDLERS, "persistent.py")},
        "hook": {"handler": "http", "timeout": 10,
                 "url": "http://127.0.0.1:%d/hook" % hook.server_address[1]},
    }
    vg = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
          "--errors-for-leak-kinds=definite", "--child-silent-after-fork=no",
          "--log-file=" + os.path.join(d, "vg.%p.log")]
    jobd = pf.Jobd(d, settings, types, redis=redis, wrapper=vg)
    try:
        try:
            jobd.start(timeout=60)
        except Exception as e:
            print("FAIL: jobd did not start: %s\n%s" % (e, jobd.log_tail(50)))
            return 1
        fail = subprocess.call([pf.PYTHON3, os.path.join(HERE, "load.py"),
                                jobd.sock, str(n), str(jobd.pid)]) != 0
        print("  jobd exited with status %s" % jobd.stop(timeout=300))
    finally:
        if jobd.alive():
            jobd.proc.kill()
            jobd.proc.wait()
        hook.shutdown()
        redis.stop()

    reports = sorted(glob.glob(os.path.join(d, "vg.*.log")))
    errors = False
    for f in reports:
        with open(f, errors="replace") as fh:
            text = fh.read()
        if VG_ERROR.search(text):
            print("==== valgrind report %s\n%s" % (os.path.basename(f), text))
            errors = True
    if fail:
        print("FAIL: a job did not end as expected\n" + jobd.log_tail(50))
    if errors:
        print("FAIL: valgrind reported errors or definite leaks")
    if fail or errors:
        return 1
    print("PASS: %d jobd processes clean under valgrind" % len(reports))
    return 0


def main():
    n = int(os.environ.get("VALGRIND_JOBS", "300"))
    d = tempfile.mkdtemp(prefix="jobd-valgrind.", dir="/tmp")
    try:
        return run(d, n)
    finally:
        if os.environ.get("KEEP") == "1":
            print("kept " + d)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
