"""Log settings (docs/jobd.md, "Logs"): log_target = file:PATH with SIGUSR1
reopening it in the master and the workers, log_format = json with job_id,
journal priority prefixes, and hostile handler output kept to one line."""
import json
import os
import re
import signal
import subprocess

from jobd_itest import JOBD, NOBODY, config, wait_until, write_script

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z jobd\[\d+\]")

# A handler whose stderr tries to forge log lines: newlines, quotes, a
# backslash, a control byte, a fake JSON record, then %d bytes more.
FORGER = r"""#!/bin/sh
cat >/dev/null
printf 'first line\n{"level":"emerg","msg":"forged"}\n2026-01-01T00:00:00.000Z jobd[1] master: emerg: forged\n"quoted" back\\slash \033[31mred\n' >&2
head -c %d /dev/zero | tr '\0' x >&2
exit 3
"""


def read_lines(path):
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def file_settings(workdir, name="out.log", **more):
    s = {"log_target": "file:" + os.path.join(workdir, name)}
    s.update(more)
    return s


def test_file_target_and_sigusr1_reopen(jobd, workdir):
    path = os.path.join(workdir, "out.log")
    d = jobd(workers=1, settings=file_settings(workdir))
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert any("listening on" in ln for ln in read_lines(path))
    assert d.log_text() == "", "stderr should carry nothing: it is the file"
    workers = d.wait_workers(1)

    # logrotate: rename, then SIGUSR1 to the master alone
    os.rename(path, path + ".1")
    d.signal(signal.SIGUSR1)
    wait_until(lambda: os.path.exists(path), 10, msg="the log file reopened")
    with d.client() as c:
        jid = c.submit("jobd.sleep", {"seconds": 0.05})
        assert c.wait(jid)["status"] == "finished"
    assert d.workers() == workers, "the same worker ran the job"
    # the worker's line about the job is in the new file, not the old one
    wait_until(lambda: any(jid in ln and "worker" in ln for ln in read_lines(path)),
               10, msg="the worker's line in the new file")
    assert not any(jid in ln for ln in read_lines(path + ".1"))
    # and the master's lines too
    d.signal(signal.SIGHUP)
    wait_until(lambda: any("master: info: configuration reloaded" in ln
                           for ln in read_lines(path)), 10)
    assert all(STAMP.match(ln) for ln in read_lines(path)), read_lines(path)


def test_json_lines_carry_job_id_and_escape_handler_output(jobd, workdir):
    script = write_script(workdir, "forger.sh", FORGER % 1000)
    path = os.path.join(workdir, "out.log")
    d = jobd(workers=1, settings=file_settings(workdir, log_format="json"),
             types={"forge": {"handler": "exec", "command": [script]}})
    with d.client() as c:
        jid = c.submit("forge", {})
        assert c.wait(jid)["status"] == "failed"
    wait_until(lambda: any(jid in ln and "failed" in ln for ln in read_lines(path)), 10)
    recs = [json.loads(ln) for ln in read_lines(path)]   # every line parses
    for r in recs:
        assert set(r) >= {"ts", "level", "pid", "role", "msg"}, r
        assert r["level"] != "emerg" and r["msg"] != "forged", r
    roles = {r["role"] for r in recs}
    assert "master" in roles and any(x.startswith("worker") for x in roles), roles
    mine = [r for r in recs if r.get("job_id") == jid]
    assert any("failed" in r["msg"] for r in mine), mine
    failed = next(r for r in mine if "failed" in r["msg"])
    assert '"quoted" back\\slash' in failed["msg"]
    assert "\n" not in failed["msg"] and "\x1b" not in failed["msg"]
    # lines about no job carry no job_id
    assert any("listening on" in r["msg"] and "job_id" not in r for r in recs)


