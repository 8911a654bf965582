#!/usr/bin/python3
"""jobd persistent exec test handler (the JSON-lines protocol).

For each line on stdin (a job record): if payload "progress" is set, first
prints {"progress": {"percent": 50, "message": "half"}}; if payload "sleep"
is set, sleeps that many seconds; then prints
{"result": {"pid": <this process's pid>, "echo": <payload>}}.
payload {"crash": true} -> exits 1 without an answer (stderr "crashing");
payload {"garbage": true} -> prints a line that is not the protocol;
payload {"error": "msg"} -> prints {"error": "msg"} (the process lives on).
The pid in the result shows whether the process was kept or restarted.
"""
import json
import os
import sys
import time


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    record = json.loads(line)
    payload = record.get("payload")
    p = payload if isinstance(payload, dict) else {}
    if p.get("crash"):
        sys.stderr.write("crashing\n")
        sys.exit(1)
    if p.get("garbage"):
        sys.stdout.write("this is garbage\n")
        sys.stdout.flush()
        continue
    if p.get("progress"):
        say({"progress": {"percent": 50, "message": "half"}})
    if p.get("sleep"):
        time.sleep(float(p["sleep"]))
    if "error" in p:
        say({"error": str(p["error"])})
        continue
    say({"result": {"pid": os.getpid(), "echo": payload}})
