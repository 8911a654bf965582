"""WSGI entry point: ``gunicorn -c gunicorn_config.py app:app``."""

import logging
import os

from storyapp import create_app

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                    format="%(asctime)s %(name)s[%(process)d] %(levelname)s "
                           "%(message)s")
app = create_app()

if __name__ == "__main__":
    # Development server, threaded like gunicorn's gthread workers.
    app.run(host=os.environ.get("HOST", "127.0.0.1"),
            port=int(os.environ.get("PORT", "5000")), threaded=True)
