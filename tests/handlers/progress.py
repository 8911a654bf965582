#!/usr/bin/python3
"""jobd exec test handler: reports progress.

Writes three progress lines ({"percent": 33|66|100, "message": "step N"})
to the descriptor named by $JOBD_PROGRESS_FD, sleeping payload "step"
seconds (default 0.2) before each, then prints {"steps": 3}.
"""
import json
import os
import sys
import time

record = json.load(sys.stdin)
payload = record.get("payload") or {}
step = float(payload.get("step", 0.2))
fd = int(os.environ["JOBD_PROGRESS_FD"])
with os.fdopen(fd, "w", buffering=1) as progress:
    for i, percent in enumerate((33, 66, 100), start=1):
        time.sleep(step)
        progress.write(json.dumps({"percent": percent,
                                   "message": "step %d" % i}) + "\n")
print(json.dumps({"steps": 3}))
