"""gunicorn settings for the story app (threaded workers).

Each worker process creates its jobd client lazily after the fork, and the
client keeps one connection per thread, so gthread workers are safe.
"""
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '5000')}")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 120          # synchronous fallback of a long story may take a while
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
