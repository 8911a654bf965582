#!/usr/bin/env python3
"""Start the story app's workers: jobd with the app's job types.

    python3 worker.py                              # queues from jobd.conf
    python3 worker.py --queue default,high,low     # other queues/priority
    python3 worker.py --print                      # show the command only

This replaces RQ's ``python worker.py``.  It runs jobd on the app's
``jobd.conf`` as it is, with ``-o SECTION.KEY=VALUE`` overrides for this
checkout -- the socket from ``JOBD_SOCKET``, Redis from ``REDIS_URL``, the
handlers' working directory and interpreter -- and with ``STORY_DB``,
``EXPORT_DIR``, ``LLM_*``... in its environment, which the config hands to
the handlers (``env_pass``).  It replaces itself with
``jobd -f -c jobd.conf -o ...`` (``$JOBD`` or ``jobd`` on PATH).  jobd
then preforks its worker processes, each of which keeps one persistent
``python3 -m storyapp.jobs --persistent`` handler.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

APP_DIR = Path(__file__).resolve().parent

#: environment variables handed to the handlers when set here (the
#: config's env_pass names them)
PASSED_ENV = ("STORY_DB", "EXPORT_DIR", "STORYAPP_ENV", "LLM_API_URL",
              "LLM_API_KEY", "LLM_MODEL", "LLM_TIMEOUT", "STORY_WORDS",
              "STORY_OFFLINE_DELAY", "LOG_LEVEL")


def local_settings(environ: Mapping[str, str], queues: Optional[str] = None,
                   workers: Optional[int] = None,
                   app_dir: Path = APP_DIR,
                   python: str = sys.executable) -> Dict[str, Dict[str, str]]:
    """The overrides for this machine, from the environment.

    Returns ``{"jobd": {KEY: VALUE}, "types": {KEY: VALUE}, "env": {NAME:
    VALUE}}``: settings of ``[jobd]`` and of ``[types]`` (every job type),
    and the variables jobd passes on to the handlers.
    """
    jobd: Dict[str, str] = {"log_target": "stderr"}
    if environ.get("JOBD_SOCKET"):
        jobd["socket"] = environ["JOBD_SOCKET"]
    if environ.get("REDIS_URL"):
        jobd["redis"] = environ["REDIS_URL"]
    if queues:
        jobd["queues"] = ", ".join(q.strip() for q in queues.split(",")
                                   if q.strip())
    if workers is not None:
        jobd["workers"] = str(workers)
    types = {"cwd": str(app_dir),
             "command": json.dumps([python, "-m", "storyapp.jobs",
                                    "--persistent"])}
    env = {k: environ[k] for k in PASSED_ENV if environ.get(k)}
    env["PYTHONPATH"] = str(app_dir)
    # Relative paths mean "relative to where the app runs".
    for key in ("STORY_DB", "EXPORT_DIR", "STORYAPP_ENV"):
        if key in env:
            env[key] = str(Path(env[key]).expanduser().absolute())
    # The config's production paths never leak into a local run.
    env.setdefault("STORYAPP_ENV", str(Path(".env").absolute()))
    env.setdefault("STORY_DB", str(Path("data/stories.db").absolute()))
    env.setdefault("EXPORT_DIR", str(Path(env["STORY_DB"]).parent / "exports"))
    return {"jobd": jobd, "types": types, "env": env}


def jobd_args(local: Mapping[str, Mapping[str, str]],
              config: Path = APP_DIR / "jobd.conf") -> List[str]:
    """``-c CONFIG -o SECTION.KEY=VALUE ...`` for local_settings()."""
    args = ["-c", str(config)]
    for section in ("jobd", "types"):
        for key, value in local.get(section, {}).items():
            args += ["-o", f"{section}.{key}={value}"]
    return args


def jobd_command(jobd: str, environ: Mapping[str, str],
                 local: Mapping[str, Mapping[str, str]],
                 config: Path = APP_DIR / "jobd.conf"
                 ) -> Tuple[List[str], Dict[str, str]]:
    """The argv and the environment that start jobd for this machine."""
    env = dict(environ)
    env.update(local["env"])
    return [jobd, "-f"] + jobd_args(local, config), env


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", "-q", help="queues in priority order, "
                        "comma-separated (default: the config's)")
    parser.add_argument("--workers", "-w", type=int,
                        help="worker processes (default: the config's)")
    parser.add_argument("--config", "-c", default=str(APP_DIR / "jobd.conf"),
                        help="the jobd config (default: %(default)s)")
    parser.add_argument("--http", metavar="ADDR",
                        help="serve the dashboard on ADDR (HOST:PORT or "
                        "unix:PATH; jobd --http)")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the jobd command and exit")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(APP_DIR))
    from storyapp.config import load_dotenv
    environ = dict(os.environ)
    load_dotenv(Path(environ.get("STORYAPP_ENV", ".env")), environ)

    local = local_settings(environ, args.queue, args.workers)
    jobd = environ.get("JOBD") or shutil.which("jobd") or "jobd"
    cmd, env = jobd_command(jobd, environ, local, Path(args.config))
    if args.http:
        cmd += ["--http", args.http]
    if args.print_only:
        # the variables by name only: LLM_API_KEY is a secret
        print("# passed to the handlers: " + " ".join(sorted(local["env"])))
        print(shlex.join(cmd))
        return 0
    if not os.path.isabs(jobd) and not shutil.which(jobd):
        print("worker.py: jobd not found; set JOBD to its path",
              file=sys.stderr)
        return 1
    print(f"worker.py: starting {shlex.join(cmd)}", file=sys.stderr)
    os.execve(cmd[0] if os.path.isabs(cmd[0]) else shutil.which(cmd[0]),
              cmd, env)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
