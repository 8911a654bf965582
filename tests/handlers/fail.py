#!/usr/bin/python3
"""jobd exec test handler: always fails.

Writes "something broke" to stderr and exits with status 3, so the job's
error is "exit status 3: something broke".
"""
import sys

sys.stdin.read()
sys.stderr.write("something broke\n")
sys.exit(3)
