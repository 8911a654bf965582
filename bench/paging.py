#!/usr/bin/python3
"""paging.py: how fast the dashboard pages through many jobs (bench/run.sh
--paging runs it; --smoke runs it tiny after the other workloads).

For each size N (JOBD_BENCH_PAGING_SIZES, e.g. "100000,1000000"; --sizes
overrides; default 100000, and 2000 with --smoke) it starts a private
redis-server and a jobd (2 workers, [http] on a Unix socket), fills Redis
through the daemon with submit_many (batches of 10,000 jobd.noop jobs, the
queue paused), and times GET /api/jobs?...&offset=O&limit=50 over one
keep-alive HTTP connection, as the dashboard asks it, at uniformly random
offsets (plus the first and last page): the queued jobs, every job, and,
after the queue has drained, the finished ones (also filtered by type).
It prints p50/p95/max per case and writes bench/results/paging-<stamp>.
{json,md}.  Timings only: it fails only when a request fails or a total is
wrong.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import Redis, jobd_call, log, wait_for  # noqa: E402

LIMIT = 50
BATCH = 10000
TYPE_SCAN = 20000   # a type filter scans at most this many ids (docs/architecture.md)


class UnixHTTP(http.client.HTTPConnection):
    """An HTTP/1.1 keep-alive connection over a Unix socket."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Daemon:
    def __init__(self, bindir, top, redis_sock):
        self.dir = top
        self.sock = os.path.join(top, "jobd.sock")
        self.http = os.path.join(top, "http.sock")
        conf = os.path.join(top, "jobd.conf")
        with open(conf, "w") as f:
            f.write("[jobd]\nsocket = %s\nredis = unix://%s\nworkers = 2\n"
                    "log_level = warning\n\n[http]\nlisten = unix:%s\n"
                    % (self.sock, redis_sock, self.http))
        self.logf = open(os.path.join(top, "jobd.log"), "a")
        self.proc = subprocess.Popen([os.path.join(bindir, "jobd"), "-f", "-c",
                                      conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.sock) and
                 jobd_call(self.sock, {"op": "stats"}, 2).get("ok"), 20,
                 "jobd at " + self.sock)
        wait_for(lambda: os.path.exists(self.http), 20, "jobd's HTTP socket")

    def call(self, op, timeout=120, **kw):
        kw["op"] = op
        r = jobd_call(self.sock, kw, timeout)
        if not r.get("ok"):
            raise RuntimeError("%s: %r" % (op, r))
        return r

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def time_pages(http_sock, query, total, n):
    """time_pages: n GETs of query at random offsets (and the first and
    last page) over one new connection (the server closes an idle one);
    the total each answer gives must be total.  Seconds."""
    conn = UnixHTTP(http_sock)
    last = max(0, (total - 1) // LIMIT * LIMIT)
    offsets = [0, last] + [random.randrange(0, max(1, total - LIMIT + 1))
                           for _ in range(max(0, n - 2))]
    times = []
    for off in offsets:
        path = "/api/jobs?%s%soffset=%d&limit=%d" % (query, "&" if query else "",
                                                     off, LIMIT)
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        times.append(time.perf_counter() - t)
        if r.status != 200:
            raise RuntimeError("GET %s: %d %s" % (path, r.status, body[:300]))
        doc = json.loads(body)
        if doc["total"] != total:
            raise RuntimeError("GET %s: total %d, want %d" % (path, doc["total"], total))
        want = min(LIMIT, total - off)
        if len(doc["jobs"]) != want:
            raise RuntimeError("GET %s: %d jobs, want %d" % (path, len(doc["jobs"]), want))
    conn.close()
    return times


def one_size(bindir, n, requests):
    top = tempfile.mkdtemp(prefix="jobd-paging-", dir="/tmp")
    redis = daemon = None
    out = {"N": n, "cases": {}}
    try:
        redis = Redis(top, aof=False)
        daemon = Daemon(bindir, os.path.join(top), redis.sock)
        daemon.call("pause", queue="default")
        t = time.monotonic()
        left = n
        while left:
            k = min(BATCH, left)
            daemon.call("submit_many", jobs=[{"type": "jobd.noop"}] * k)
            left -= k
        out["fill_s"] = time.monotonic() - t
        out["redis_mib"] = redis.used_memory() / 1048576.0
        log("N=%d: filled in %.1f s (%.0f MiB in Redis)" % (n, out["fill_s"], out["redis_mib"]))
        cases = [("queued", "status=queued", "status=queued&queue=default"),
                 ("all", "every job (no filter)", "")]
        for key, label, q in cases:
            ts = time_pages(daemon.http, q, n, requests)
            out["cases"][key] = {"label": label, "query": q, "times": ts}
            log("N=%d %-8s p50 %.2f ms  p95 %.2f ms  max %.2f ms" % (
                n, key, 1e3 * pct(ts, 50), 1e3 * pct(ts, 95), 1e3 * max(ts)))
        t = time.monotonic()
        daemon.call("resume", queue="default")

        def drained():
            q = daemon.call("stats")["queues"]["default"]
            return q["finished"] == n
        wait_for(drained, max(120, n / 1000), "the queue to drain")
        out["drain_s"] = time.monotonic() - t
        log("N=%d: drained in %.1f s" % (n, out["drain_s"]))
        for key, label, q, want in [
                ("finished", "status=finished", "status=finished", n),
                ("finished_type", "status=finished&type=jobd.noop (scans <= %d)" % TYPE_SCAN,
                 "status=finished&type=jobd.noop", min(n, TYPE_SCAN))]:
            ts = time_pages(daemon.http, q, want, requests)
            out["cases"][key] = {"label": label, "query": q, "times": ts}
            log("N=%d %-8s p50 %.2f ms  p95 %.2f ms  max %.2f ms" % (
                n, key, 1e3 * pct(ts, 50), 1e3 * pct(ts, 95), 1e3 * max(ts)))
    finally:
        if daemon is not None:
            daemon.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(top, ignore_errors=True)
    return out


def markdown(doc):
    lines = ["# jobd paging: GET /api/jobs?...&offset=O&limit=%d" % LIMIT, "",
             "%s, commit %s, %d requests per case over one keep-alive "
             "connection (Unix socket), random offsets plus the first and "
             "last page; load %s at start." % (doc["date"], doc["commit"],
                                                doc["requests"], doc["load"]), "",
             "| jobs | filter | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    for r in doc["sizes"]:
        for key, c in r["cases"].items():
            ts = c["times"]
            lines.append("| %s | `%s` | %.2f | %.2f | %.2f |" % (
                "{:,}".format(r["N"]), c["label"], 1e3 * statistics.median(ts),
                1e3 * pct(ts, 95), 1e3 * max(ts)))
    lines.append("")
    for r in doc["sizes"]:
        lines.append("N=%s: filled by submit_many in %.1f s (%.0f MiB in Redis), "
                     "drained in %.1f s." % ("{:,}".format(r["N"]), r["fill_s"],
                                              r["redis_mib"], r["drain_s"]))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="a jobd build directory")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--sizes", help="comma-separated job counts "
                    "(default $JOBD_BENCH_PAGING_SIZES, else 100000; 2000 with --smoke)")
    ap.add_argument("--requests", type=int, help="GETs per case (default 200; 20 with --smoke)")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    sizes = a.sizes or os.environ.get("JOBD_BENCH_PAGING_SIZES") or \
        ("2000" if a.smoke else "100000")
    try:
        sizes = [int(s.replace("_", "")) for s in sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("sizes: whole numbers separated by commas")
    if not sizes or any(s < LIMIT or s > 10000000 for s in sizes):
        ap.error("sizes: each from %d to 10,000,000" % LIMIT)
    requests = a.requests or (20 if a.smoke else 200)
    random.seed(14)
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": a.commit, "requests": requests,
           "load": "%.2f" % os.getloadavg()[0], "sizes": []}
    for n in sizes:
        doc["sizes"].append(one_size(a.build, n, requests))
    md = markdown(doc)
    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if a.smoke else "")
    for name in ("paging-" + stamp, "paging-latest" + ("-smoke" if a.smoke else "")):
        with open(os.path.join(a.out, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(a.out, name + ".md"), "w") as f:
            f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        log("paging: FAILED: %s" % e)
        sys.exit(1)
