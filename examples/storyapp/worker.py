#!/usr/bin/env python3
"""Start the story app's workers: jobd with the app's job types.

    python3 worker.py                              # queues from jobd.conf
    python3 worker.py --queue default,high,low     # other queues/priority
    python3 worker.py --print                      # show the config only

This replaces RQ's ``python worker.py``.  It renders ``jobd.conf`` for this
checkout -- the socket from ``JOBD_SOCKET``, Redis from ``REDIS_URL``, the
handlers' working directory, ``STORY_DB``/``EXPORT_DIR``/``LLM_*`` from the
environment (or .env) -- writes it next to the socket and replaces itself
with ``jobd -f -c <rendered config>`` (``$JOBD`` or ``jobd`` on PATH).
jobd then preforks its worker processes, each of which keeps one
persistent ``python3 -m storyapp.jobs --persistent`` handler.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional

APP_DIR = Path(__file__).resolve().parent

#: environment variables handed to the handlers when set here
PASSED_ENV = ("STORY_DB", "EXPORT_DIR", "STORYAPP_ENV", "LLM_API_URL",
              "LLM_API_KEY", "LLM_MODEL", "LLM_TIMEOUT", "STORY_WORDS",
              "STORY_OFFLINE_DELAY", "LOG_LEVEL")

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def render_config(template: str, *,
                  jobd: Optional[Mapping[str, str]] = None,
                  app_dir: Path = APP_DIR,
                  handler_env: Optional[Mapping[str, str]] = None,
                  python: str = sys.executable) -> str:
    """Rewrite a jobd config for this machine.

    Args:
        template: the text of jobd.conf.
        jobd: settings of the ``[jobd]`` section to set or add (socket,
            redis, queues, workers, log_target, ...).
        app_dir: the handlers' ``cwd`` and ``PYTHONPATH``.
        handler_env: variables for every ``[type:...]`` section; an ``env``
            line of the template naming the same variable is replaced.
        python: the interpreter that runs the handlers.
    """
    jobd = dict(jobd or {})
    handler_env = dict(handler_env or {})
    handler_env.setdefault("PYTHONPATH", str(app_dir))
    out: List[str] = []
    section: Optional[str] = None
    pending: Dict[str, str] = {}

    def close_section() -> None:
        if section == "jobd":
            out.extend(f"{k} = {v}" for k, v in pending.items())
        elif section and section.startswith("type:"):
            out.extend(f"env = {k}={v}" for k, v in pending.items())
        pending.clear()

    for line in template.splitlines():
        m = _SECTION.match(line)
        if m:
            # keep comments/blank lines that precede the next section at
            # the end of the previous one; that is fine for INI
            close_section()
            section = m.group(1).strip()
            if section == "jobd":
                pending.update(jobd)
            elif section.startswith("type:"):
                pending.update(handler_env)
            out.append(line)
            continue
        k = _KEY.match(line)
        if k and section == "jobd" and k.group(1) in jobd:
            out.append(f"{k.group(1)} = {pending.pop(k.group(1), jobd[k.group(1)])}")
            continue
        if k and section and section.startswith("type:"):
            key, value = k.group(1), k.group(2)
            if key == "cwd":
                out.append(f"cwd = {app_dir}")
                continue
            if key == "command":
                out.append("command = " + re.sub(
                    r"^(\[\s*\")?/usr/bin/python3\b",
                    lambda mm: (mm.group(1) or "") + python, value))
                continue
            if key == "env":
                name = value.split("=", 1)[0].strip()
                if name in handler_env:
                    if name in pending:
                        out.append(f"env = {name}={pending.pop(name)}")
                    continue
        out.append(line)
    close_section()
    return "\n".join(out) + "\n"


def local_settings(environ: Mapping[str, str], queues: Optional[str] = None,
                   workers: Optional[int] = None) -> Dict[str, Dict[str, str]]:
    """The overrides for this machine, from the environment."""
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
    env = {k: environ[k] for k in PASSED_ENV if environ.get(k)}
    # Relative paths mean "relative to where the app runs".
    for key in ("STORY_DB", "EXPORT_DIR", "STORYAPP_ENV"):
        if key in env:
            env[key] = str(Path(env[key]).expanduser().absolute())
    # The template's production paths never leak into a local run.
    env.setdefault("STORYAPP_ENV", str(Path(".env").absolute()))
    env.setdefault("STORY_DB", str(Path("data/stories.db").absolute()))
    env.setdefault("EXPORT_DIR", str(Path(env["STORY_DB"]).parent / "exports"))
    return {"jobd": jobd, "env": env}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", "-q", help="queues in priority order, "
                        "comma-separated (default: the config's)")
    parser.add_argument("--workers", "-w", type=int,
                        help="worker processes (default: the config's)")
    parser.add_argument("--config", "-c", default=str(APP_DIR / "jobd.conf"),
                        help="the config to render (default: %(default)s)")
    parser.add_argument("--out", help="where to write the rendered config "
                        "(default: next to the socket)")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the rendered config and exit")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(APP_DIR))
    from storyapp.config import load_dotenv
    environ = dict(os.environ)
    load_dotenv(Path(environ.get("STORYAPP_ENV", ".env")), environ)

    local = local_settings(environ, args.queue, args.workers)
    text = render_config(Path(args.config).read_text(), jobd=local["jobd"],
                         handler_env=local["env"])
    if args.print_only:
        sys.stdout.write(text)
        return 0
    sock = Path(environ.get("JOBD_SOCKET", "/run/jobd/jobd.sock"))
    out = Path(args.out) if args.out else sock.parent / "storyapp-jobd.conf"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:  # 0600: it may hold LLM_API_KEY
        f.write(text)
    jobd = environ.get("JOBD") or shutil.which("jobd")
    if not jobd:
        print("worker.py: jobd not found; set JOBD to its path",
              file=sys.stderr)
        return 1
    print(f"worker.py: starting {jobd} -f -c {out}", file=sys.stderr)
    os.execv(jobd, [jobd, "-f", "-c", str(out)])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
