"""test_cron.py: periodic jobs ([cron:NAME], docs/jobd.md "Periodic jobs";
docs/reliability.md "Periodic jobs: each tick once").  Each tick is
claimed in Redis by whichever daemon comes first and submitted with the id
cron:NAME:<tick>; misfire = skip runs nothing for ticks passed while no
daemon ran, misfire = once runs the latest of them once.

So as not to wait up to a minute for a tick, the daemons run with
JOBD_TEST_CRON_OFFSET_MS (a test-only shift of the schedules' clock): they
stand a few seconds before a minute boundary B, whose tick is then due.
"""
import datetime
import os
import signal
import time

import pytest

from jobd_itest import JOBD, wait_until
from pyfixtures import Jobd, run_jobctl

import subprocess

ECHO = {"handler": "builtin", "builtin": "echo"}
# seconds between a daemon's start and its first tick: room for a slow
# start (a loaded box, sanitizers) before the tick the test waits for
LEAD = 5


def iso(ms):
    return datetime.datetime.fromtimestamp(
        ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def boundary_offset(lead_s):
    """boundary_offset: (offset_ms, B_ms): a clock shifted by offset_ms
    reads lead_s seconds before the minute boundary B now."""
    now = int(time.time() * 1000)
    b = (now // 60000 + 1) * 60000
    return b - lead_s * 1000 - now, b


@pytest.fixture
def crond(request, workdir, redis_server, jobd):
    """crond(name, crons, offset_ms, wait=True): a daemon like the jobd
    fixture's, with [cron:NAME] sections and its clock shifted."""
    started = request.node._jobd_daemons

    def start(name, crons, offset_ms, wait=True, types=None):
        s = {"socket": os.path.join(workdir, "%s.sock" % name),
             "redis": redis_server.url, "workers": 1, "log_level": "debug",
             "lease": 3, "grace": 1, "shutdown_grace": 10}
        d = Jobd(workdir, s, types or {"tick": ECHO}, name=name,
                 redis=redis_server,
                 env={"JOBD_TEST_CRON_OFFSET_MS": str(offset_ms)})
        d.write_config(**{"cron:%s" % k: v for k, v in crons.items()})
        started.append(d)
        d.start(wait=wait)
        return d
    return start


def cron_jobs(redis_server, name):
    """cron_jobs: the ids of the jobs of schedule name in Redis."""
    r = redis_server.client()
    return sorted(k.split(":job:", 1)[1]
                  for k in r.keys("*:job:cron:%s:*" % name))


def test_racing_daemons_submit_each_tick_once(crond, redis_server):
    """Three daemons on one Redis, the same schedule, the tick due at the
    same moment on all three: one job, with the tick's id, payload and
    meta; one daemon logs the claim."""
    off, b = boundary_offset(LEAD + 1)
    spec = {"schedule": "* * * * *", "type": "tick",
            "payload": '{"report": "daily", "n": 1}'}
    ds = [crond("d%d" % i, {"race": spec}, off, wait=False)
          for i in range(3)]
    for d in ds:
        d.ready()
    want = "cron:race:%s" % iso(b)
    wait_until(lambda: cron_jobs(redis_server, "race") == [want], 15,
               msg="the tick's job")
    with ds[0].client() as c:
        job = wait_until(lambda: (lambda j: j if j["status"] == "finished"
                                  else None)(c.get(want)), 15)
    assert job["payload"] == {"report": "daily", "n": 1}
    assert job["meta"] == {"cron": "race", "tick": iso(b)}
    assert job["type"] == "tick" and job["attempts"] == 1
    # the others have answered their claims too (the tick was taken)
    time.sleep(1.0)
    assert cron_jobs(redis_server, "race") == [want]
    claims = [d.name for d in ds if "job %s queued" % want in d.log_text()]
    assert len(claims) == 1, claims
    r = redis_server.client()
    key = [k for k in r.keys("*:cron:race")][0]
    assert r.hget(key, "last") == str(b)
    assert r.hget(key, "job") == want


def wait_tick(d, redis_server, name, b):
    want = "cron:%s:%s" % (name, iso(b))
    wait_until(lambda: want in cron_jobs(redis_server, name), 15,
               msg="the job of tick %s" % iso(b))


@pytest.mark.parametrize("misfire", ["once", "skip"])
def test_restart_across_a_tick(crond, redis_server, misfire):
    """A daemon claims tick B, stops, and starts again after B+60 passed
    (its clock 90 s later): once runs B+60 as its one catch-up (and a
    second start does not run it again); skip runs nothing for it."""
    off, b = boundary_offset(LEAD)
    d = crond("solo", {"r": {"schedule": "* * * * *", "type": "tick",
                             "misfire": misfire}}, off)
    wait_tick(d, redis_server, "r", b)
    assert d.stop() == 0
    d.env = {"JOBD_TEST_CRON_OFFSET_MS": str(off + 90000)}
    d.start()
    first = ["cron:r:%s" % iso(b)]
    if misfire == "once":
        wait_tick(d, redis_server, "r", b + 60000)
        first.append("cron:r:%s" % iso(b + 60000))
        assert "(catch-up)" in d.log_text()
    # nothing else comes: the daemon is ready and has tried its claims
    # (a failed one is retried within a second)
    time.sleep(2.5)
    assert cron_jobs(redis_server, "r") == first
    assert d.stop() == 0
    d.env = {"JOBD_TEST_CRON_OFFSET_MS": str(off + 91000)}
    d.start()
    time.sleep(2.5)
    assert cron_jobs(redis_server, "r") == first
    assert d.log_text().count("(catch-up)") == (1 if misfire == "once"
                                                 else 0)


def test_catch_up_needs_a_past_run(crond, redis_server):
    """misfire = once on a schedule that never ran: no catch-up (nothing
    was missed); its first tick runs when it comes."""
    off, b = boundary_offset(LEAD)
    d = crond("fresh", {"f": {"schedule": "* * * * *", "type": "tick",
                              "misfire": "once"}}, off)
    wait_tick(d, redis_server, "f", b)
    assert cron_jobs(redis_server, "f") == ["cron:f:%s" % iso(b)]
    assert "(catch-up)" not in d.log_text()


def test_reload_adds_changes_and_removes(crond, redis_server):
    """SIGHUP picks up a schedule added, changed and removed: cron_list
    follows, and an added one runs its next tick."""
    off, b = boundary_offset(LEAD + 1)
    d = crond("rl", {"old": {"schedule": "0 0 1 1 *", "type": "tick"}}, off)
    with d.client() as c:
        names = [s["name"] for s in c.ok("cron_list")["schedules"]]
        assert names == ["old"]
        d.write_config(**{"cron:new": {"schedule": "* * * * *",
                                       "type": "tick"}})
        d.signal(signal.SIGHUP)
        wait_until(lambda: [s["name"] for s in
                            c.ok("cron_list")["schedules"]] == ["new"], 10)
        wait_tick(d, redis_server, "new", b)
        d.write_config(**{"cron:new": {"schedule": "@weekly",
                                       "type": "tick",
                                       "timezone": "Europe/Berlin"}})
        d.signal(signal.SIGHUP)
        wait_until(lambda: c.ok("cron_list")["schedules"][0]["schedule"]
                   == "@weekly", 10)
        s = c.ok("cron_list")["schedules"][0]
        assert s["timezone"] == "Europe/Berlin"
        assert s["last"] == iso(b)
        assert s["last_job"] == "cron:new:%s" % iso(b)
        # @weekly in Berlin: a Sunday midnight, 23:00Z or 22:00Z
        assert s["next"].endswith(("T23:00:00Z", "T22:00:00Z")), s
    assert cron_jobs(redis_server, "old") == []


def test_cron_list_and_jobctl_cron(crond, redis_server):
    """cron_list and jobctl cron show each schedule with its last run
    (from Redis) and its next."""
    off, b = boundary_offset(LEAD)
    d = crond("ls", {"a": {"schedule": "* * * * *", "type": "tick",
                           "payload": "[1, 2]", "misfire": "once"},
                     "b": {"schedule": "30 2 * * *", "type": "tick",
                           "timezone": "America/New_York"}}, off)
    wait_tick(d, redis_server, "a", b)
    with d.client() as c:
        def a_finished():
            s = {x["name"]: x for x in c.ok("cron_list")["schedules"]}
            return s if s["a"]["last_status"] == "finished" else None
        s = wait_until(a_finished, 15)
    assert s["a"]["last"] == iso(b)
    assert s["a"]["misfire"] == "once" and s["a"]["payload"] == [1, 2]
    assert s["b"]["last"] is None and s["b"]["last_job"] is None
    assert s["b"]["next"].endswith(("T06:30:00Z", "T07:30:00Z")), s["b"]
    r = run_jobctl("cron", sock=d.sock)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "TYPE",
                                "LAST", "LAST", "JOB", "STATUS", "NEXT"]
    row = {l.split()[0]: l for l in lines[1:]}
    assert iso(b) in row["a"] and "finished" in row["a"]
    assert "America/New_York" in row["b"] and s["b"]["next"] in row["b"]
    r = run_jobctl("--json", "cron", sock=d.sock)
    assert r.returncode == 0 and '"schedules"' in r.stdout
    r = run_jobctl("cron", "extra", sock=d.sock)
    assert r.returncode != 0


# --- attacks: sections refused by jobd --check, naming what is wrong ----

BASE = "[type:t]\nhandler = builtin\nbuiltin = noop\n"


def check(workdir, text):
    path = os.path.join(workdir, "c.conf")
    with open(path, "w") as f:
        f.write(BASE + text)
    r = subprocess.run([JOBD, "--check", "-c", path], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    return r


@pytest.mark.parametrize("section,message", [
    ("schedule = 61 * * * *\ntype = t",
     "[cron:x] schedule: minute: 61 is not in 0..59: '61 * * * *'"),
    ("schedule = * * * *\ntype = t",
     "[cron:x] schedule: 4 fields, expected 5"),
    ("schedule = @reboot\ntype = t",
     "[cron:x] schedule: @reboot is not supported"),
    ("schedule = @every 5m\ntype = t",
     "[cron:x] schedule: unknown alias @every"),
    ("schedule = 0 0 30 2 *\ntype = t", "[cron:x] schedule: never fires"),
    ("schedule = */0 * * * *\ntype = t",
     "[cron:x] schedule: minute: bad step"),
    ("schedule = " + "1," * 200 + "1 * * * *\ntype = t",
     "[cron:x] schedule: longer than 256 bytes"),
    ("schedule = * * * * *\ntype = t\ntimezone = Mars/Olympus",
     "[cron:x] timezone: unknown time zone (no "
     "/usr/share/zoneinfo/Mars/Olympus): 'Mars/Olympus'"),
    ("schedule = * * * * *\ntype = t\ntimezone = ../../etc/passwd",
     "[cron:x] timezone: not a time zone name"),
    ("schedule = * * * * *\ntype = t\nmisfire = twice",
     "[cron:x] misfire: expected skip or once: 'twice'"),
    ("schedule = * * * * *\ntype = t\npayload = {\"a\": ",
     "[cron:x] payload: bad JSON"),
    ("schedule = * * * * *\ntype = t\npayload = " + "[" * 40 + "]" * 40,
     "[cron:x] payload: nests deeper than 32 levels"),
    ("schedule = * * * * *\ntype = t\npayload = \"" + "a" * 20000 + "\"",
     "[cron:x] payload: longer than 16384 bytes"),
    ("schedule = * * * * *\ntype = nope",
     "[cron:x] type: no [type:nope]"),
    ("schedule = * * * * *\ntype = bad type",
     "[cron:x] type: bad type name"),
    ("type = t", "[cron:x] schedule: required"),
    ("schedule = * * * * *", "[cron:x] type: required"),
    ("schedule = * * * * *\ntype = t\nqueue = nowhere",
     "[cron:x] queue: not one of the configured queues: 'nowhere'"),
    ("schedule = * * * * *\ntype = t\nevery = 5",
     "[cron:x] every: unknown setting"),
], ids=lambda v: v if len(v) < 40 else v[:40])
def test_bad_sections_are_refused(workdir, section, message):
    r = check(workdir, "[cron:x]\n" + section + "\n")
    assert r.returncode == 1, r
    assert message in r.stderr, r.stderr


def test_bad_names_and_counts_are_refused(workdir):
    r = check(workdir, "[cron:a:b]\nschedule = @daily\ntype = t\n")
    assert r.returncode == 1 and "[cron:a:b]: bad schedule name" in r.stderr
    r = check(workdir, "[cron:%s]\nschedule = @daily\ntype = t\n" % ("n" * 65))
    assert r.returncode == 1 and "bad schedule name" in r.stderr
    r = check(workdir, "[cron:a]\nschedule = @daily\ntype = t\n" * 2)
    assert r.returncode == 1 and "[cron:a]: duplicate schedule" in r.stderr
    many = "".join("[cron:c%d]\nschedule = @daily\ntype = t\n" % i
                   for i in range(257))
    r = check(workdir, many)
    assert r.returncode == 1 and "too many schedules (at most 256)" in r.stderr
    ok = "".join("[cron:c%d]\nschedule = @daily\ntype = t\n" % i
                 for i in range(256))
    r = check(workdir, ok)
    assert r.returncode == 0, r.stderr
    assert "cron:c255.schedule = @daily" in r.stdout


def test_clients_cannot_take_a_tick_id(crond):
    """A job_id beginning with cron: is jobd's: submit and submit_many
    refuse it (a client's job under a future tick's id would take the
    tick), naming the field."""
    d = crond("ids", {}, 0)
    with d.client() as c:
        for req in ({"op": "submit", "type": "tick",
                     "job_id": "cron:nightly:2099-01-01T00:00:00Z"},
                    {"op": "submit_many", "jobs": [
                        {"type": "tick", "job_id": "a"},
                        {"type": "tick", "job_id": "cron:x"}]}):
            r = c.call(req.pop("op"), **req)
            assert r["ok"] is False, r
            assert r["error"]["code"] == "bad_request"
            assert "'job_id': ids beginning with cron: are the periodic " \
                   "jobs'" in r["error"]["message"]
        # an id with cron elsewhere is anyone's
        assert c.call("submit", type="tick", job_id="my:cron:1")["ok"]
