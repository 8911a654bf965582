"""test_chaos.py: the fault-injection load (issue item 5).

Several thousand jobs (exec via handlers/record.sh and a persistent Python
handler, builtins, some failing, some slow, some canceled) go through two
jobd daemons ("hosts" a and b) on one Redis (AOF, appendfsync always)
while a fault thread SIGKILLs workers and handler children, SIGKILLs and
restarts masters, sends SIGTERM (once or twice) then restarts, sends SIGHUP,
and SIGKILLs and restarts Redis.  Then every accepted job id is accounted
for and every execution beyond the first is checked against the fault log.

Scale: FAULTS_JOBS (3000), FAULTS_SECONDS (fault window, 60),
FAULTS_REDIS_DOWN_CHAOS (seconds Redis stays down, 2), FAULTS_REDIS_RESTARTS
(2), FAULTS_DRAIN (seconds allowed for the queues to drain, 150),
FAULTS_SEED.  Figures go to stdout and to $FAULTS_REPORT (default
<workdir>/faults-report.json, and /tmp/jobd-faults-report.json).
"""
import collections
import json
import os
import random
import signal
import threading
import time

import faults_lib as fl

N_JOBS = fl.env_num("FAULTS_JOBS", 3000, int)
SECONDS = fl.env_num("FAULTS_SECONDS", 60.0)
REDIS_DOWN = fl.env_num("FAULTS_REDIS_DOWN_CHAOS", 2.0)
REDIS_RESTARTS = fl.env_num("FAULTS_REDIS_RESTARTS", 2, int)
DRAIN = fl.env_num("FAULTS_DRAIN", 150.0)
SEED = fl.env_num("FAULTS_SEED", int(time.time()) % 100000, int)
NAMES = ("a", "b")


class Chaos:
    def __init__(self, cluster, redis, flog, rnd):
        self.cl = cluster
        self.redis = redis
        self.flog = flog
        self.rnd = rnd
        self.stop = threading.Event()
        self.orphans = []          # pids alive after their master died
        self.bad_exits = []        # a SIGTERMed master not exiting 0
        self.redis_restarts = 0
        self.errors = []

    def run(self):
        try:
            while not self.stop.wait(self.rnd.uniform(0.4, 1.2)):
                self.one()
        except Exception as e:   # a broken harness must not hang the test
            self.errors.append(repr(e))

    def pick_daemon(self):
        live = self.cl.live()
        return self.rnd.choice(live) if live else None

    def one(self):
        kinds = [("kill_handler", 30), ("kill_worker", 25),
                 ("kill_master", 7), ("sigterm", 5), ("sigterm2", 3),
                 ("sighup", 6), ("redis", 3)]
        kind = self.rnd.choices([k for k, _ in kinds],
                                [w for _, w in kinds])[0]
        d = self.pick_daemon()
        if d is None:
            return
        if kind in ("kill_handler", "kill_worker"):
            workers, handlers = fl.descendants(d.pid)
            pool = handlers if kind == "kill_handler" else workers
            if kind == "kill_worker" and handlers:
                # prefer busy workers: the interesting case
                busy = [w for w in workers if it_children(w)]
                pool = busy or workers
            if not pool:
                return
            pid = self.rnd.choice(pool)
            if fl.kill(pid):
                self.flog.add(kind, pid, d.name)
        elif kind == "kill_master":
            if len(self.cl.live()) < 2:
                return            # keep one host up
            procs = fl.tree(d.pid)
            workers, handlers = fl.descendants(d.pid)
            fl.kill(d.pid)
            d.proc.wait()
            self.flog.add("kill_master", d.pid, d.name,
                          "workers %s" % workers)
            self.check_orphans(procs, "SIGKILL of master %d" % d.pid)
            # the host stays away for a while (past a lease, sometimes)
            self.stop.wait(self.rnd.uniform(0.2, 4.0))
            self.restart(d.name)
        elif kind in ("sigterm", "sigterm2"):
            if len(self.cl.live()) < 2:
                return
            procs = fl.tree(d.pid)
            d.proc.send_signal(signal.SIGTERM)
            self.flog.add("sigterm", d.pid, d.name)
            if kind == "sigterm2":
                time.sleep(self.rnd.uniform(0.05, 0.5))
                d.proc.send_signal(signal.SIGTERM)
                self.flog.add("sigterm2", d.pid, d.name)
            try:
                rc = d.proc.wait(30)
            except Exception:
                d.proc.kill()
                rc = d.proc.wait()
                self.bad_exits.append("%s pid %d did not exit 30 s after "
                                      "SIGTERM" % (d.name, d.pid))
            if rc != 0:
                self.bad_exits.append("%s pid %d exited %s after SIGTERM"
                                      % (d.name, d.pid, rc))
            self.check_orphans(procs, "SIGTERM of master %d" % d.pid)
            self.restart(d.name)
        elif kind == "sighup":
            d.proc.send_signal(signal.SIGHUP)
            self.flog.add("sighup", d.pid, d.name)
        elif kind == "redis":
            if self.redis_restarts >= REDIS_RESTARTS:
                return
            self.redis_restarts += 1
            self.redis.kill()
            self.flog.add("redis_kill", self.redis.proc.pid)
            self.stop.wait(REDIS_DOWN)
            self.redis.start()
            self.flog.add("redis_start", self.redis.proc.pid)

    def check_orphans(self, pids, why, timeout=4.0):
        deadline = time.monotonic() + timeout
        left = list(pids)
        while left and time.monotonic() < deadline:
            left = [p for p in left if fl.it.pid_alive(p)]
            time.sleep(0.05)
        for p in left:
            try:
                with open("/proc/%d/cmdline" % p) as f:
                    cmd = f.read().replace("\0", " ").strip()
            except OSError:
                cmd = "?"
            self.orphans.append("%d (%s) after %s" % (p, cmd, why))
            fl.kill(p)

    def restart(self, name):
        for _ in range(3):
            try:
                d = self.cl.start(name, wait=True, timeout=40)
                self.flog.add("master_start", d.pid, name)
                return
            except Exception as e:
                self.errors.append("restart %s: %r" % (name, e))
                time.sleep(1)


