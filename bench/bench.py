#!/usr/bin/python3
"""bench.py: the orchestrator behind bench/run.sh (run that, not this).

Starts a private redis-server (Unix socket; persistence off, then
appendonly yes + appendfsync everysec), a fresh jobd for every measured run,
and the peers, runs every workload RUNS times in rounds (each round runs
every system once, so that a slow phase of the machine hits all alike),
and writes bench/results/<stamp>.json and .md (plus latest.json /
latest.md), then prints the Markdown.  Exit status 1 when any workload failed.

Everything listens on Unix sockets or 127.0.0.1 only; every wait is bounded.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
PY = "/usr/bin/python3"

# ---------------------------------------------------------------- sizes

FULL = {
    "W1": 20000, "W1p": 20000, "W1b": 20000, "W2": 20000, "W2x": 1000,
    "W2c": 20000,
    "W2p1": 60, "W2pp": 5000, "W3": 2000, "W3a": 200, "MEM": 100000,
    "MEM_AT": 10000,
    # peers: slower systems get fewer jobs (rates are steady-state)
    "rq_W1": 20000, "rq_W1p": 20000, "rq_W1b": 20000, "rq_W2": 2000,
    "rq_fork": 200, "rq_W2p1": 60, "rq_W2pp": 2000, "rq_W3": 1000,
    "rq_MEM": 100000,
    "bull_W2x": 200, "bull_W2p1": 40, "bull_W3": 1000,
    "SCALE": 10000,
    # --durable: W1/W1b/W2/W3 against a primary with one replica
    "D_W1": 5000, "D_W1b": 20000, "D_W2": 20000, "D_W3": 2000,
    # --cluster: jobs drained in all, split over the namespaces
    "NS": 30000,
}
SMOKE = {k: 200 for k in FULL}
SMOKE.update({"NS": 300, "W2p1": 10, "MEM": 400, "MEM_AT": 40, "rq_fork": 10,
              "rq_W2p1": 6, "bull_W2x": 20, "bull_W2p1": 6, "rq_W3": 50,
              "bull_W3": 50, "W3": 100, "W3a": 50})

# ---------------------------------------------------------------- helpers


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def wait_for(pred, secs, what):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def run_json(argv, timeout, env=None):
    """Run a load generator; its last stdout line is a JSON object."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (
            os.path.basename(argv[0]) if argv[0] != PY and argv[0] != "node"
            else " ".join(os.path.basename(x) for x in argv[:3]),
            p.returncode, (p.stderr.strip() or p.stdout.strip())[-600:]))
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError("no JSON from %s: %s" % (argv, p.stderr[-300:]))
    return json.loads(lines[-1])


def cpu_secs(pids):
    """utime + stime of these processes (every thread), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime
    return total / tick


def free_port(bus=False):
    """A free loopback port (bus: PORT+10000 too, for a cluster node)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if not bus:
            return port
        if port + 10000 > 65535:
            continue
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
        finally:
            b.close()
    raise RuntimeError("no free port pair")


