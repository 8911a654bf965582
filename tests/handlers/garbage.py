#!/usr/bin/python3
"""jobd exec test handler: prints something that is not JSON and exits 0.

The job fails with "handler output is not JSON: this is not json <<<".
"""
import sys

sys.stdin.read()
sys.stdout.write("this is not json <<<\n")