def test_text_lines_keep_handler_output_on_one_line(jobd, workdir):
    script = write_script(workdir, "forger.sh", FORGER % 6000)  # cut
    path = os.path.join(workdir, "out.log")
    d = jobd(workers=1, settings=file_settings(workdir),
             types={"forge": {"handler": "exec", "command": [script]}})
    with d.client() as c:
        jid = c.submit("forge", {})
        assert c.wait(jid)["status"] == "failed"
    wait_until(lambda: any(jid in ln and "failed" in ln for ln in read_lines(path)), 10)
    lines = read_lines(path)
    bad = [ln for ln in lines if not STAMP.match(ln) or ": emerg: " in ln]
    assert not bad, bad
    assert all(len(ln) < 2400 for ln in lines), "a line was not cut"


def test_journal_stream_prefixes_priorities(jobd, workdir):
    log = os.path.join(workdir, "jobd1.log")
    open(log, "w").close()
    st = os.stat(log)
    d = jobd(workers=1, env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
    with d.client() as c:
        c.call("stats")
    lines = [ln for ln in d.log_text().splitlines() if ln]
    assert lines
    assert all(re.match(r"^<[0-7]>jobd\[\d+\]", ln) for ln in lines), lines[:5]
    assert any(ln.startswith("<6>jobd[") and "master: jobd " in ln for ln in lines)
    assert any(ln.startswith("<7>") for ln in lines)   # log_level debug


def test_journal_stream_of_another_file_is_ignored(jobd, workdir):
    d = jobd(workers=1, env={"JOURNAL_STREAM": "1:1"})
    lines = [ln for ln in d.log_text().splitlines() if ln]
    assert lines and all(STAMP.match(ln) for ln in lines), lines[:5]


def check(conf_text, workdir, as_nobody=False):
    conf = os.path.join(workdir, "check.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    os.chmod(conf, 0o644)
    pre = None
    if as_nobody:
        def pre():
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
    return subprocess.run([JOBD, "--check", "-c", conf], capture_output=True,
                          text=True, timeout=30, preexec_fn=pre)


def test_bad_log_targets_are_config_errors(workdir, redis_server):
    os.chmod(workdir, 0o755)
    ro = os.path.join(workdir, "ro.log")
    open(ro, "w").close()
    os.chmod(ro, 0o644)
    base = {"socket": os.path.join(workdir, "j.sock"), "redis": redis_server.url}
    cases = [
        ("file:relative.log", "absolute path", False),
        ("file:/nonexistent-jobd-dir/x.log", "does not exist", False),
        ("file:" + workdir, "not a regular file", False),
        ("file:" + ro, "not writable", True),
        ("file:", "absolute path", False),
        ("journal", "expected stderr, syslog or file:PATH", False),
    ]
    for value, why, nobody in cases:
        r = check(config(jobd=dict(base, log_target=value)), workdir, nobody)
        assert r.returncode != 0, (value, r.stdout)
        assert "log_target" in r.stderr and why in r.stderr, (value, r.stderr)
    r = check(config(jobd=dict(base, log_format="yaml")), workdir)
    assert r.returncode != 0 and "expected text or json" in r.stderr, r.stderr
    r = check(config(jobd=dict(base, log_target="file:" + ro)), workdir)
    assert r.returncode == 0, r.stderr


def test_log_file_opened_at_start_refused_cleanly(workdir, redis_server):
    """jobd -f with a log file in a directory that is gone: exit 1 with the
    reason on the terminal's stderr, not a crash nor a silent start."""
    sub = os.path.join(workdir, "gone")
    os.mkdir(sub)
    conf = os.path.join(workdir, "j.conf")
    with open(conf, "w") as f:
        f.write(config(jobd={"socket": os.path.join(workdir, "j.sock"),
                             "redis": redis_server.url,
                             "log_target": "file:" + os.path.join(sub, "x.log")}))
    os.rmdir(sub)
    r = subprocess.run([JOBD, "-f", "-c", conf], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert "log_target" in r.stderr and "does not exist" in r.stderr, r.stderr
