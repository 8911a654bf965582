"""test_reload_queues.py: a reload (the reload op, SIGHUP) that removes a
queue still holding jobs (queued or scheduled) is refused, naming the
count, and the old configuration stays; removing an empty queue works.
"""
import signal
import threading
import time

from jobd_itest import wait_until

REFUSED = ("reload refused: queue 'low' still holds %d jobs (queued or "
           "scheduled); drain or move them first")


def without_low(d):
    d.write_config(dict(d.settings, queues="high, default"), d.types)


def test_reload_op_refuses_to_drop_a_queue_with_jobs(jobd):
    d = jobd(workers=1)
    with d.client() as c:
        c.ok("pause", queue="low")
        for _ in range(2):
            c.submit("jobd.noop", queue="low")
        c.submit("jobd.noop", queue="low", delay=3600)
        without_low(d)
        r = c.call("reload")
        assert r["ok"] is False, r
        assert r["error"]["message"] == REFUSED % 3
        assert REFUSED % 3 in d.log_text()
        # The old configuration stays: 'low' still takes jobs.
        c.submit("jobd.noop", queue="low")
        c.ok("resume", queue="low")


def test_sighup_refuses_to_drop_a_queue_with_jobs(jobd):
    d = jobd(workers=1)
    with d.client() as c:
        c.ok("pause", queue="low")
        c.submit("jobd.noop", queue="low")
        without_low(d)
        d.signal(signal.SIGHUP)
        wait_until(lambda: REFUSED % 1 in d.log_text(), 10,
                   msg="the refusal in the log")
        c.submit("jobd.noop", queue="low")


def test_dropping_an_empty_queue_is_reloaded(jobd):
    d = jobd(workers=1)
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop", queue="low"))["status"] == \
            "finished"
        without_low(d)
        c.ok("reload")
        r = c.call("submit", type="jobd.noop", queue="low")
        assert r["ok"] is False and "'queue'" in r["error"]["message"], r
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"


def test_reload_dropping_a_queue_while_jobs_are_submitted_to_it(jobd):
    """Jobs keep coming to 'low' (paused) while the reload counts it: the
    reload is refused (none of them left behind unseen), or a submit
    refused; never a job accepted into a queue that no longer exists."""
    d = jobd(workers=1)
    stop = threading.Event()
    accepted = []

    def submitter():
        with d.client() as s:
            while not stop.is_set():
                r = s.call("submit", type="jobd.noop", queue="low")
                if r.get("ok"):
                    accepted.append(r["job_id"])

    with d.client() as c:
        c.ok("pause", queue="low")
        th = threading.Thread(target=submitter)
        th.start()
        try:
            wait_until(lambda: len(accepted) > 5, 10)
            without_low(d)
            r = c.call("reload")
        finally:
            stop.set()
            th.join()
        assert r["ok"] is False, r
        assert "reload refused: queue 'low' still holds" in \
            r["error"]["message"]
        st = c.ok("stats")["queues"]["low"]
        assert st["queued"] == len(accepted)
