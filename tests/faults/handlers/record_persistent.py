#!/usr/bin/python3
"""record_persistent.py LOG: a persistent exec handler (one JSON job per
stdin line, one JSON answer per stdout line) that logs every execution to
LOG like record.sh: "start JOB_ID ATTEMPT PID WORKER_PID MASTER_PID UPTIME"
and "end JOB_ID ATTEMPT PID ok|fail".  Payload: {"ms": N, "fail": bool}."""
import json
import os
import sys
import time

LOG = sys.argv[1]


def log(line):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def master_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def main():
    ppid = os.getppid()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            job = json.loads(line)
        except ValueError:
            print(json.dumps({"error": "bad input"}), flush=True)
            continue
        jid = job.get("job_id", "?")
        att = job.get("attempts", 0)
        with open("/proc/uptime") as f:
            up = f.read().split()[0]
        log("start %s %s %d %d %d %s" % (jid, att, os.getpid(), ppid,
                                         master_of(ppid), up))
        p = job.get("payload") or {}
        time.sleep(float(p.get("ms", 0)) / 1000.0)
        if p.get("fail"):
            log("end %s %s %d fail" % (jid, att, os.getpid()))
            print(json.dumps({"error": "intentional failure (persistent)"}),
                  flush=True)
        else:
            log("end %s %s %d ok" % (jid, att, os.getpid()))
            print(json.dumps({"result": {"pid": os.getpid()}}), flush=True)


if __name__ == "__main__":
    main()
