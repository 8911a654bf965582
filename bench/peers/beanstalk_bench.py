#!/usr/bin/python3
"""beanstalk_bench.py: the beanstalkd side of bench/run.sh, with a minimal
client of its text protocol (no client package needed).

  beanstalk_bench.py HOST:PORT put N C          W1/W1p: C processes put N/C
  beanstalk_bench.py HOST:PORT drain N W KIND   W2: W worker processes
                                                reserve+delete; KIND noop |
                                                exec (run /bin/true per job)
  beanstalk_bench.py HOST:PORT latency N        W3: put, the worker answers
                                                on a reply tube

One JSON line on stdout; exit 1 on failure.  Bounded by N and deadlines.
"""
import json
import multiprocessing as mp
import socket
import subprocess
import sys
import time

BODY = json.dumps({"data": "x" * 189}).encode()  # 200 bytes
DEADLINE = 900.0


class Beanstalk:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), 10)
        self.s.settimeout(60)
        self.f = self.s.makefile("rb")

    def cmd(self, line, body=None):
        data = line.encode() + b"\r\n"
        if body is not None:
            data += body + b"\r\n"
        self.s.sendall(data)
        return self.reply()

    def reply(self):
        head = self.f.readline()
        if not head:
            raise OSError("beanstalkd closed the connection")
        parts = head.split()
        if parts[0] in (b"RESERVED", b"OK", b"FOUND"):
            body = self.f.read(int(parts[-1]) + 2)[:-2]
            return parts, body
        return parts, None

    def put(self, body, tube_pri=1024):
        parts, _ = self.cmd("put %d 0 60 %d" % (tube_pri, len(body)), body)
        if parts[0] != b"INSERTED":
            raise RuntimeError("put: %r" % parts)
        return int(parts[1])

    def use(self, tube):
        self.cmd("use " + tube)

    def watch(self, tube):
        self.cmd("watch " + tube)
        self.cmd("ignore default")


def out(**kw):
    print(json.dumps(kw))


def _putter(addr, n, start, done):
    b = Beanstalk(addr)
    b.use("bench")
    start.wait()
    for _ in range(n):
        b.put(BODY)
    done.put(n)


def cmd_put(addr, n, c):
    if c == 1:
        b = Beanstalk(addr)
        b.use("bench")
        t0 = time.perf_counter()
        for _ in range(n):
            b.put(BODY)
        secs = time.perf_counter() - t0
        return out(n=n, clients=1, secs=secs, jobs_per_s=n / secs)
    ctx = mp.get_context("fork")
    start, done = ctx.Event(), ctx.Queue()
    ps = [ctx.Process(target=_putter, args=(addr, n // c + (i < n % c),
                                            start, done)) for i in range(c)]
    for p in ps:
        p.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    start.set()
    total = sum(done.get(timeout=DEADLINE) for _ in ps)
    secs = time.perf_counter() - t0
    for p in ps:
        p.join(10)
    out(n=total, clients=c, secs=secs, jobs_per_s=total / secs)


def _worker(addr, kind, start, done, reply):
    b = Beanstalk(addr)
    b.watch("bench")
    if reply:
        b.use("reply")
    start.wait()
    k = 0
    while True:
        parts, body = b.cmd("reserve-with-timeout 1")
        if parts[0] == b"TIMED_OUT":
            if not reply:
                break
            continue
        if parts[0] != b"RESERVED":
            raise RuntimeError("reserve: %r" % parts)
        if kind == "exec":
            subprocess.run(["/bin/true"], check=True)
        b.cmd("delete " + parts[1].decode())
        if reply:
            b.put(parts[1])
        k += 1
    done.put(k)


def cmd_drain(addr, n, w, kind):
    b = Beanstalk(addr)
    b.use("bench")
    for _ in range(n):
        b.put(BODY)
    ctx = mp.get_context("fork")
    start, done = ctx.Event(), ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(addr, kind, start, done, False))
          for _ in range(w)]
    for p in ps:
        p.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    start.set()
    # the workers stop after 1 s without a job: time the last delete
    # through the server's counter instead of their exit.
    while True:
        parts, body = b.cmd("stats-tube bench")
        st = dict(line.split(": ", 1) for line in body.decode().splitlines()
                  if ": " in line)
        if int(st["total-jobs"]) >= n and int(st["current-jobs-ready"]) == 0 \
                and int(st["current-jobs-reserved"]) == 0:
            break
        if time.perf_counter() - t0 > DEADLINE:
            sys.exit("drain: deadline")
        time.sleep(0.002)
    secs = time.perf_counter() - t0
    total = sum(done.get(timeout=60) for _ in ps)
    for p in ps:
        p.join(10)
    if total != n:
        sys.exit("drain: %d of %d jobs" % (total, n))
    out(n=n, workers=w, kind=kind, secs=secs, jobs_per_s=n / secs)


def cmd_latency(addr, n):
    ctx = mp.get_context("fork")
    start, done = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=_worker, args=(addr, "noop", start, done, True),
                    daemon=True)
    p.start()
    start.set()
    b = Beanstalk(addr)
    b.use("bench")
    b.watch("reply")
    lat = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            jid = b.put(BODY)
            parts, body = b.cmd("reserve-with-timeout 30")
            if parts[0] != b"RESERVED" or int(body) != jid:
                sys.exit("latency: %r %r" % (parts, body))
            b.cmd("delete " + parts[1].decode())
            lat.append(time.perf_counter() - t0)
    finally:
        p.terminate()
        p.join(5)
    lat.sort()
    out(n=n, p50_ms=lat[(n - 1) // 2] * 1e3,
        p99_ms=lat[int((n - 1) * 0.99)] * 1e3, max_ms=lat[-1] * 1e3,
        mean_ms=sum(lat) / n * 1e3)


def main(argv):
    addr, cmd = argv[0], argv[1]
    a = [int(x) if x.isdigit() else x for x in argv[2:]]
    {"put": cmd_put, "drain": cmd_drain, "latency": cmd_latency}[cmd](addr,
                                                                      *a)


if __name__ == "__main__":
    main(sys.argv[1:])
