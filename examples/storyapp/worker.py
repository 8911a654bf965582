#!/usr/bin/env python3
"""Start the story app's workers: jobd with the app's job types.

    python3 worker.py                              # queues from jobd.conf
    python3 worker.py --queue default,high,low     # other queues/priority
    python3 worker.py --print                      # show the command only

This replaces RQ's ``python worker.py``.  It runs jobd on the app's
``jobd.conf`` as it is, with ``-o SECTION.KEY=VALUE`` overrides for this
checkout -- the socket from ``JOBD_SOCKET``, Redis from ``REDIS_URL``, the
handlers' working directory and interpreter, the LLM limit from
``LLM_CONCURRENCY``/``LLM_RATE``/``LLM_BURST`` and the age of exports the
hourly cleanup removes from ``EXPORT_MAX_AGE`` -- and with ``STORY_DB``,
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
import re
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
    and the variables jobd passes on to the handlers; plus ``limit:llm``
    and ``cron:clean_exports`` when their variables are set
    (:func:`workflow_settings`).  ValueError names a bad variable.
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
    out = {"jobd": jobd, "types": types, "env": env}
    out.update(workflow_settings(environ))
    return out


_RATE = re.compile(r"[1-9][0-9]{0,6}/[smh]")


def _int_env(environ: Mapping[str, str], name: str, lo: int, hi: int
             ) -> Optional[str]:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{1,7}", raw) or not lo <= int(raw) <= hi:
        raise ValueError(f"{name}: expected an integer from {lo} to {hi}, "
                         f"got {raw[:40]!r}")
    return str(int(raw))


def workflow_settings(environ: Mapping[str, str]
                      ) -> Dict[str, Dict[str, str]]:
    """The ``[limit:llm]`` and ``[cron:clean_exports]`` overrides from
    LLM_CONCURRENCY, LLM_RATE, LLM_BURST and EXPORT_MAX_AGE (unset or
    empty: the config's).  ValueError naming the variable for a bad value.
    """
    limit: Dict[str, str] = {}
    concurrency = _int_env(environ, "LLM_CONCURRENCY", 1, 100000)
    if concurrency:
        limit["concurrency"] = concurrency
    rate = environ.get("LLM_RATE", "").strip()
    if rate:
        if not _RATE.fullmatch(rate):
            raise ValueError("LLM_RATE: expected N/s, N/m or N/h (e.g. "
                             f"60/m), got {rate[:40]!r}")
        limit["rate"] = rate
    burst = _int_env(environ, "LLM_BURST", 1, 100000)
    if burst:
        limit["burst"] = burst
    out: Dict[str, Dict[str, str]] = {}
    if limit:
        out["limit:llm"] = limit
    age = environ.get("EXPORT_MAX_AGE", "").strip()
    if age:
        from storyapp.cleanup import parse_age
        seconds = parse_age(age, "EXPORT_MAX_AGE")
        out["cron:clean_exports"] = {
            "payload": json.dumps({"max_age": seconds})}
    return out


def jobd_args(local: Mapping[str, Mapping[str, str]],
              config: Path = APP_DIR / "jobd.conf") -> List[str]:
    """``-c CONFIG -o SECTION.KEY=VALUE ...`` for local_settings()."""
    args = ["-c", str(config)]
    for section, settings in local.items():
        if section == "env":
            continue
        for key, value in settings.items():
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

    try:
        local = local_settings(environ, args.queue, args.workers)
    except ValueError as exc:
        print(f"worker.py: {exc}", file=sys.stderr)
        return 2
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