def it_children(pid):
    return fl.it.child_pids(pid)


def explain(job, runs, killed, redis_spans, master_kills=()):
    """explain: for each execution but the last: ('retry', e) after an
    intentional failure, ('explained', e, why) when its handler, worker or
    master was killed (or its master SIGTERMed) after it started, or
    ('unexplained', e, hint)."""
    out = []
    for i, e in enumerate(runs[:-1]):
        nxt = runs[i + 1]
        if e.end == "fail":
            out.append(("retry", e, "intentional failure"))
            continue
        why = None
        for pid, role in ((e.pid, "handler"), (e.worker, "worker"),
                          (e.master, "master")):
            t = killed.get(pid)
            if t is not None and t >= e.t - 0.05:
                why = "%s %d killed/stopped" % (role, pid)
                break
        if why is None and e.master == 1:
            # The worker's master was already dead when the handler
            # started (the worker took the job in the instant between its
            # master's death and its own): a master kill just before.
            t = max((t for t in master_kills if t <= e.t + 0.05),
                    default=None)
            if t is not None and e.t - t < 5:
                why = "worker %d orphaned by a master kill %.2f s before" % (
                    e.worker, e.t - t)
        if why:
            out.append(("explained", e, why))
            continue
        hint = "holder alive"
        for (t0, t1) in redis_spans:
            if t0 <= nxt.t and t1 >= e.t - 1:
                hint = "holder alive; a Redis outage %.1f..%.1f overlaps" % (
                    t0, t1)
        out.append(("unexplained", e, hint))
    return out


