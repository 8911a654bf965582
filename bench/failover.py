#!/usr/bin/python3
"""failover.py: what a Sentinel failover costs jobd's clients (not run in CI).

For each `durable` setting asked for: a master, 2 replicas and 3
redis-sentinel processes on loopback ports (tests/integration/
redis_topology.py), one jobd on `redis = sentinel://...`, a steady submit
load (one client, one submit every --interval s); after --before s the
master is SIGKILLed; the load runs on until --after s past the switch.
Then every accepted job is looked up.  Printed per run:

- switch: SIGKILL to the moment every sentinel names the new master, ms;
- failing: first to last failing submit, ms, and the failures by code;
- lost: accepted submits whose job is not found afterwards (acknowledged
  and lost), and what became of the in_doubt ones.

Usage: bench/failover.py [--builddir DIR] [--durable no|yes|both]
           [--runs N] [--interval S] [--before S] [--after S] [--json]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", default=os.path.join(REPO, "_build"))
    ap.add_argument("--durable", choices=("no", "yes", "both"), default="both")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.005,
                    help="seconds between submits (default 0.005)")
    ap.add_argument("--before", type=float, default=2.0)
    ap.add_argument("--after", type=float, default=3.0)
    ap.add_argument("--json", action="store_true", help="one JSON line per run")
    return ap.parse_args()


def one_run(durable, args):
    from pyfixtures import Jobd
    from redis_topology import SentinelTopology, SubmitLoad, final_states
    root = tempfile.mkdtemp(prefix="jdfo", dir="/tmp")
    topo = d = None
    try:
        topo = SentinelTopology(os.path.join(root, "st"), replicas=2)
        d = Jobd(root, {"socket": os.path.join(root, "jobd.sock"),
                        "redis": topo.url(), "workers": 2,
                        "log_level": "notice", "durable": durable})
        d.start()
        with SubmitLoad(d.sock, interval=args.interval) as load:
            time.sleep(args.before)
            t0 = time.monotonic()
            old = topo.kill_master()
            topo.wait_new_master(old)
            switch_ms = (time.monotonic() - t0) * 1000
            time.sleep(args.after)
        states = final_states(d.sock, load.ids(), timeout=60)
        doubt = final_states(d.sock, [j for _, c, j in load.errors
                                      if c == "in_doubt" and j], timeout=60)
        return {
            "durable": durable,
            "submits": len(load.accepted) + len(load.errors),
            "accepted": len(load.accepted),
            "switch_ms": round(switch_ms),
            "failing_ms": round(load.outage_ms()),
            "failed": load.codes(),
            "lost": sum(1 for s in states.values() if s == "not_found"),
            "in_doubt_found": sum(1 for s in doubt.values() if s != "not_found"),
            "in_doubt_absent": sum(1 for s in doubt.values() if s == "not_found"),
            "same_pid": d.alive(),
        }
    finally:
        if d is not None:
            d.stop()
            d.finish()
        if topo is not None:
            topo.stop()
        shutil.rmtree(root, ignore_errors=True)


def main():
    args = parse()
    os.environ.setdefault("JOBD_BUILDDIR", os.path.abspath(args.builddir))
    sys.path[:0] = [os.path.join(REPO, "tests"),
                    os.path.join(REPO, "tests", "integration")]
    modes = ["no", "yes"] if args.durable == "both" else [args.durable]
    rows = []
    for _ in range(args.runs):
        for m in modes:
            r = one_run(m == "yes", args)
            rows.append(r)
            if args.json:
                print(json.dumps(r), flush=True)
    if not args.json:
        print("| durable | submits | accepted | switch ms | submits failing ms "
              "| failed by code | acknowledged lost | in_doubt found/absent | jobd kept running |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print("| %s | %d | %d | %d | %d | %s | %d | %d/%d | %s |" % (
                "yes" if r["durable"] else "no", r["submits"], r["accepted"],
                r["switch_ms"], r["failing_ms"],
                ", ".join("%s %d" % kv for kv in sorted(r["failed"].items())) or "none",
                r["lost"], r["in_doubt_found"], r["in_doubt_absent"],
                "yes" if r["same_pid"] else "NO"))


if __name__ == "__main__":
    main()
