#!/usr/bin/python3
"""jobd exec test handler: leaves a grandchild behind.

Starts a grandchild `sleep 1000` (same process group), writes
"<handler pid> <grandchild pid>\n" to the file named by payload "pidfile",
then sleeps payload "seconds" (default 1000) and prints {}.  The worker
must kill the grandchild with the handler (timeout, cancel, or exit).
"""
import json
import os
import subprocess
import sys
import time

record = json.load(sys.stdin)
payload = record.get("payload") or {}
child = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
tmp = payload["pidfile"] + ".tmp"
with open(tmp, "w") as f:
    f.write("%d %d\n" % (os.getpid(), child.pid))
os.rename(tmp, payload["pidfile"])
time.sleep(float(payload.get("seconds", 1000)))
print("{}")