class Redis:
    """A private redis-server on a Unix socket; port: also on 127.0.0.1
    (a replica's link, a cluster node); extra: more arguments."""

    def __init__(self, top, aof, name=None, port=0, extra=()):
        self.dir = os.path.join(top, name or ("redis-aof" if aof else
                                              "redis"))
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.port = port
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--unixsocket", self.sock,
                "--unixsocketperm", "700", "--dir", self.dir, "--save", "",
                "--maxmemory-policy", "noeviction",
                "--logfile", os.path.join(self.dir, "redis.log")]
        argv += (["--appendonly", "yes", "--appendfsync", "everysec"] if aof
                 else ["--appendonly", "no"])
        self.proc = subprocess.Popen(argv + list(extra))
        import redis
        self.r = redis.Redis(unix_socket_path=self.sock)
        try:
            wait_for(lambda: os.path.exists(self.sock) and self.r.ping(), 10,
                     "redis-server")
        except Exception:
            self.stop()
            raise
        self.version = self.r.info("server")["redis_version"]

    def pids(self, names=None):
        """The servers that do the work (for Redis CPU per job)."""
        return [self.proc.pid]

    def flush(self):
        self.r.flushall()
        if self.r.config_get("appendonly").get("appendonly") == "yes":
            # keep the AOF small between runs (no effect on semantics)
            try:
                self.r.bgrewriteaof()
                wait_for(lambda: not self.r.info("persistence")[
                    "aof_rewrite_in_progress"], 30, "AOF rewrite")
            except Exception:
                pass

    def used_memory(self):
        return self.r.info("memory")["used_memory"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ReplicatedRedis:
    """--durable: a primary on a Unix socket (jobd's link) and 127.0.0.1,
    and one replica of it (replicaof over loopback TCP)."""

    def __init__(self, top):
        self.primary = Redis(top, False, "redis-primary", free_port())
        try:
            self.replica = Redis(top, False, "redis-replica", free_port(),
                                 ["--replicaof", "127.0.0.1",
                                  str(self.primary.port)])
        except Exception:
            self.primary.stop()
            raise
        self.sock = self.primary.sock
        self.version = self.primary.version
        wait_for(lambda: self.replica.r.info("replication")[
            "master_link_status"] == "up", 30, "the replica's link")

    def flush(self):
        self.primary.flush()
        # the replica has caught up before the next run starts
        want = self.primary.r.info("replication")["master_repl_offset"]
        wait_for(lambda: self.replica.r.info("replication")[
            "slave_repl_offset"] >= want, 30, "the replica")

    def pids(self, names=None):
        return [self.primary.proc.pid]

    def stop(self):
        self.replica.stop()
        self.primary.stop()


class Cluster:
    """--cluster: PRIMARIES redis-server --cluster-enabled yes on 127.0.0.1
    ports (with REPLICAS replicas each), joined by redis-cli --cluster
    create.  url: jobd's cluster:// URL of every node."""

    def __init__(self, top, primaries=3, replicas=0):
        self.nodes = []
        try:
            for i in range(primaries * (1 + replicas)):
                port = free_port(bus=True)
                d = "cluster-%d" % port
                self.nodes.append(Redis(top, False, d, port, [
                    "--cluster-enabled", "yes",
                    "--cluster-config-file",
                    os.path.join(top, d, "nodes.conf"),
                    "--cluster-node-timeout", "5000"]))
            addrs = ["127.0.0.1:%d" % n.port for n in self.nodes]
            p = subprocess.run(
                ["redis-cli", "--cluster", "create"] + addrs +
                ["--cluster-replicas", str(replicas), "--cluster-yes"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=60)
            if p.returncode != 0:
                raise RuntimeError("redis-cli --cluster create: " +
                                   p.stdout[-600:])
            for n in self.nodes:
                wait_for(lambda n=n: n.r.execute_command(
                    "CLUSTER", "INFO").decode().find("cluster_state:ok")
                    >= 0, 30, "cluster_state:ok")
            if replicas:   # every replica's link is up
                for n in self.nodes:
                    wait_for(lambda n=n: n.r.info("replication").get(
                        "master_link_status", "up") == "up", 30,
                        "the cluster's replicas")
        except Exception:
            self.stop()
            raise
        self.version = self.nodes[0].version
        self.url = "cluster://" + ",".join(addrs)
        self.sock = None   # jobd reaches it by URL
        self.replicas = replicas

    def primaries(self):
        return [n for n in self.nodes
                if n.r.execute_command("ROLE")[0] == b"master"]

    def owner(self, name):
        """The node whose primary serves hash tag {name}'s slot."""
        slot = self.nodes[0].r.execute_command("CLUSTER", "KEYSLOT",
                                               "{%s}" % name)
        for rng in self.nodes[0].r.execute_command("CLUSTER", "SLOTS"):
            if rng[0] <= slot <= rng[1]:
                port = rng[2][1]
                return next(n for n in self.nodes if n.port == port)
        raise RuntimeError("no node owns slot %d" % slot)

    def spread(self, k):
        """k namespace names whose slots are on k different primaries."""
        names, used = [], set()
        for i in range(1, 1000):
            name = "ns%d" % i
            port = self.owner(name).port
            if port not in used:
                used.add(port)
                names.append(name)
                if len(names) == k:
                    return names
        raise RuntimeError("cannot place %d namespaces on %d primaries" %
                           (k, len(used)))

    def flush(self):
        for n in self.primaries():
            n.r.flushall()

    def pids(self, names=None):
        """The primaries serving these namespaces (all: every primary)."""
        if names:
            return sorted({self.owner(ns).proc.pid for ns in names})
        return [n.proc.pid for n in self.primaries()]

    def stop(self):
        for n in self.nodes:
            n.stop()


def jobd_call(sock, req, timeout=10):
    """One request to jobd over its protocol (for pause/stats/ping)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        data = json.dumps(req).encode()
        s.sendall(struct.pack(">I", len(data)) + data)
        hdr = b""
        while len(hdr) < 4:
            chunk = s.recv(4 - len(hdr))
            if not chunk:
                raise OSError("jobd closed the connection")
            hdr += chunk
        (n,) = struct.unpack(">I", hdr)
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                raise OSError("jobd closed the connection")
            body += chunk
        return json.loads(body)
    finally:
        s.close()


class Scraper:
    """Scraper: GET /metrics on a Unix socket once a second, as Prometheus
    would, until stopped (--http)."""

    def __init__(self, path):
        self.path = path
        self.stopping = threading.Event()
        self.times = []
        self.errors = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(1.0):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(10)
                s.connect(self.path)
                t = time.perf_counter()
                s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                if not re.match(rb"HTTP/1\.[01] 200 ", data):
                    self.errors += 1
                self.times.append(time.perf_counter() - t)
            except OSError:
                self.errors += 1

    def stop(self):
        self.stopping.set()
        self.thread.join(15)


class Jobd:
    def __init__(self, bindir, top, redis_sock, workers, idx=0, http=False,
                 limits=False, url=None, extra=""):
        self.dir = os.path.join(top, "jobd%d" % idx)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "jobd.sock")
        self.pidfile = os.path.join(self.dir, "jobd.pid")
        conf = os.path.join(self.dir, "jobd.conf")
        handler = os.path.join(HERE, "handlers", "pyimport.py")
        with open(conf, "w") as f:
            f.write(f"""[jobd]
socket = {self.sock}
redis = {url or "unix://" + redis_sock}
workers = {workers}
log_level = warning
max_pending = 4096
socket_mode = 0666
{extra}
[type:true]
handler = exec
command = /bin/true

[type:pyimport]
handler = exec
command = {PY} {handler}

[type:pyimport_p]
handler = exec
command = {PY} {handler} --persistent
persistent = yes
""")
            if limits:
                # W2l: a concurrency limit in force (as many slots as
                # workers: what it costs, not what it holds back)
                f.write("\n[limit:w2l]\nconcurrency = %d\n\n"
                        "[type:noop_l]\nhandler = builtin\nbuiltin = noop\n"
                        "limit = w2l\n" % workers)
            if http:
                f.write("\n[http]\nlisten = unix:%s\n"
                        % os.path.join(self.dir, "http.sock"))
        self.scraper = None
        for p in (self.sock, self.pidfile):
            if os.path.exists(p):
                os.unlink(p)
        self.logf = open(os.path.join(self.dir, "jobd.log"), "a")
        self.proc = subprocess.Popen(
            [os.path.join(bindir, "jobd"), "-f", "-c", conf,
             "--pidfile", self.pidfile], stdout=self.logf,
            stderr=subprocess.STDOUT)
        try:
            wait_for(self._ready, 15, "jobd at " + self.sock)
            want = workers + (1 if http else 0)   # the HTTP child
            wait_for(lambda: len(self.worker_pids()) >= want, 10,
                     "jobd workers")
            if http:
                self.scraper = Scraper(os.path.join(self.dir, "http.sock"))
        except Exception:
            self.stop()
            raise RuntimeError("jobd did not start: " + self.log_tail())

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("jobd exited %d: %s" % (self.proc.returncode,
                                                       self.log_tail()))
        # ready = answers a request that needs Redis (ping does not)
        return (os.path.exists(self.sock) and
                jobd_call(self.sock, {"op": "stats"}, 2).get("ok"))

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "jobd.log")) as f:
                return f.read()[-800:]
        except OSError:
            return ""

    def worker_pids(self):
        pids = []
        try:
            for t in os.listdir("/proc/%d/task" % self.proc.pid):
                with open("/proc/%d/task/%s/children" % (self.proc.pid, t)) as f:
                    pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return pids

    def stop(self):
        if self.scraper is not None:
            self.scraper.stop()
            if self.scraper.errors:
                log("--http: %d scrapes of /metrics failed"
                    % self.scraper.errors)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                log("jobd did not stop on SIGTERM within 20 s; SIGKILL")
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _drop_frames(s, n):
    """Read n frames from s without decoding them."""
    buf = b""
    for _ in range(n):
        while len(buf) < 4:
            d = s.recv(1 << 20)
            if not d:
                raise EOFError
            buf += d
        (ln,) = struct.unpack(">I", buf[:4])
        need, parts, have = 4 + ln, [buf], len(buf)
        while have < need:
            d = s.recv(max(need - have, 1 << 16))
            if not d:
                raise EOFError
            parts.append(d)
            have += len(d)
        buf = b"".join(parts)[need:]


def hostile_reader(sock, job_id):
    """A child (as nobody, 65534, when root) that pipelines 16 gets of
    job_id and 2 lists of 1000 per round until SIGTERM.  Its pid."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        frames = []
        for req in [{"op": "get", "job_id": job_id}] * 16 + \
                [{"op": "list", "limit": 1000}] * 2:
            data = json.dumps(req).encode()
            frames.append(struct.pack(">I", len(data)) + data)
        batch = b"".join(frames)
        while True:
            s.sendall(batch)
            _drop_frames(s, len(frames))
    except BaseException:  # noqa: BLE001 (SIGTERM, or jobd closed it)
        pass
    os._exit(0)


def summarise(samples, key):
    vals = [s[key] for s in samples]
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "runs": len(vals)}


# ---------------------------------------------------------------- the suite


class Suite:
    def __init__(self, args):
        self.a = args
        self.N = SMOKE if args.smoke else FULL
        self.runs = args.runs or (1 if args.smoke else 3)
        self.bindir = args.build
        # --baseline: a second jobd build measured in the same rounds as
        # system "base", so that a change is compared with the build before
        # it under the same noise.
        self.bindirs = {"jobd": args.build}
        if args.baseline:
            self.bindirs["base"] = args.baseline
        self.jobbench = os.path.join(args.tools, "jobbench")
        self.rawpush = os.path.join(args.tools, "rawpush")
        self.top = tempfile.mkdtemp(prefix="jobd-bench-")
        self.results = {}   # key "system/mode/workload" -> entry
        self.samples = {}   # the same key -> every round's samples
        self.failed = set()  # (system, mode, workload) that failed once
        self.failures = []
        self.fatal = []     # jobd/raw failures: always fail the run
        self.missing = {}
        self.peer_versions = {}

    def record(self, system, mode, wl, metric, unit, samples, n, key=None,
               note=None):
        """Add this round's samples to the entry's and summarise them all."""
        k = "%s/%s/%s/%s" % (system, mode, wl, metric)
        samples = self.samples.setdefault(k, []) + list(samples)
        self.samples[k] = samples
        e = summarise(samples, key or metric)
        e.update(system=system, mode=mode, workload=wl, metric=metric,
                 unit=unit, n=n, samples=[s.get(key or metric)
                                          for s in samples])
        if note:
            e["note"] = note
        self.results[k] = e
        log("  %-9s %-4s %-5s %-14s %12.1f %s (%s runs, N=%s)" % (
            system, mode, wl, metric, e["median"], unit, e["runs"], n))

    def fail(self, system, mode, wl, err):
        self.failed.add((system, mode, wl))
        msg = "%s %s %s: %s" % (system, mode, wl, err)
        log("FAILED:", msg)
        self.failures.append(msg)
        if system in ("jobd", "base", "raw"):
            self.fatal.append(msg)

    def measure(self, system, mode, wl, fn, metrics, n):
        """fn() -> dict; metrics: [(metric, unit)]."""
        if (system, mode, wl) in self.failed:
            return None
        samples = []
        try:
            for _ in range(self.runs):
                samples.append(fn())
        except Exception as e:  # noqa: BLE001 (report, go on)
            self.fail(system, mode, wl, e)
            return None
        for metric, unit in metrics:
            self.record(system, mode, wl, metric, unit, samples, n)
        return samples

    def measure_modes(self, system, wl, fn, metrics, n, redises):
        """Interleaved: run 1 in every Redis mode, then run 2, ... so that
        noise from other work on the machine hits every mode alike.
        fn(redis) -> dict."""
        samples = {m: [] for m in redises}
        failed = {m for m in redises if (system, m, wl) in self.failed}
        for _ in range(self.runs):
            for mode, redis in redises.items():
                if mode in failed:
                    continue
                try:
                    samples[mode].append(fn(redis))
                except Exception as e:  # noqa: BLE001 (report, go on)
                    self.fail(system, mode, wl, e)
                    failed.add(mode)
        for mode in redises:
            if mode in failed or not samples[mode]:
                continue
            for metric, unit in metrics:
                self.record(system, mode, wl, metric, unit, samples[mode], n)

    # ---- jobd

    def with_jobd(self, redis, fn, workers=2, daemons=1, system="jobd",
                  limits=False):
        redis.flush()
        ds = []
        try:
            for i in range(daemons):
                ds.append(Jobd(self.bindirs[system], self.top, redis.sock,
                               workers, i,
                               http=self.a.http and system == "jobd",
                               limits=limits))
            return fn(ds[0].sock if daemons == 1 else [d.sock for d in ds],
                      ds)
        finally:
            for d in ds:
                d.stop()

    def jb(self, *argv, timeout=900):
        return run_json([self.jobbench] + [str(x) for x in argv], timeout)

    def jobd_suite(self, redises, system="jobd"):
        N = self.N
        log("%s (%s), redis persistence: %s (interleaved)" % (
            system, self.bindirs[system], ", ".join(redises)))
        W = [
            ("W1", lambda s, d: self.jb("submit", "-s", s, "-n", N["W1"],
                                        "-c", 1), N["W1"]),
            ("W1p", lambda s, d: self.jb("submit", "-s", s, "-n", N["W1p"],
                                         "-c", 8), N["W1p"]),
            ("W1b", lambda s, d: self.jb("batch", "-s", s, "-n", N["W1b"],
                                         "-b", 100), N["W1b"]),
            ("W2", lambda s, d: self.jb("drain", "-s", s, "-n", N["W2"],
                                        "-t", "jobd.noop"), N["W2"]),
            ("W2x", lambda s, d: self.jb("drain", "-s", s, "-n", N["W2x"],
                                         "-t", "true"), N["W2x"]),
            ("W2l", lambda s, d: self.jb("drain", "-s", s, "-n", N["W2"],
                                         "-t", "noop_l"), N["W2"]),
            ("W2p1", lambda s, d: self.jb("drain", "-s", s, "-n", N["W2p1"],
                                          "-t", "pyimport"), N["W2p1"]),
            ("W2pp", lambda s, d: self.jb("drain", "-s", s, "-n", N["W2pp"],
                                          "-t", "pyimport_p"), N["W2pp"]),
            # chains of 10: depends_on (issue 15), this build only
            ("W2c", lambda s, d: self.jb("drain", "-s", s, "-n", N["W2c"],
                                         "-t", "jobd.noop", "-L", 10),
             N["W2c"]),
        ]
        for wl, fn, n in W:
            if not self.want(wl) or (wl == "W2c" and system != "jobd"):
                continue
            # W2l: [limit:*] sections, which an earlier build refuses
            if wl == "W2l" and system != "jobd":
                continue

            def once(redis, fn=fn, wl=wl):
                # W1*: queue paused, so that workers do not compete with
                # the submitters (like RQ/BullMQ enqueue without workers)
                def body(s, ds):
                    if wl.startswith("W1"):
                        jobd_call(s, {"op": "pause", "queue": "default"})
                    return fn(s, ds)
                return self.with_jobd(redis, body, system=system,
                                      limits=wl == "W2l")
            self.measure_modes(system, wl, once, [("jobs_per_s", "jobs/s")],
                               n, redises)
        if self.want("W3"):
            self.measure_modes(system, "W3", lambda redis: self.with_jobd(
                redis, lambda s, d: self.jb("latency", "-s", s, "-n",
                                            N["W3"]), system=system),
                [("p50_ms", "ms"), ("p99_ms", "ms"), ("max_ms", "ms")],
                N["W3"], redises)
        # W3a: this build only (a build without fair shares takes seconds
        # per submit under the attack)
        if self.want("W3a") and system == "jobd":
            self.measure_modes(
                system, "W3a", lambda redis: self.with_jobd(
                    redis, lambda s, d: self.hostile(redis, s, d),
                    system=system),
                [("p50_quiet_ms", "ms"), ("p99_quiet_ms", "ms"),
                 ("p50_attack_ms", "ms"), ("p99_attack_ms", "ms"),
                 ("max_attack_ms", "ms")], N["W3a"],
                {"off": redises["off"]})
        if self.want("MEM"):
            self.measure_modes(
                system, "MEM", lambda redis: self.with_jobd(
                    redis, lambda s, d: self.memory(redis, s, d[0]),
                    system=system),
                [("bytes_per_job", "B"), ("beyond_payload", "B"),
                 ("master_rss_at", "KiB"), ("master_rss_end", "KiB"),
                 ("worker_rss_at", "KiB"), ("worker_rss_end", "KiB"),
                 ("rss_growth_pct", "%")], N["MEM"],
                {"off": redises["off"]})

    def hostile(self, redis, sock, d):
        """W3a: W3 (submit + wait, one at a time) beside a hostile reader:
        four connections (as nobody when run as root) pipelining 16 gets
        of a job with a 4 MB payload and 2 lists of 1000 per round, at
        full tilt, reading the answers without decoding them.  The same
        latency run without the reader first."""
        n = self.N["W3a"]
        blob = "x" * (4 * 1024 * 1024)
        big = jobd_call(sock, {"op": "submit", "type": "jobd.noop",
                               "payload": {"blob": blob}})["job_id"]
        for _ in range(3):
            jobd_call(sock, {"op": "submit", "type": "jobd.noop",
                             "payload": {"blob": blob[:1024 * 1024]}})
        quiet = self.jb("latency", "-s", sock, "-n", n)
        if os.geteuid() == 0:   # nobody must reach the socket
            for p in (self.top, os.path.dirname(sock)):
                os.chmod(p, 0o755)
        kids = [hostile_reader(sock, big) for _ in range(4)]
        try:
            time.sleep(1.0)
            hit = self.jb("latency", "-s", sock, "-n", n, timeout=600)
        finally:
            for pid in kids:
                os.kill(pid, signal.SIGTERM)
            for pid in kids:
                os.waitpid(pid, 0)
        return {"p50_quiet_ms": quiet["p50_ms"],
                "p99_quiet_ms": quiet["p99_ms"],
                "p50_attack_ms": hit["p50_ms"], "p99_attack_ms": hit["p99_ms"],
                "max_attack_ms": hit["max_ms"]}

    def memory(self, redis, sock, d):
        n, at = self.N["MEM"], self.N["MEM_AT"]
        jobd_call(sock, {"op": "pause", "queue": "default"})
        before = redis.used_memory()
        self.jb("fill", "-s", sock, "-n", n, "-p", 200)
        after = redis.used_memory()
        jobd_call(sock, {"op": "resume", "queue": "default"})
        out = {"bytes_per_job": (after - before) / n}
        out["beyond_payload"] = out["bytes_per_job"] - 200
        deadline = time.monotonic() + 600
        for label, target in (("at", at), ("end", n)):
            while True:
                st = jobd_call(sock, {"op": "stats"})
                t = st.get("totals", {})
                done = t.get("finished", 0) + t.get("failed", 0)
                if done >= target:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("memory: only %d of %d jobs ran" %
                                       (done, target))
                time.sleep(0.02)
            out["master_rss_" + label] = rss_kib(d.proc.pid)
            out["worker_rss_" + label] = max(
                [rss_kib(p) for p in d.worker_pids()] or [0])
        growth = []
        for who in ("master", "worker"):
            a, b = out[who + "_rss_at"], out[who + "_rss_end"]
            growth.append(100.0 * (b - a) / a if a else 0.0)
        out["rss_growth_pct"] = max(growth)
        return out

    def scaling(self, redis):
        n = self.N["SCALE"]
        log("jobd scaling (W2 drain, jobd.noop, N=%d)" % n)
        for workers, daemons in ((1, 1), (2, 1), (4, 1), (8, 1), (2, 2),
                                 (2, 4)):
            wl = "W2/%dx%d" % (daemons, workers)

            def once(workers=workers, daemons=daemons):
                return self.with_jobd(
                    redis, lambda s, d: self.jb(
                        "drain", "-s", s if daemons == 1 else s[0], "-n", n,
                        "-t", "jobd.noop"), workers=workers, daemons=daemons)
            self.measure("jobd", "off", wl, once, [("jobs_per_s", "jobs/s")],
                         n)

    # ---- --durable: the cost of WAIT 1 on submit

    def durable(self):
        """W1 (submit, 1 client: jobs/s and the submit's round trip),
        W1b, W2 and W3 against a primary with one replica, with and
        without durable = yes, interleaved run by run."""
        N = self.N
        try:
            rr = ReplicatedRedis(self.top)
        except Exception as e:  # noqa: BLE001 (report, go on)
            self.fail("jobd", "durable", "W1", "primary + replica: %s" % e)
            return
        modes = {"repl": "", "durable": "durable = yes\n"}
        W = [
            ("W1", lambda s: self.jb("submit", "-s", s, "-n", N["D_W1"],
                                     "-c", 1),
             [("jobs_per_s", "jobs/s"), ("p50_ms", "ms"), ("p99_ms", "ms")],
             N["D_W1"]),
            ("W1b", lambda s: self.jb("batch", "-s", s, "-n", N["D_W1b"],
                                      "-b", 100),
             [("jobs_per_s", "jobs/s")], N["D_W1b"]),
            ("W2", lambda s: self.jb("drain", "-s", s, "-n", N["D_W2"],
                                     "-t", "jobd.noop"),
             [("jobs_per_s", "jobs/s")], N["D_W2"]),
            ("W3", lambda s: self.jb("latency", "-s", s, "-n", N["D_W3"]),
             [("p50_ms", "ms"), ("p99_ms", "ms"), ("max_ms", "ms")],
             N["D_W3"]),
        ]
        log("durable: W1/W1b/W2/W3 on a primary with one replica, "
            "durable = no / yes")
        try:
            for wl, fn, metrics, n in W:
                def once(extra, fn=fn, wl=wl, n=n):
                    rr.flush()
                    rr.primary.r.config_resetstat()
                    d = Jobd(self.bindir, self.top, rr.sock, 2, extra=extra)
                    try:
                        if wl.startswith("W1"):
                            jobd_call(d.sock, {"op": "pause",
                                               "queue": "default"})
                        out = fn(d.sock)
                    finally:
                        d.stop()
                    # the WAITs the primary saw: proof that durable = yes
                    # took effect (and how many per job)
                    waits = rr.primary.r.info("commandstats").get(
                        "cmdstat_wait", {}).get("calls", 0)
                    if extra and not waits:
                        raise RuntimeError("durable = yes, yet the primary "
                                           "saw no WAIT")
                    out["waits_per_job"] = waits / n
                    return out
                self.measure_modes("jobd", wl, once,
                                   metrics + [("waits_per_job", "")], n,
                                   modes)
        finally:
            rr.stop()

    # ---- --cluster: namespaces on one Redis and on a cluster

    def ns_drain(self, redis, names, urls=None):
        """W2 in several namespaces at once, one daemon (2 workers) each:
        every daemon fills its share paused, all resume together; jobs/s
        of them all, and the CPU the Redis servers (the primaries) spent
        per job while they drained (and over fill + drain)."""
        total = self.N["NS"]
        each = total // len(names)
        redis.flush()
        go = tempfile.mkdtemp(prefix="go-", dir=self.top)
        ds, procs = [], []
        try:
            for i, ns in enumerate(names):
                ds.append(Jobd(self.bindir, self.top, redis.sock, 2, i,
                               url=urls[i] if urls else None,
                               extra="namespace = %s\n" % ns))
            pids = redis.pids(names)
            c0 = cpu_secs(pids)
            for d in ds:
                procs.append(subprocess.Popen(
                    [self.jobbench, "drain", "-s", d.sock, "-n", str(each),
                     "-t", "jobd.noop", "-g", go], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True))

            def filled():
                for p in procs:
                    if p.poll() is not None:
                        raise RuntimeError("a drain exited before its "
                                           "start: " +
                                           p.stderr.read()[-300:])
                return sum(f.startswith("ready.")
                           for f in os.listdir(go)) == len(procs)
            wait_for(filled, 600, "the namespaces' fills")
            c1 = cpu_secs(pids)
            open(os.path.join(go, "go"), "w").close()
            outs = []
            for p in procs:
                out, err = p.communicate(timeout=900)
                if p.returncode != 0:
                    raise RuntimeError("jobbench drain exited %d: %s" %
                                       (p.returncode, err.strip()[-400:]))
                outs.append(json.loads([x for x in out.splitlines()
                                        if x.startswith("{")][-1]))
            c2 = cpu_secs(pids)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for d in ds:
                d.stop()
        n = each * len(names)
        secs = max(o["t1"] for o in outs) - min(o["t0"] for o in outs)
        drain, cycle = (c2 - c1) / n, (c2 - c0) / n
        return {"jobs_per_s": n / secs,
                "redis_us_per_job": drain * 1e6,
                "redis_us_per_job_cycle": cycle * 1e6,
                "capacity": 1 / drain if drain else 0.0,
                "capacity_cycle": 1 / cycle if cycle else 0.0}

    def cluster_url(self, cl, ns):
        """cluster://, or with --cluster-direct redis:// of the primary
        that owns the namespace's slot (no routing: the slots stay put)."""
        if self.a.cluster_direct:
            return "redis://127.0.0.1:%d" % cl.owner(ns).port
        return cl.url

    NS_METRICS = [("jobs_per_s", "jobs/s"), ("redis_us_per_job", "µs"),
                  ("redis_us_per_job_cycle", "µs"), ("capacity", "jobs/s"),
                  ("capacity_cycle", "jobs/s")]

    def cluster(self, redis):
        """W2 in 1 namespace on one Redis (redis, the suite's Unix-socket
        server), 2 and 3 namespaces on that one Redis, and 1, 2 and 3
        namespaces on a 3-primary cluster, each on its own primary."""
        log("cluster: W2 (N=%d in all) in 1-3 namespaces, one Redis and "
            "a 3-primary cluster (%d replica each)" % (
                self.N["NS"], self.a.cluster_replicas))
        cl = None
        if not self.a.no_cluster:
            try:
                cl = Cluster(self.top, 3, self.a.cluster_replicas)
            except Exception as e:  # noqa: BLE001 (report, go on)
                self.fail("jobd", "cluster", "NS1", "cluster: %s" % e)
        if cl:
            self.cluster_info = {"replicas": self.a.cluster_replicas,
                                 "redis": cl.version,
                                 "direct": self.a.cluster_direct}
        try:
            names = cl.spread(3) if cl else ["ns1", "ns2", "ns3"]
            for k in (1, 2, 3):
                runs = {"one": lambda r, k=k: self.ns_drain(r, names[:k])}
                if cl:
                    runs["cluster"] = lambda r, k=k: self.ns_drain(
                        cl, names[:k], [self.cluster_url(cl, ns)
                                        for ns in names[:k]])
                self.measure_modes("jobd", "NS%d" % k,
                                   lambda f: f(redis), self.NS_METRICS,
                                   self.N["NS"], runs)
            self.ns_names = names
        finally:
            if cl:
                cl.stop()

    # ---- raw Redis

    def raw_suite(self, redises):
        n = self.N["W1"]

        def once(redis):
            redis.flush()
            return run_json([self.rawpush, redis.sock, str(n), "200", "100"],
                            300)
        self.measure_modes("raw", "LPUSH", once,
                           [("one_at_a_time", "jobs/s"),
                            ("concurrent", "jobs/s"),
                            ("relay", "jobs/s"),
                            ("pipelined", "jobs/s")], n, redises)

    # ---- peers

    def rq_suite(self, redis, mode):
        try:
            import rq
            self.peer_versions["rq"] = rq.VERSION
        except Exception as e:  # noqa: BLE001
            self.missing["rq"] = "python3-rq not importable: %s" % e
            return
        N = self.N
        script = os.path.join(HERE, "peers", "rq_bench.py")

        def rq(*a, timeout=900):
            def once():
                redis.flush()
                return run_json([PY, script, redis.sock] +
                                [str(x) for x in a], timeout)
            return once
        m = [("jobs_per_s", "jobs/s")]
        for wl, args, n in (
                ("W1", ("enqueue", N["rq_W1"]), N["rq_W1"]),
                ("W1p", ("enqueue_par", N["rq_W1p"], 8), N["rq_W1p"]),
                ("W1b", ("enqueue_many", N["rq_W1b"], 100), N["rq_W1b"]),
                ("W2", ("drain", N["rq_W2"], 2, "simple", "noop"),
                 N["rq_W2"]),
                ("W2x", ("drain", N["rq_fork"], 2, "fork", "noop"),
                 N["rq_fork"]),
                ("W2p1", ("drain", N["rq_W2p1"], 2, "fork", "pyimport"),
                 N["rq_W2p1"]),
                ("W2pp", ("drain", N["rq_W2pp"], 2, "simple", "pyimport"),
                 N["rq_W2pp"])):
            if self.peer_want(wl):
                self.measure("rq", mode, wl, rq(*args), m, n)
        if self.peer_want("W3"):
            self.measure("rq", mode, "W3", rq("latency", N["rq_W3"]),
                         [("p50_ms", "ms"), ("p99_ms", "ms"),
                          ("max_ms", "ms")], N["rq_W3"])
        if self.peer_want("MEM"):
            self.measure("rq", mode, "MEM", rq("memory", N["rq_MEM"]),
                         [("bytes_per_job", "B")], N["rq_MEM"])

    def bull_suite(self, redis, mode):
        pkg = os.path.join(HERE, "peers", "node_modules", "bullmq",
                           "package.json")
        if not shutil.which("node"):
            self.missing["bullmq"] = "node is not installed"
            return
        if not os.path.exists(pkg):
            self.missing["bullmq"] = ("not installed (bench/peers/"
                                      "node_modules; run.sh installs it "
                                      "with npm unless --no-install)")
            return
        with open(pkg) as f:
            self.peer_versions["bullmq"] = json.load(f)["version"]
        self.peer_versions["node"] = subprocess.run(
            ["node", "--version"], stdout=subprocess.PIPE,
            text=True).stdout.strip()
        N = self.N
        script = os.path.join(HERE, "peers", "bullmq_bench.mjs")

        def bull(*a):
            def once():
                redis.flush()
                return run_json(["node", script, redis.sock] +
                                [str(x) for x in a], 900)
            return once
        m = [("jobs_per_s", "jobs/s")]
        for wl, args, n in (
                ("W1", ("add", N["W1"]), N["W1"]),
                ("W1p", ("add_par", N["W1p"], 8), N["W1p"]),
                ("W1b", ("addbulk", N["W1b"], 100), N["W1b"]),
                ("W2", ("drain", N["W2"], 2, "noop"), N["W2"]),
                ("W2c", ("chain", N["W2c"], 10, 2), N["W2c"]),
                ("W2x", ("drain", N["bull_W2x"], 2, "exec"), N["bull_W2x"]),
                ("W2p1", ("drain", N["bull_W2p1"], 2, "pyimport"),
                 N["bull_W2p1"])):
            if self.peer_want(wl):
                self.measure("bullmq", mode, wl, bull(*args), m, n)
        if self.peer_want("W3"):
            self.measure("bullmq", mode, "W3", bull("latency", N["bull_W3"]),
                         [("p50_ms", "ms"), ("p99_ms", "ms"),
                          ("max_ms", "ms")], N["bull_W3"])
        if self.peer_want("MEM"):
            self.measure("bullmq", mode, "MEM", bull("memory", N["MEM"]),
                         [("bytes_per_job", "B")], N["MEM"])

    def beanstalk_suite(self, mode):
        self._tcp_peer("beanstalkd", "beanstalk_bench.py", mode)

    def gearman_suite(self, mode):
        self._tcp_peer("gearmand", "gearman_bench", mode)

    def _tcp_peer(self, name, script, mode):
        """Peers that are servers of their own (not Redis)."""
        path = os.path.join(HERE, "peers", script)
        if script.endswith(".py"):
            argv0 = [PY, path]
        else:
            argv0 = [os.path.join(self.a.tools, script)]
        server = shutil.which(name) or (("/usr/sbin/" + name)
                                        if os.path.exists("/usr/sbin/" + name)
                                        else None)
        if server is None:
            self.missing[name] = "not installed (Debian package %s)" % (
                "beanstalkd" if name == "beanstalkd" else "gearman-job-server")
            return
        if not os.path.exists(argv0[-1]) and not os.path.exists(argv0[0]):
            self.missing[name] = "client %s not built" % script
            return
        N = self.N

        def once(*a):
            def f():
                with PeerServer(name, server, self.top, mode) as srv:
                    r = run_json(argv0 + [srv.addr] + [str(x) for x in a],
                                 900)
                    if a[0] == "memory":
                        r["bytes_per_job"] = srv.rss_delta_per_job(r)
                    return r
            return f
        try:
            self.peer_versions[name] = PeerServer.version(name, server)
        except Exception:  # noqa: BLE001
            pass
        m = [("jobs_per_s", "jobs/s")]
        for wl, args, n in (
                ("W1", ("put", N["W1"], 1), N["W1"]),
                ("W1p", ("put", N["W1p"], 8), N["W1p"]),
                ("W2", ("drain", N["W2"], 2, "noop"), N["W2"]),
                ("W2x", ("drain", N["W2x"], 2, "exec"), N["W2x"])):
            if self.peer_want(wl):
                self.measure(name, mode, wl, once(*args), m, n)
        if self.peer_want("W3"):
            self.measure(name, mode, "W3", once("latency", N["W3"]),
                         [("p50_ms", "ms"), ("p99_ms", "ms"),
                          ("max_ms", "ms")], N["W3"])

    def want(self, wl):
        return not self.a.only or wl in self.a.only.split(",")

    def named(self, wl):
        return wl in self.a.only.split(",")

    def peer_want(self, wl):
        """Smoke mode keeps the peers' scripts alive with W1 and W2 only."""
        if self.a.smoke and not self.a.only:
            return wl in ("W1", "W2")
        return self.want(wl)

    # ---- main

    def section(self, name, fn, *a):
        t = time.monotonic()
        try:
            fn(*a)
        finally:
            secs = time.monotonic() - t
            self.section_secs[name] = round(
                self.section_secs.get(name, 0) + secs, 1)
            log("section %s: %.1f s" % (name, secs))

    def run(self):
        """Round-robin: every system runs each workload once per round, so
        that a slow phase of the machine (they last tens of seconds here)
        hits jobd and its peers alike and the ratios stay side by side."""
        t0 = time.monotonic()
        self.loadavg_start = os.getloadavg()
        self.section_secs = {}
        modes = ["off"] if (self.a.smoke or self.a.no_aof) else ["off",
                                                                  "aof"]
        self.rounds, self.runs = self.runs, 1
        redises = {}
        try:
            for mode in modes:
                redises[mode] = Redis(self.top, mode == "aof")
            self.redis_version = redises["off"].version
            for rnd in range(self.rounds):
                log("round %d of %d" % (rnd + 1, self.rounds))
                self.round_no = rnd
                self.round(redises, modes)
        finally:
            for r in redises.values():
                r.stop()
        self.elapsed = time.monotonic() - t0
        shutil.rmtree(self.top, ignore_errors=True)

    def round(self, redises, modes):
        # The build and its baseline take turns going first.
        builds = sorted(self.bindirs, reverse=self.round_no % 2 == 1)
        for system in builds:
            self.section(system, self.jobd_suite, redises, system)
        if self.want("W1") or self.want("W1b"):
            self.section("raw", self.raw_suite, redises)
        if not self.a.no_peers:
            for mode in (modes if self.a.peers_aof else ["off"]):
                self.section("rq/" + mode, self.rq_suite,
                             redises[mode], mode)
                self.section("bullmq/" + mode, self.bull_suite,
                             redises[mode], mode)
                self.section("beanstalkd/" + mode, self.beanstalk_suite,
                             mode)
                self.section("gearmand/" + mode, self.gearman_suite, mode)
        if self.a.scaling and not self.a.smoke and not self.a.only:
            self.section("scaling", self.scaling, redises["off"])
        # benchmark knobs, never in CI: --durable, --cluster (or --only
        # durable / cluster)
        if self.a.durable or self.named("durable"):
            self.section("durable", self.durable)
        if self.a.cluster or self.named("cluster"):
            self.section("cluster", self.cluster, redises["off"])


class PeerServer:
    """beanstalkd / gearmand on 127.0.0.1 with a free port, torn down after
    each run.  aof mode: beanstalkd binlog with fsync every 1000 ms."""

    def __init__(self, name, path, top, mode):
        self.name = name
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.addr = "127.0.0.1:%d" % port
        d = tempfile.mkdtemp(prefix=name, dir=top)
        if name == "beanstalkd":
            argv = [path, "-l", "127.0.0.1", "-p", str(port)]
            if mode == "aof":
                argv += ["-b", d, "-f", "1000"]
        else:
            argv = [path, "-L", "127.0.0.1", "-p", str(port), "-q", "builtin",
                    "--log-file", os.path.join(d, "gearmand.log"),
                    "-t", "2"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def up():
            with socket.create_connection(("127.0.0.1", port), 1):
                return True
        wait_for(up, 10, name)
        self.rss0 = rss_kib(self.proc.pid)

    def rss_delta_per_job(self, r):
        return (r.get("rss_kib", rss_kib(self.proc.pid)) - self.rss0) \
            * 1024.0 / r["n"]

    @staticmethod
    def version(name, path):
        pkg = "beanstalkd" if name == "beanstalkd" else "gearman-job-server"
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, timeout=10)
        return p.stdout.strip() or "?"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- report

ROWS = [
    # (label, workload, metric, higher_is_better)
    ("W1 submit, 1 client (jobs/s)", "W1", "jobs_per_s", True),
    ("W1p submit, 8 clients (jobs/s)", "W1p", "jobs_per_s", True),
    ("W1b submit_many ×100 (jobs/s)", "W1b", "jobs_per_s", True),
    ("W2 drain noop, 2 workers (jobs/s)", "W2", "jobs_per_s", True),
    ("W2c drain noop in chains of 10, 2 workers (jobs/s)", "W2c",
     "jobs_per_s", True),
    ("W2x drain exec /bin/true (jobs/s)", "W2x", "jobs_per_s", True),
    ("W2l drain noop under a concurrency limit (jobs/s)", "W2l",
     "jobs_per_s", True),
    ("W2p Python handler, one-shot (jobs/s)", "W2p1", "jobs_per_s", True),
    ("W2p Python handler, persistent (jobs/s)", "W2pp", "jobs_per_s", True),
    ("W3 submit+wait p50 (ms)", "W3", "p50_ms", False),
    ("W3 submit+wait p99 (ms)", "W3", "p99_ms", False),
    ("W3 submit+wait max (ms)", "W3", "max_ms", False),
    ("W3a submit+wait p99, quiet (ms)", "W3a", "p99_quiet_ms", False),
    ("W3a submit+wait p99, hostile reader (ms)", "W3a", "p99_attack_ms",
     False),
    ("Redis bytes per queued 200-B job", "MEM", "bytes_per_job", False),
]

PEER_NOTES = {
    "rq": "RQ: W1 `enqueue`, W1p 8 processes, W1b `enqueue_many` in a "
          "pipeline; W2 2 `SimpleWorker`s, W2x 2 forking `Worker`s (noop), "
          "W2p one-shot: forking `Worker` whose job module imports the same "
          "modules as the jobd handler; W2p persistent: `SimpleWorker` "
          "(imports once); W3 `enqueue` + `get_status()` every 1 ms.",
    "bullmq": "BullMQ: W1 `Queue.add`, W1p 8 Queue objects (connections) "
              "concurrently, W1b `addBulk(100)`; W2 2 worker processes with "
              "concurrency 1, W2x `execFile('/bin/true')`, W2p one-shot "
              "spawns the same Python handler; W3 `add` + "
              "`waitUntilFinished` (QueueEvents).",
    "beanstalkd": "beanstalkd: W1 `put`, W1p 8 connections; W2 2 worker "
                  "processes `reserve`+`delete`, W2x the worker runs "
                  "/bin/true per job; W3 put + a reply put by the worker on "
                  "a reply tube. Persistence off (no binlog).",
    "gearmand": "gearmand: W1 background submit, W1p 8 connections; W2 2 "
                "worker processes; W2x the worker runs /bin/true; W3 a "
                "foreground job (the client waits for WORK_COMPLETE). "
                "In-memory queue.",
}


def fmt(e, unit_hint=None):
    if e is None:
        return "—"
    med, lo, hi = e["median"], e["min"], e["max"]

    def f(x):
        if abs(x) >= 1000:
            return "{:,.0f}".format(x)
        if abs(x) >= 10:
            return "%.1f" % x
        return "%.2f" % x
    if e["runs"] > 1:
        return "%s (%s–%s)" % (f(med), f(lo), f(hi))
    return f(med)


def ratio(j, p, higher):
    if j is None or p is None or not j["median"] or not p["median"]:
        return "—"
    r = j["median"] / p["median"] if higher else p["median"] / j["median"]
    return "%.2f×" % r


def get(res, system, mode, wl, metric):
    return res.get("%s/%s/%s/%s" % (system, mode, wl, metric))


TARGETS = [
    # (text, function(res) -> (value, ok) or None)
]


def targets(res):
    g = lambda s, w, m, mode="off": get(res, s, mode, w, m)  # noqa: E731
    out = []

    def chk(text, a, b, factor, higher=True):
        if a is None or b is None:
            out.append((text, "n/a", None))
            return
        if higher:
            v = a["median"] / b["median"]
            out.append((text, "%.2f× (need ≥ %g×)" % (v, factor),
                        v >= factor))
        else:
            v = a["median"] / b["median"]
            out.append((text, "%.2f× (need ≤ %g×)" % (v, factor),
                        v <= factor))
    tp = "jobs_per_s"
    chk("W1 ≥ 3× RQ enqueue", g("jobd", "W1", tp), g("rq", "W1", tp), 3)
    chk("W1 ≥ 0.5× raw one-at-a-time LPUSH", g("jobd", "W1", tp),
        g("raw", "LPUSH", "one_at_a_time"), 0.5)
    chk("W1p ≥ 3× W1", g("jobd", "W1p", tp), g("jobd", "W1", tp), 3)
    # What this machine allows, measured by bench/rawpush.c: informational
    # lines (met = None), so that an unmet W1 target can be read against
    # the physical limit it runs into.
    info = [("limit: two-hop relay ÷ raw one-at-a-time LPUSH",
             g("raw", "LPUSH", "relay"), g("raw", "LPUSH", "one_at_a_time")),
            ("limit: W1 ÷ two-hop relay", g("jobd", "W1", tp),
             g("raw", "LPUSH", "relay")),
            ("limit: raw LPUSH 8 clients ÷ 1 client",
             g("raw", "LPUSH", "concurrent"),
             g("raw", "LPUSH", "one_at_a_time"))]
    for text, a, b in info:
        if a and b:
            out.append((text, "%.2f×" % (a["median"] / b["median"]), None))
    chk("W1b ≥ 10× RQ enqueue_many", g("jobd", "W1b", tp),
        g("rq", "W1b", tp), 10)
    w1b = g("jobd", "W1b", tp)
    out.append(("W1b ≥ 100,000 jobs/s", "%.0f" % w1b["median"] if w1b
                else "n/a", (w1b["median"] >= 100000) if w1b else None))
    chk("W2 ≥ 30× RQ SimpleWorker", g("jobd", "W2", tp), g("rq", "W2", tp),
        30)
    chk("W2 ≥ 3× BullMQ", g("jobd", "W2", tp), g("bullmq", "W2", tp), 3)
    chk("W2x ≥ 10× RQ forking Worker", g("jobd", "W2x", tp),
        g("rq", "W2x", tp), 10)
    chk("W3 p50 ≤ ¼ RQ's", g("jobd", "W3", "p50_ms"), g("rq", "W3", "p50_ms"),
        0.25, higher=False)
    chk("W3 p99 ≤ ⅓ RQ's", g("jobd", "W3", "p99_ms"), g("rq", "W3", "p99_ms"),
        1 / 3, higher=False)
    chk("W3 p99 ≤ ⅓ BullMQ's", g("jobd", "W3", "p99_ms"),
        g("bullmq", "W3", "p99_ms"), 1 / 3, higher=False)
    m = g("jobd", "MEM", "beyond_payload")
    out.append(("≤ 400 B Redis per queued job beyond payload",
                "%.0f B" % m["median"] if m else "n/a",
                (m["median"] <= 400) if m else None))
    chk("Redis bytes per job < RQ's", g("jobd", "MEM", "bytes_per_job"),
        g("rq", "MEM", "bytes_per_job"), 1.0, higher=False)
    gr = g("jobd", "MEM", "rss_growth_pct")
    out.append(("RSS flat within 10% from 10k to 100k jobs",
                "%+.1f%%" % gr["median"] if gr else "n/a",
                (gr["median"] <= 10) if gr else None))
    worst = None
    for wl, metric, higher in (("W1", tp, True), ("W1p", tp, True),
                               ("W1b", tp, True), ("W2", tp, True),
                               ("W2x", tp, True), ("W2p1", tp, True),
                               ("W2pp", tp, True), ("W3", "p50_ms", False)):
        a, b = g("jobd", wl, metric), g("jobd", wl, metric, "aof")
        if a and b:
            loss = (1 - b["median"] / a["median"]) if higher else \
                (1 - a["median"] / b["median"])
            if worst is None or loss > worst[1]:
                worst = (wl, loss)
    out.append(("appendfsync everysec: no workload loses > 30%",
                "worst %s %.0f%%" % (worst[0], worst[1] * 100) if worst
                else "n/a", (worst[1] <= 0.30) if worst else None))
    return out


def baseline_table(doc):
    """The build beside its baseline, measured in the same rounds."""
    res = doc["results"]
    L = ["| workload | baseline %s | this build %s | change |" % (
        doc["baseline"]["commit"], doc["jobd_commit"]), "|---|---|---|---|"]
    for label, wl, metric, higher in ROWS:
        for mode in ("off", "aof"):
            b = get(res, "base", mode, wl, metric)
            j = get(res, "jobd", mode, wl, metric)
            if not (b and j):
                continue
            L.append("| %s%s | %s | %s | %+.1f%% |" % (
                label, ", AOF" if mode == "aof" else "", fmt(b), fmt(j),
                100 * (j["median"] / b["median"] - 1)))
    L.append("")
    L.append("Both builds run each workload once per round, taking turns "
             "to go first, against the same Redis; the change is of the "
             "medians (for latency and memory, lower is better).")
    L.append("")
    return L


DURABLE_ROWS = [
    ("W1 submit, 1 client (jobs/s)", "W1", "jobs_per_s", True),
    ("W1 one submit's round trip p50 (ms)", "W1", "p50_ms", False),
    ("W1 one submit's round trip p99 (ms)", "W1", "p99_ms", False),
    ("W1b submit_many ×100 (jobs/s)", "W1b", "jobs_per_s", True),
    ("W2 drain noop, 2 workers (jobs/s)", "W2", "jobs_per_s", True),
    ("W3 submit+wait p50 (ms)", "W3", "p50_ms", False),
    ("W3 submit+wait p99 (ms)", "W3", "p99_ms", False),
    ("WAITs per job in W1 (primary's commandstats)", "W1", "waits_per_job",
     False),
    ("WAITs per job in W1b", "W1b", "waits_per_job", False),
]


def durable_table(doc):
    """--durable: the same primary-with-a-replica, durable = no / yes."""
    res = doc["results"]
    L = []
    for label, wl, metric, _ in DURABLE_ROWS:
        a = get(res, "jobd", "repl", wl, metric)
        b = get(res, "jobd", "durable", wl, metric)
        if not (a or b):
            continue
        if not L:
            L = ["| primary + 1 replica | durable = no | durable = yes "
                 "| change |", "|---|---|---|---|"]
        L.append("| %s | %s | %s | %s |" % (
            label, fmt(a), fmt(b), "%+.1f%%" % (
                100 * (b["median"] / a["median"] - 1))
            if a and b and a["median"] else "—"))
    if L:
        L += ["", "jobd's link to the primary is its Unix socket; the "
              "replica follows it over 127.0.0.1 (`replicaof`). durable = "
              "yes: every submit waits for `WAIT 1` (durable_timeout 1 s).",
              ""]
    return L


def cluster_table(doc):
    """--cluster: W2 in 1-3 namespaces, on one Redis and on a cluster."""
    res = doc["results"]
    L = []
    direct = (doc.get("cluster") or {}).get("direct")
    for mode, where in (("one", "one Redis"), ("cluster", "a 3-primary "
                                               "cluster" + (
                                                   " (redis:// to each "
                                                   "primary)" if direct
                                                   else ""))):
        for k in (1, 2, 3):
            g = lambda m: get(res, "jobd", mode, "NS%d" % k, m)  # noqa
            if not g("jobs_per_s"):
                continue
            if not L:
                L = ["| W2, N in all, a daemon (2 workers) per namespace "
                     "| jobs/s | Redis CPU per job drained (µs) | per job "
                     "submitted + drained (µs) | capacity per Redis core, "
                     "drain (jobs/s) | submit + drain (jobs/s) |",
                     "|---|---|---|---|---|---|"]
            L.append("| %d namespace%s on %s | %s | %s | %s | %s | %s |" % (
                k, "s" if k > 1 else "", where, fmt(g("jobs_per_s")),
                fmt(g("redis_us_per_job")),
                fmt(g("redis_us_per_job_cycle")), fmt(g("capacity")),
                fmt(g("capacity_cycle"))))
    if L:
        ci = doc.get("cluster") or {}
        L += ["", "Redis CPU: utime + stime of the redis-server processes "
              "(on the cluster: the primaries that own the namespaces' "
              "slots%s) from /proc/PID/stat, over the "
              "drain (and over fill + drain), ÷ jobs; capacity = 1 ÷ "
              "that: the jobs/s one Redis core could take. One Redis: "
              "the Unix socket; the cluster: 127.0.0.1 TCP%s. Namespaces: "
              "%s." % (
                  "; replicas not counted" if ci.get("replicas") else "",
                  ", %d replica per primary" % ci["replicas"]
                  if ci.get("replicas") else ", no replicas",
                  ", ".join(doc.get("namespaces") or []) or "?"), ""]
    return L


def markdown(doc):
    res = doc["results"]
    L = []
    L.append("jobd %s, %s; Redis %s on a Unix socket; %s; %d CPUs; "
             "median of %d runs (min–max)." % (
                 doc["jobd_commit"], doc["build"], doc["redis"],
                 doc["host"]["cpu"], doc["host"]["cpus"], doc["runs"]))
    la0, la1 = doc.get("loadavg_start"), doc.get("loadavg_end")
    if la0 and la1:
        L.append("")
        L.append("Load average at start %.1f, at end %.1f (1-min; above "
                 "the CPU count means other work shared the machine and "
                 "the figures are noisy)." % (la0[0], la1[0]))
    L.append("")
    # --only durable,cluster: none of the main table's workloads ran
    main = any(v["mode"] in ("off", "aof") or v["system"] != "jobd"
               for v in res.values())
    i0 = len(L)
    systems = [("rq", "RQ"), ("bullmq", "BullMQ"),
               ("beanstalkd", "beanstalkd"), ("gearmand", "gearmand")]
    head = ["workload", "jobd", "jobd, AOF everysec", "raw Redis"]
    for s, name in systems:
        head += [name, "jobd ÷ " + name if s in ("rq", "bullmq") else None]
    head = [h for h in head if h]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for label, wl, metric, higher in ROWS:
        j = get(res, "jobd", "off", wl, metric)
        ja = get(res, "jobd", "aof", wl, metric)
        raw = None
        if wl == "W1":
            raw = get(res, "raw", "off", "LPUSH", "one_at_a_time")
        elif wl == "W1p":
            raw = get(res, "raw", "off", "LPUSH", "concurrent")
        elif wl == "W1b":
            raw = get(res, "raw", "off", "LPUSH", "pipelined")
        row = [label, fmt(j), fmt(ja) + (" (%+.0f%%)" % (
            100 * (ja["median"] / j["median"] - 1)) if j and ja else ""),
            fmt(raw) if raw else ""]
        for s, _ in systems:
            p = get(res, s, "off", wl, metric)
            row.append(fmt(p) if p else ("missing" if s in doc["missing"]
                                         else "—"))
            if s in ("rq", "bullmq"):
                row.append(ratio(j, p, higher))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Ratios are \"times better for jobd\": jobd ÷ peer for "
             "throughput, peer ÷ jobd for latency and memory. raw Redis: "
             "hiredis LPUSH of a 200-byte value, one round trip at a time "
             "(beside W1), from 8 threads at once (beside W1p) and "
             "pipelined ×100 (beside W1b).")
    relay = get(res, "raw", "off", "LPUSH", "relay")
    if relay:
        L.append("")
        L.append("Two-hop floor: the same LPUSH one at a time through a "
                 "relay process that does nothing but forward a framed "
                 "value (client → relay → Redis, jobd's shape): %s "
                 "jobs/s." % fmt(relay))
    L.append("")
    mem = get(res, "jobd", "off", "MEM", "bytes_per_job")
    if mem:
        g = lambda m: get(res, "jobd", "off", "MEM", m)  # noqa: E731
        L.append("jobd memory (N=%d queued 200-byte jobs): %s B per job in "
                 "Redis (%s B beyond the payload); master RSS %s → %s KiB, "
                 "largest worker RSS %s → %s KiB between %d and %d jobs run "
                 "(growth %s%%)." % (
                     mem["n"], fmt(mem), fmt(g("beyond_payload")),
                     fmt(g("master_rss_at")), fmt(g("master_rss_end")),
                     fmt(g("worker_rss_at")), fmt(g("worker_rss_end")),
                     doc["sizes"]["MEM_AT"], mem["n"],
                     fmt(g("rss_growth_pct"))))
        L.append("")
    scale = [(k, v) for k, v in res.items() if v["workload"].startswith(
        "W2/")]
    if scale:
        L.append("| W2 scaling (jobd.noop drain) | jobs/s |")
        L.append("|---|---|")
        for k, v in scale:
            d, w = v["workload"][3:].split("x")
            L.append("| %s daemon%s × %s workers | %s |" % (
                d, "s" if d != "1" else "", w, fmt(v)))
        L.append("")
    if not main:
        del L[i0:]
    L += durable_table(doc) + cluster_table(doc)
    if doc.get("baseline"):
        L += baseline_table(doc)
    if main:
        L.append("| target | measured | met |")
        L.append("|---|---|---|")
        for text, val, ok in doc["targets"]:
            L.append("| %s | %s | %s |" % (text, val, "—" if ok is None
                                           else ("yes" if ok else
                                                 "**no**")))
        L.append("")
    L.append("N per workload: " + ", ".join(
        "%s=%d" % (k, v) for k, v in sorted(doc["n_by_system"].items())))
    L.append("")
    for s, note in PEER_NOTES.items():
        if s in doc["missing"]:
            L.append("- %s: **missing** — %s" % (s, doc["missing"][s]))
        elif any(v["system"] == s for v in res.values()):
            L.append("- " + note + (" Version %s." %
                                    doc["peers"].get(s, "?")))
    if doc["failures"]:
        L.append("")
        L.append("**Failed workloads:**")
        for f in doc["failures"]:
            L.append("- " + f)
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="jobd build directory")
    ap.add_argument("--tools", required=True, help="jobbench/rawpush dir")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--only", default="", help="comma list of workloads")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-aof", action="store_true")
    ap.add_argument("--peers-aof", action="store_true")
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--durable", action="store_true",
                    help="W1/W1b/W2/W3 on a primary + replica, durable no/yes")
    ap.add_argument("--cluster", action="store_true",
                    help="W2 in 1-3 namespaces: one Redis, a 3-primary "
                    "cluster")
    ap.add_argument("--cluster-replicas", type=int, default=0,
                    choices=(0, 1))
    ap.add_argument("--cluster-direct", action="store_true",
                    help="each daemon on its namespace's primary by "
                    "redis:// instead of cluster://")
    ap.add_argument("--no-cluster", action="store_true",
                    help="--cluster's rows on one Redis only")
    ap.add_argument("--missing", action="append", default=[],
                    help="NAME=REASON: a peer the installer could not get")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--build-info", default="")
    ap.add_argument("--commit", default="", help="what the build was built from")
    ap.add_argument("--http", action="store_true",
                    help="this build serves /metrics, scraped once a second")
    ap.add_argument("--baseline", default="",
                    help="a second jobd build, measured beside --build")
    ap.add_argument("--baseline-commit", default="",
                    help="what the baseline was built from")
    a = ap.parse_args()
    s = Suite(a)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    for m in a.missing:
        k, _, v = m.partition("=")
        s.missing[k] = v
    try:
        s.run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    try:
        commit = subprocess.run(["git", "-C", SRC, "describe", "--always",
                                 "--dirty"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL,
                                text=True).stdout.strip() or "?"
    except OSError:
        commit = "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    n_by = {}
    for v in s.results.values():
        n_by["%s %s" % (v["system"], v["workload"])] = v["n"]
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "mode": "smoke" if a.smoke else "full", "runs": s.rounds,
        "jobd_commit": a.commit or commit, "build": a.build_info or "CFLAGS=-O2 -g",
        "redis": getattr(s, "redis_version", "?"),
        "host": {"cpu": cpu, "cpus": os.cpu_count(),
                 "kernel": platform.release()},
        "sizes": s.N, "peers": s.peer_versions, "missing": s.missing,
        "failures": s.failures, "elapsed_s": round(s.elapsed, 1),
        "section_secs": s.section_secs,
        "results": s.results, "n_by_system": n_by,
    }
    if getattr(s, "cluster_info", None):
        doc["cluster"] = s.cluster_info
    if getattr(s, "ns_names", None):
        doc["namespaces"] = s.ns_names
    if a.baseline:
        doc["baseline"] = {"build": a.baseline,
                           "commit": a.baseline_commit or "?"}
    doc["loadavg_end"] = os.getloadavg()
    doc["loadavg_start"] = s.loadavg_start
    doc["targets"] = targets(s.results)
    md = markdown(doc)
    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if a.smoke else "")
    for name in (stamp, "latest-smoke" if a.smoke else "latest"):
        with open(os.path.join(a.out, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(a.out, name + ".md"), "w") as f:
            f.write(md)
    print(md)
    log("results: %s/%s.{json,md} (%.0f s)" % (a.out, stamp, s.elapsed))
    if s.failures:
        log("%d workload(s) FAILED" % len(s.failures))
    # smoke (CI): only jobd's own workloads decide; a flaky peer is shown
    # in the table but does not fail the build.  Full runs: any failure.
    if s.fatal or (s.failures and not a.smoke):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
