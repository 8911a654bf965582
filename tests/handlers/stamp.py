#!/usr/bin/python3
"""jobd exec test handler: note when the job ran.

Payload {"dir": D, "sleep": S}: writes D/<job_id>.start (time.time() at
start), sleeps S seconds, writes D/<job_id>.end; prints {"ok": true}.
The limit tests read these stamps: what the handlers saw, not the test's
own clock.
"""
import json
import os
import sys
import time

record = json.load(sys.stdin)
p = record.get("payload") or {}
jid = os.environ.get("JOBD_JOB_ID", "x")


def stamp(kind):
    path = os.path.join(p["dir"], "%s.%s" % (jid, kind))
    with open(path + ".tmp", "w") as f:
        f.write("%.6f" % time.time())
    os.rename(path + ".tmp", path)


stamp("start")
time.sleep(float(p.get("sleep", 0)))
stamp("end")
json.dump({"ok": True}, sys.stdout)
