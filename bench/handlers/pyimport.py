#!/usr/bin/python3
"""pyimport.py: the benchmark's stand-in for the story app's job handler.

It imports what a Python web app's job module typically pulls in (a
SQLite store, an HTTP client for the LLM, JSON, e-mail/MIME for exports),
so that each one-shot run pays a realistic interpreter + import start-up.

  pyimport.py               one-shot: the job record on stdin, result on stdout
  pyimport.py --persistent  one JSON job per stdin line, one answer per line
"""
import json
import sqlite3  # noqa: F401  (the import cost is the point)
import sys
import urllib.request  # noqa: F401
import email.message  # noqa: F401
import html  # noqa: F401
import logging  # noqa: F401


def handle(job):
    payload = job.get("payload") if isinstance(job, dict) else None
    n = len(json.dumps(payload)) if payload is not None else 0
    return {"bytes": n}


def main():
    if "--persistent" in sys.argv[1:]:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                out = {"result": handle(json.loads(line))}
            except Exception as e:  # answer, never die on one bad job
                out = {"error": str(e)}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
        return 0
    job = json.load(sys.stdin)
    json.dump(handle(job), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
