"""test_webhook_faults.py: callbacks under faults (docs/workflows.md,
"Callbacks").  Two daemons share the Redis; jobs with callback_url run
while masters and workers are SIGKILLed and the receiver refuses one POST
in ten.  Every job that ended must have its end delivered, signed, at
least once: 0 lost.  Deliveries made twice (a worker killed after the POST
and before it recorded it) are allowed and counted."""
import collections
import hashlib
import hmac
import http.server
import json
import os
import random
import signal
import threading
import time

import faults_lib as fl

SECRET = "fault-suite-webhook-key-0123456789"
N = int(fl.env_num("FAULTS_HOOK_JOBS", 120, int))


class Receiver(http.server.BaseHTTPRequestHandler):
    got = collections.defaultdict(list)   # job id -> bodies delivered
    bad_sig = 0
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        want = "sha256=" + hmac.new(SECRET.encode(), body,
                                    hashlib.sha256).hexdigest()
        refuse = random.random() < 0.1
        with Receiver.lock:
            if self.headers.get("X-Jobd-Signature") != want:
                Receiver.bad_sig += 1
            elif not refuse:
                Receiver.got[json.loads(body)["job_id"]].append(body)
        self.send_response(503 if refuse else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_every_end_is_delivered_through_kills(cluster):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
    args = ["-o", "webhooks.allow=%s" % url, "-o", "webhooks.secret=" + SECRET,
            "-o", "type:jobd.webhook.backoff=0.2",
            "-o", "type:jobd.webhook.retries=30"]
    try:
        cluster.start("a", args=args)
        cluster.start("b", args=args)
        sub = fl.Submitter(cluster, ["a", "b"])
        rnd = random.Random(15)
        specs = [{"job_id": "h%05d" % i, "type": "jobd.sleep",
                  "payload": {"seconds": rnd.choice((0, 0.05, 0.3))},
                  "retries": 3, "callback_url": url} for i in range(N)]
        kills = collections.Counter()
        for i, spec in enumerate(specs):
            sub.submit(spec)
            if i % 30 == 15:
                victim = cluster.daemons[rnd.choice("ab")]
                workers = victim.workers()
                if workers and rnd.random() < 0.5:
                    fl.kill(rnd.choice(workers))
                    kills["worker"] += 1
                else:
                    fl.kill(victim.pid)
                    victim.proc.wait()
                    kills["master"] += 1
                    cluster.start(victim.name, args=args)
        while sub.pending:
            sub.retry_pending()
            time.sleep(0.1)
        sub.close()

        def ended():
            with cluster.daemons["a"].client() as c:
                return [jid for jid in sub.accepted
                        if c.get(jid)["status"] in fl.TERMINAL]
        fl.it.wait_until(lambda: len(ended()) == len(sub.accepted), 120,
                         interval=0.5, msg="every job to end")
        fl.it.wait_until(lambda: set(Receiver.got) >= set(sub.accepted),
                         120, interval=0.5, msg="every end delivered")
        lost = set(sub.accepted) - set(Receiver.got)
        twice = sum(1 for b in Receiver.got.values() if len(b) > 1)
        print("webhook faults: %d jobs, kills %s, delivered %d, lost %d, "
              "delivered more than once %d, bad signatures %d"
              % (len(sub.accepted), dict(kills), len(Receiver.got),
                 len(lost), twice, Receiver.bad_sig))
        assert not lost and Receiver.bad_sig == 0
        assert kills["master"] >= 1
    finally:
        srv.shutdown()
        srv.server_close()
