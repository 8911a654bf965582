#!/usr/bin/python3
"""jobd exec test handler: prints payload "bytes" bytes (default 2 MiB).

The output is a JSON string ("xxx...x", quotes included in the count), so a
size under the type's max_output is a valid result; over it the job fails
with "output exceeds N bytes".
"""
import json
import sys

record = json.load(sys.stdin)
n = int((record.get("payload") or {}).get("bytes", 2 * 1024 * 1024))
if n >= 2:
    sys.stdout.write('"' + "x" * (n - 2) + '"')
else:
    sys.stdout.write("1" * n)
sys.stdout.flush()
