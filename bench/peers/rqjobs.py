"""Job functions for the RQ peer benchmark (imported by RQ's workers)."""


def noop(data):
    return {}


def pyimport(data):
    # the same imports as bench/handlers/pyimport.py (RQ's forking worker
    # imports this module in each work horse unless the parent preloaded it)
    import json
    import sqlite3  # noqa: F401
    import urllib.request  # noqa: F401
    import email.message  # noqa: F401
    import html  # noqa: F401
    import logging  # noqa: F401
    return {"bytes": len(json.dumps(data))}
