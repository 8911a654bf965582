#!/usr/bin/python3
"""profile.py: where one workload's CPU goes, per process.

    bench/profile.py BUILD WORKLOAD N [jobbench options...]

Starts a private redis-server (Unix socket, persistence off) and jobd from
BUILD (2 workers, or $WORKERS) in a temporary directory, runs one jobbench
workload (W1, W1p, W1b, W2, W2x, W3), and prints the jobbench result, the
CPU time (utime+stime from /proc) per job of Redis, the jobd master, its
workers and the client, their page faults and context switches per job,
and Redis's INFO commandstats per job.  PERF=redis, master, worker (the
first one) or client also records that process with `perf record -g` into
$PERF_OUT (perf.data); STRACE= the same names counts its system calls
(`strace -c`).  Everything it starts is stopped, whatever happens.  The
figures in docs/performance.md ("What changed" and "What bounds each
figure") come from it.

BUILD must hold jobd and bench-tools/jobbench (bench/run.sh builds both).
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import redis as redispy   # Debian's python3-redis

ARGS = {"W1": ["submit", "-c", "1"], "W1p": ["submit", "-c", "8"],
        "W1b": ["batch", "-b", "100"], "W2": ["drain", "-t", "jobd.noop"],
        "W2x": ["drain", "-t", "true"], "W3": ["latency"]}


def call(sock, req):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(sock)
        b = json.dumps(req).encode()
        s.sendall(struct.pack(">I", len(b)) + b)
        n = struct.unpack(">I", s.recv(4))[0]
        d = b""
        while len(d) < n:
            d += s.recv(n - len(d))
        return json.loads(d)
    finally:
        s.close()


# The tracers PERF= and STRACE= (redis, master, worker or client) run.
TRACERS = [("PERF", ["perf", "record", "-q", "-g", "-o",
                     os.environ.get("PERF_OUT", "perf.data")]),
           ("STRACE", ["strace", "-c", "-q", "-f"])]


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def faults_switches(pid):
    """Minor page faults and context switches (voluntary + not) so far."""
    with open("/proc/%d/stat" % pid) as f:
        minflt = int(f.read().rsplit(")", 1)[1].split()[7])
    sw = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if "ctxt_switches" in line:
                sw += int(line.split()[1])
    return minflt, sw


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                         text=True).stdout.split()
    return [int(x) for x in out]


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in ARGS:
        sys.exit(__doc__)
    build, wl, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    jobbench = os.path.join(build, "bench-tools", "jobbench")
    top = tempfile.mkdtemp(prefix="jobd-profile-")
    procs = []
    try:
        rsock = os.path.join(top, "redis.sock")
        rp = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket",
                               rsock, "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
        procs.append(rp)
        r = redispy.Redis(unix_socket_path=rsock)
        for _ in range(100):
            try:
                r.ping()
                break
            except redispy.ConnectionError:
                time.sleep(0.05)
        jsock = os.path.join(top, "jobd.sock")
        conf = os.path.join(top, "jobd.conf")
        with open(conf, "w") as f:
            f.write("[jobd]\nsocket = %s\nredis = unix://%s\nworkers = %s\n"
                    "log_level = warning\nmax_pending = 4096\n\n"
                    "[type:true]\nhandler = exec\ncommand = /bin/true\n"
                    % (jsock, rsock, os.environ.get("WORKERS", "2")))
        jp = subprocess.Popen([os.path.join(build, "jobd"), "-f", "-c", conf])
        procs.append(jp)
        for _ in range(100):
            try:
                if call(jsock, {"op": "stats"}).get("ok"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        workers = children(jp.pid)
        if wl.startswith("W1"):
            call(jsock, {"op": "pause", "queue": "default"})
        pids = [rp.pid, jp.pid] + workers
        r.config_resetstat()
        before = {p: cpu_s(p) for p in pids}
        fs0 = {p: faults_switches(p) for p in pids}
        # PERF= and STRACE= name the process to trace: attached to Redis, the
        # master or the first worker now, or wrapped around the client below.
        tracing = [(prefix, os.environ[var]) for var, prefix in TRACERS
                   if os.environ.get(var)]
        attached = []
        for prefix, who in tracing:
            pid = {"redis": rp.pid, "master": jp.pid,
                   "worker": workers[0]}.get(who)
            if pid is not None:
                attached.append(subprocess.Popen(prefix + ["-p", str(pid)]))
        if attached:
            time.sleep(0.5)
        t0 = time.monotonic()
        argv = ([jobbench, ARGS[wl][0], "-s", jsock, "-n", str(n)] +
                ARGS[wl][1:] + sys.argv[4:])
        for prefix, who in tracing:
            if who == "client":
                argv = prefix + ["--"] + argv
        res = subprocess.run(argv, capture_output=True, text=True)
        wall = time.monotonic() - t0
        after = {p: cpu_s(p) for p in pids}
        fs1 = {p: faults_switches(p) for p in pids}
        for t in attached:
            t.send_signal(signal.SIGINT)
            t.wait()
        kids = os.times()

        def us(pids_):
            return sum(after[p] - before[p] for p in pids_) * 1e6 / n
        print(res.stdout.strip(), res.stderr.strip())
        print("%s n=%d wall %.2f s  CPU us/job: redis %.1f  master %.1f  "
              "workers %.1f  client %.1f" % (
                  wl, n, wall, us([rp.pid]), us([jp.pid]), us(workers),
                  (kids.children_user + kids.children_system) * 1e6 / n))
        for name, ps in (("redis", [rp.pid]), ("master", [jp.pid]),
                         ("workers", workers)):
            print("  %-8s per job: %.2f page faults, %.2f context switches" % (
                name, sum(fs1[p][0] - fs0[p][0] for p in ps) / n,
                sum(fs1[p][1] - fs0[p][1] for p in ps) / n))
        cs = r.info("commandstats")
        for k, v in sorted(cs.items(), key=lambda kv: -kv[1]["usec"])[:8]:
            print("  %-18s calls %8d  %6.2f us/call  %6.2f us/job" % (
                k[len("cmdstat_"):], v["calls"], v["usec_per_call"],
                v["usec"] / n))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
