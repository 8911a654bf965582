#!/usr/bin/python3
"""jobd exec test handler: echo the payload back.

Reads the job record (JSON) on stdin and prints
{"echo": <payload>, "attempt": $JOBD_ATTEMPT, "job_id": $JOBD_JOB_ID}.
"""
import json
import os
import sys

record = json.load(sys.stdin)
json.dump({
    "echo": record.get("payload"),
    "attempt": int(os.environ.get("JOBD_ATTEMPT", "0")),
    "job_id": os.environ.get("JOBD_JOB_ID"),
}, sys.stdout)
