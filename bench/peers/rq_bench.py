#!/usr/bin/python3
"""rq_bench.py: the RQ side of bench/run.sh (Debian's python3-rq).

  rq_bench.py SOCK enqueue N          W1: Queue.enqueue, one at a time
  rq_bench.py SOCK enqueue_par N C    W1p: C processes enqueueing N/C each
  rq_bench.py SOCK enqueue_many N B   W1b: enqueue_many, pipelines of B
  rq_bench.py SOCK drain N W KIND F   W2: N queued jobs, W worker processes;
                                      KIND simple (SimpleWorker) or fork
                                      (Worker); F noop, or pyimport (a job
                                      importing the handler's modules)
  rq_bench.py SOCK latency N          W3: enqueue + poll the status (1 ms
                                      sleeps) with one SimpleWorker running
  rq_bench.py SOCK memory N           Redis used_memory delta per queued job

SOCK is the Redis Unix socket.  Prints one JSON object; exit 1 on failure.
Payload: a dict with a string, about 200 bytes, like jobd's benchmark jobs.
Every loop is bounded by N and a deadline.
"""
import json
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis import Redis  # noqa: E402
from rq import Queue, SimpleWorker, Worker  # noqa: E402
from rq.job import JobStatus  # noqa: E402

import rqjobs  # noqa: E402

PAYLOAD = {"data": "x" * 189}  # json.dumps(PAYLOAD) is 200 bytes
DEADLINE = 900.0


def conn(sock):
    return Redis(unix_socket_path=sock)


def out(**kw):
    print(json.dumps(kw))


def cmd_enqueue(sock, n):
    q = Queue("bench", connection=conn(sock))
    t0 = time.perf_counter()
    for _ in range(n):
        q.enqueue(rqjobs.noop, PAYLOAD)
    secs = time.perf_counter() - t0
    out(n=n, secs=secs, jobs_per_s=n / secs)


def _enqueue_child(sock, n, start, done):
    q = Queue("bench", connection=conn(sock))
    start.wait()
    for _ in range(n):
        q.enqueue(rqjobs.noop, PAYLOAD)
    done.put(n)


def cmd_enqueue_par(sock, n, c):
    ctx = mp.get_context("fork")
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_enqueue_child,
                         args=(sock, n // c + (i < n % c), start, done))
             for i in range(c)]
    for p in procs:
        p.start()
    time.sleep(0.3)  # let every child connect before the clock starts
    t0 = time.perf_counter()
    start.set()
    total = sum(done.get(timeout=DEADLINE) for _ in procs)
    secs = time.perf_counter() - t0
    for p in procs:
        p.join(10)
    if total != n:
        sys.exit("enqueue_par: %d of %d" % (total, n))
    out(n=n, clients=c, secs=secs, jobs_per_s=n / secs)


def cmd_enqueue_many(sock, n, batch):
    r = conn(sock)
    q = Queue("bench", connection=r)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        k = min(batch, n - done)
        with r.pipeline() as pipe:
            q.enqueue_many([Queue.prepare_data(rqjobs.noop, (PAYLOAD,))
                            for _ in range(k)], pipeline=pipe)
            pipe.execute()
        done += k
    secs = time.perf_counter() - t0
    out(n=n, batch=batch, secs=secs, jobs_per_s=n / secs)


def fill(r, q, n, func):
    done = 0
    while done < n:
        k = min(1000, n - done)
        with r.pipeline() as pipe:
            q.enqueue_many([Queue.prepare_data(func, (PAYLOAD,))
                            for _ in range(k)], pipeline=pipe)
            pipe.execute()
        done += k


def _worker_child(sock, kind, start):
    r = conn(sock)
    q = Queue("bench", connection=r)
    cls = SimpleWorker if kind == "simple" else Worker
    w = cls([q], connection=r)
    start.wait()
    w.work(burst=True, logging_level="WARNING")
    os._exit(0)


def cmd_drain(sock, n, workers, kind, func="noop"):
    r = conn(sock)
    q = Queue("bench", connection=r)
    func = getattr(rqjobs, func)
    fill(r, q, n, func)
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_worker_child, args=(sock, kind, start))
             for _ in range(workers)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # imports and connections done before the clock
    t0 = time.perf_counter()
    start.set()
    for p in procs:
        p.join(max(1.0, DEADLINE - (time.perf_counter() - t0)))
    secs = time.perf_counter() - t0
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    finished = q.finished_job_registry.count
    failed = q.failed_job_registry.count
    if alive or finished != n:
        sys.exit("drain: %d finished, %d failed of %d%s" %
                 (finished, failed, n, " (timeout)" if alive else ""))
    out(n=n, workers=workers, kind=kind, secs=secs, jobs_per_s=n / secs)


def _latency_worker(sock, ready):
    r = conn(sock)
    w = SimpleWorker([Queue("bench", connection=r)], connection=r)
    ready.set()
    w.work(burst=False, logging_level="WARNING")


def cmd_latency(sock, n):
    r = conn(sock)
    q = Queue("bench", connection=r)
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_latency_worker, args=(sock, ready))
    p.start()
    ready.wait(30)
    time.sleep(0.5)
    lat = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            job = q.enqueue(rqjobs.noop, PAYLOAD)
            deadline = t0 + 30
            while True:
                st = job.get_status(refresh=True)
                if st == JobStatus.FINISHED:
                    break
                if st == JobStatus.FAILED or time.perf_counter() > deadline:
                    sys.exit("latency: job %s is %s" % (job.id, st))
                time.sleep(0.001)
            lat.append(time.perf_counter() - t0)
    finally:
        p.terminate()
        p.join(10)
        if p.is_alive():
            p.kill()
    lat.sort()
    out(n=n, p50_ms=lat[(n - 1) // 2] * 1e3,
        p99_ms=lat[int((n - 1) * 0.99)] * 1e3, max_ms=lat[-1] * 1e3,
        mean_ms=sum(lat) / n * 1e3)


def cmd_memory(sock, n):
    r = conn(sock)
    q = Queue("bench", connection=r)
    before = r.info("memory")["used_memory"]
    fill(r, q, n, rqjobs.noop)
    after = r.info("memory")["used_memory"]
    out(n=n, bytes_per_job=(after - before) / n,
        payload_bytes=len(json.dumps(PAYLOAD)))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    sock, cmd, a = argv[0], argv[1], [int(x) if x.isdigit() else x
                                      for x in argv[2:]]
    {"enqueue": cmd_enqueue, "enqueue_par": cmd_enqueue_par,
     "enqueue_many": cmd_enqueue_many, "drain": cmd_drain,
     "latency": cmd_latency, "memory": cmd_memory}[cmd](sock, *a)


if __name__ == "__main__":
    main(sys.argv[1:])