def test_chaos_load(cluster, aof_redis, fworkdir, capsys):
    rnd = random.Random(SEED)
    flog = fl.FaultLog()
    for n in NAMES:
        cluster.start(n)
    specs = fl.job_specs(N_JOBS, SEED)
    kind_of = {s["job_id"]: k for k, s in specs}
    sub = fl.Submitter(cluster, NAMES)
    chaos = Chaos(cluster, aof_redis, flog, rnd)
    th = threading.Thread(target=chaos.run, daemon=True)
    t_start = time.monotonic()
    th.start()

    # Submit, spread over 85% of the fault window.
    span = SECONDS * 0.85
    cancels = collections.deque()
    cancel_results = collections.Counter()
    for i, (kind, spec) in enumerate(specs):
        due = t_start + span * i / max(1, len(specs))
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if sub.submit(spec) and kind == "cancel":
            cancels.append((time.monotonic() + rnd.uniform(0, 1.5),
                            spec["job_id"]))
        if i % 25 == 0 and sub.pending:
            sub.retry_pending(10)
        while cancels and cancels[0][0] <= time.monotonic():
            _, jid = cancels.popleft()
            r = sub.call({"op": "cancel", "job_id": jid})
            cancel_results["ok" if r and r.get("ok") else
                           (r or {}).get("error", {}).get("code", "noanswer")] += 1
    rest = t_start + SECONDS - time.monotonic()
    if rest > 0:
        time.sleep(rest)
    chaos.stop.set()
    th.join(120)
    assert not th.is_alive(), "the fault thread is stuck"
    t_faults_end = time.monotonic()

    # Every host up again, every pending submit retried.
    if aof_redis.proc.poll() is not None:
        aof_redis.start()
    for n in NAMES:
        if n not in cluster.daemons or not cluster.daemons[n].alive():
            cluster.start(n)
    deadline = time.monotonic() + 60
    while sub.pending and time.monotonic() < deadline:
        sub.retry_pending(100)
        if sub.pending:
            time.sleep(0.2)
    for _, jid in cancels:
        sub.call({"op": "cancel", "job_id": jid})
    sub.close()

    # Drain: every accepted job terminal (bounded).
    rc = aof_redis.client()
    ids = list(sub.accepted)
    deadline = time.monotonic() + DRAIN
    while True:
        recs = fl.read_records(rc, ids)
        open_ = [j for j, h in recs.items()
                 if h is not None and h.get("status") not in fl.TERMINAL]
        if not open_ or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    t_drained = time.monotonic()
    time.sleep(0.5)   # the last "end" lines
    runs = fl.read_exec_log(cluster.exec_log)

    # --- accounting ------------------------------------------------------
    status = collections.Counter()
    lost, stuck, failed_no_reason, record_silent = [], [], [], []
    finished_unrun, never_accepted_ran = [], []
    fail_reasons = collections.Counter()
    killed = flog.killed()
    master_kills = [ev["t"] for ev in flog.events
                    if ev["kind"] in ("kill_master", "sigterm", "sigterm2")]
    spans = flog.redis_down()
    n_exec = dups = explained = retries = 0
    unexplained = []
    for jid in ids:
        h = recs.get(jid)
        if h is None:
            lost.append(jid)
            continue
        st = h.get("status")
        status[st] += 1
        if st not in fl.TERMINAL:
            stuck.append((jid, st, h.get("owner"), h.get("lease_until")))
        if st == "failed":
            err = (h.get("error") or "").strip()
            if not err:
                failed_no_reason.append(jid)
            fail_reasons[_reason(err)] += 1
        r = runs.get(jid, [])
        n_exec += len(r)
        if st == "finished" and kind_of[jid] in ("f.quick", "f.short",
                                                  "f.slow", "f.pers") and \
                not any(e.end == "ok" for e in r):
            finished_unrun.append(jid)
        ex = explain(jid, r, killed, spans, master_kills)
        job_dup_explained = False
        for verdict, e, why in ex:
            if verdict == "retry":
                retries += 1
                continue
            dups += 1
            if verdict == "explained":
                explained += 1
                if "master" not in why:
                    job_dup_explained = True
            else:
                unexplained.append((jid, e, why, h.get("attempts"),
                                    h.get("lost"), h.get("errors")))
        if job_dup_explained:
            # a killed holder must show in the record
            if int(h.get("attempts") or 0) < 2 and int(h.get("lost") or 0) == 0 \
                    and not h.get("errors"):
                record_silent.append(jid)
    for jid in runs:
        if jid not in sub.accepted and jid in kind_of:
            never_accepted_ran.append(jid)

    fig = {
        "seed": SEED,
        "jobs_planned": N_JOBS,
        "jobs_submitted": len(ids),
        "submit_calls": sub.attempts,
        "submit_errors": dict(sub.errors),
        "submit_max_latency_s": round(sub.max_latency, 3),
        "never_accepted": len(sub.pending),
        "faults_injected": sum(v for k, v in flog.counts().items()
                               if k not in ("master_start", "redis_start")),
        "faults": flog.counts(),
        "finished": status["finished"],
        "failed": status["failed"],
        "canceled": status["canceled"],
        "fail_reasons": dict(fail_reasons.most_common(12)),
        "cancel_answers": dict(cancel_results),
        "jobs_lost": len(lost),
        "jobs_stuck": len(stuck),
        "failed_without_reason": len(failed_no_reason),
        "finished_without_a_run": len(finished_unrun),
        "executions_logged": n_exec,
        "retries_after_intentional_failure": retries,
        "duplicates": dups,
        "duplicates_explained": explained,
        "duplicates_unexplained": len(unexplained),
        "record_silent_about_killed_holder": len(record_silent),
        "orphan_processes": len(chaos.orphans),
        "bad_master_exits": chaos.bad_exits,
        "harness_errors": chaos.errors,
        "fault_seconds": round(t_faults_end - t_start, 1),
        "drain_seconds": round(t_drained - t_faults_end, 1),
        "settings": {k: cluster.settings[k] for k in
                     ("lease", "grace", "shutdown_grace", "workers")},
        "redis_down_s": REDIS_DOWN,
    }
    rep_path = os.environ.get("FAULTS_REPORT") or os.path.join(
        fworkdir, "faults-report.json")
    for p in {rep_path, "/tmp/jobd-faults-report.json"}:
        with open(p, "w") as f:
            json.dump(fig, f, indent=2, sort_keys=True)
    flog.dump(os.path.join(fworkdir, "faults.json"))
    with capsys.disabled():
        print("\n==== jobd fault-injection figures (seed %d) ====" % SEED)
        for k in ("jobs_submitted", "submit_calls", "never_accepted",
                  "faults_injected", "finished", "failed", "canceled",
                  "jobs_lost", "jobs_stuck", "failed_without_reason",
                  "executions_logged", "retries_after_intentional_failure",
                  "duplicates", "duplicates_explained",
                  "duplicates_unexplained", "record_silent_about_killed_holder",
                  "orphan_processes", "submit_max_latency_s",
                  "fault_seconds", "drain_seconds"):
            print("  %-36s %s" % (k, fig[k]))
        print("  %-36s %s" % ("faults", fig["faults"]))
        print("  %-36s %s" % ("fail_reasons", fig["fail_reasons"]))
        print("  %-36s %s" % ("submit_errors", fig["submit_errors"]))
        print("  report: %s" % rep_path)
        for jid, e, why, att, lst, errs in unexplained[:15]:
            print("  UNEXPLAINED DUPLICATE %s: run pid %d worker %d master %d "
                  "at %.2f end=%s (%s); record attempts=%s lost=%s errors=%s"
                  % (jid, e.pid, e.worker, e.master, e.t, e.end, why, att,
                     lst, errs))
        for s in stuck[:15]:
            print("  STUCK %s status=%s owner=%s lease_until=%s" % s)
        for o in chaos.orphans[:10]:
            print("  ORPHAN process still alive 4 s later: %s" % o)
        for jid in lost[:15]:
            print("  LOST %s (accepted, no record)" % jid)

    problems = []
    if lost:
        problems.append("DAEMON BUG: %d accepted jobs lost: %s" % (len(lost), lost[:10]))
    if stuck:
        problems.append("DAEMON BUG: %d jobs stuck after %.0f s: %s"
                        % (len(stuck), DRAIN, stuck[:10]))
    if failed_no_reason:
        problems.append("failed without a reason: %s" % failed_no_reason[:10])
    if finished_unrun:
        problems.append("finished but no completed run logged: %s" % finished_unrun[:10])
    if unexplained:
        problems.append("DAEMON BUG (at-least-once): %d duplicate runs whose "
                        "holder did not die: %s" % (
                            len(unexplained),
                            [(u[0], u[2]) for u in unexplained[:5]]))
    if record_silent:
        problems.append("record does not show a killed holder: %s" % record_silent[:10])
    if chaos.orphans:
        problems.append("DAEMON BUG: processes outlived their master: %s" % chaos.orphans[:10])
    if chaos.bad_exits:
        problems.append("SIGTERM: %s" % chaos.bad_exits)
    if chaos.errors:
        problems.append("harness: %s" % chaos.errors)
    if sub.pending:
        problems.append("%d submits never accepted (daemon unavailable for "
                        "60 s after the faults)" % len(sub.pending))
    assert not problems, "\n".join(problems)


def _reason(err):
    e = err.lower()
    for key in ("intentional failure", "abandoned", "worker died",
                "killed by signal", "signal", "timeout", "canceled", "shutdown",
                "always fails", "fail"):
        if key in e:
            return key
    return err[:40]
