"""The wire protocol (docs/protocol.md): hello, ids, pipelining, errors,
bad frames."""
import json
import random
import socket
import struct
import threading

import pytest

from jobd_itest import ERROR_CODES, JOB_ID_RE, proto


def assert_error(r, code):
    assert r.get("ok") is False, r
    err = r.get("error")
    assert isinstance(err, dict), r
    assert err.get("code") == code, "expected %s, got %r" % (code, r)
    assert isinstance(err.get("message"), str) and err["message"], r


def test_hello_fields(sclient):
    r = sclient.ok("hello")
    assert r["server"] == "jobd"
    assert r["protocol"] == 1
    assert isinstance(r["version"], str) and r["version"]
    assert r["max_frame"] == 8 * 1024 * 1024


def test_hello_reports_configured_max_frame(jobd):
    d = jobd(settings={"max_frame": 4096})
    with d.client() as c:
        assert c.ok("hello")["max_frame"] == 4096


def test_ping(sclient):
    r = sclient.call("ping")
    assert r["ok"] is True and "error" not in r, r


@pytest.mark.parametrize("rid", [1, "abc", 2.5, True, None, 0, "", -7])
def test_id_is_echoed(sclient, rid):
    r = sclient.request({"op": "ping", "id": rid})
    assert r["ok"] is True
    assert "id" in r and r["id"] == rid and type(r["id"]) is type(rid)


def test_id_is_echoed_on_errors(sclient):
    r = sclient.request({"op": "nope", "id": 42})
    assert_error(r, "unknown_op")
    assert r["id"] == 42
    r = sclient.request({"op": "get", "job_id": "j_nothere", "id": "x"})
    assert_error(r, "not_found")
    assert r["id"] == "x"


def test_pipelining_100_requests_in_order(sclient):
    reqs = []
    for i in range(100):
        kind = i % 4
        if kind == 0:
            reqs.append({"op": "ping", "id": i})
        elif kind == 1:
            reqs.append({"op": "submit", "type": "jobd.noop", "id": i})
        elif kind == 2:
            reqs.append({"op": "get", "job_id": "j_missing%d" % i, "id": i})
        else:
            reqs.append({"op": "hello", "id": i})
    sclient.send_raw(b"".join(proto.encode(r) for r in reqs))
    for i in range(100):
        r = sclient.recv()
        assert r is not None, "connection closed after %d responses" % i
        assert r["id"] == i, "response %d has id %r" % (i, r.get("id"))
        kind = i % 4
        if kind == 0:
            assert r["ok"] is True
        elif kind == 1:
            assert r["ok"] is True and JOB_ID_RE.match(r["job_id"]), r
        elif kind == 2:
            assert_error(r, "not_found")
        else:
            assert r["server"] == "jobd"


def test_pipelined_frames_split_across_writes(sclient):
    data = b"".join(proto.encode({"op": "ping", "id": i}) for i in range(20))
    # One byte at a time for the first frames, then the rest at once.
    for b in data[:40]:
        sclient.send_raw(bytes([b]))
    sclient.send_raw(data[40:])
    for i in range(20):
        assert sclient.recv()["id"] == i


def test_unknown_op(sclient):
    assert_error(sclient.call("frobnicate"), "unknown_op")


def test_missing_op(sclient):
    r = sclient.request({"id": 1})
    assert r["ok"] is False and r["error"]["code"] in ("bad_request", "unknown_op"), r


def test_unknown_type(sclient):
    assert_error(sclient.call("submit", type="no.such.type"), "unknown_type")


def test_accept_any_type(jobd):
    d = jobd(settings={"accept_any_type": True})
    with d.client() as c:
        jid = c.submit("anything.goes", {"x": 1})
        assert c.get(jid)["type"] == "anything.goes"


WRONG_FIELDS = [
    {"op": "submit"},                                   # missing type
    {"op": "submit", "type": 5},
    {"op": "submit", "type": "jobd.noop", "timeout": "soon"},
    {"op": "submit", "type": "jobd.noop", "timeout": -1},
    {"op": "submit", "type": "jobd.noop", "retries": "two"},
    {"op": "submit", "type": "jobd.noop", "retries": -1},
    {"op": "submit", "type": "jobd.noop", "queue": 7},
    {"op": "submit", "type": "jobd.noop", "queue": "no_such_queue"},
    {"op": "submit", "type": "jobd.noop", "delay": "later"},
    {"op": "submit", "type": "jobd.noop", "run_at": "yesterday-ish"},
    {"op": "submit", "type": "jobd.noop", "meta": [1, 2]},
    {"op": "submit", "type": "jobd.noop", "job_id": "has space"},
    {"op": "submit", "type": "jobd.noop", "job_id": "x" * 200},
    {"op": "submit", "type": "jobd.noop", "unique_key": 12},
    {"op": "submit", "type": "jobd.noop", "result_ttl": "forever"},
    {"op": "submit_many"},
    {"op": "submit_many", "jobs": "not a list"},
    {"op": "get"},
    {"op": "get", "job_id": 123},
    {"op": "result", "job_id": ["a"]},
    {"op": "wait", "job_id": "j_x", "timeout": "abc"},
    {"op": "wait", "job_id": "j_x", "timeout": -3},
    {"op": "cancel"},
    {"op": "requeue"},
    {"op": "list", "limit": "ten"},
    {"op": "list", "offset": -1},
    {"op": "list", "status": "sleeping"},
    {"op": "pause"},
    {"op": "pause", "queue": 3},
    {"op": "resume", "queue": None},
    {"op": "progress", "job_id": "j_x", "percent": 150},
    {"op": "progress", "job_id": "j_x", "percent": "half"},
]


@pytest.mark.parametrize("req", WRONG_FIELDS, ids=[json.dumps(r)[:60] for r in WRONG_FIELDS])
def test_wrong_fields_are_bad_request(sclient, req):
    req = dict(req, id="w")
    assert_error(sclient.request(req), "bad_request")
    # The connection is still usable.
    assert sclient.call("ping")["ok"] is True


@pytest.mark.parametrize("body", [
    b"{", b"not json", b'{"op": "ping"', b'{"op": "ping"}}', b"\xff\xfe\x00",
    b'{"op": "ping", "id": 1,}', b"  ", b"\x00",
])
def test_malformed_json_is_bad_json_and_connection_stays(sclient, body):
    sclient.send_raw(struct.pack(">I", len(body)) + body)
    assert_error(sclient.recv(), "bad_json")
    assert sclient.request({"op": "ping", "id": 9})["id"] == 9


@pytest.mark.parametrize("body", [b"[1, 2]", b'"ping"', b"42", b"null"])
def test_json_that_is_not_an_object(sclient, body):
    sclient.send_raw(struct.pack(">I", len(body)) + body)
    r = sclient.recv()
    assert r["ok"] is False and r["error"]["code"] in ("bad_json", "bad_request"), r
    assert sclient.call("ping")["ok"] is True


def test_oversized_frame_gets_error_then_close(jobd):
    d = jobd(settings={"max_frame": 4096})
    with d.client() as c:
        c.send_raw(struct.pack(">I", 4097) + b"{" * 100)
        assert_error(c.recv(), "frame_too_large")
        assert c.at_eof(), "connection not closed after an oversized frame"
    with d.client() as c:
        # Exactly max_frame is fine.
        body = json.dumps({"op": "ping", "id": "m", "pad": "x" * (4096 - len(
            json.dumps({"op": "ping", "id": "m", "pad": ""})))}).encode()
        assert len(body) == 4096
        c.send_raw(struct.pack(">I", len(body)) + body)
        assert c.recv()["id"] == "m"


def test_huge_length_header_is_refused(sclient):
    sclient.send_raw(b"\xff\xff\xff\xff")
    assert_error(sclient.recv(), "frame_too_large")
    assert sclient.at_eof()


def test_zero_length_frame_gets_error_then_close(sclient):
    sclient.send_raw(b"\x00\x00\x00\x00")
    r = sclient.recv()
    assert r is not None and r["ok"] is False and r["error"]["code"] in ERROR_CODES, r
    assert sclient.at_eof(), "connection not closed after a zero-length frame"


def test_truncated_frame_does_not_block_others(daemon):
    a = daemon.client()
    a.send_raw(struct.pack(">I", 100) + b'{"op": "pi')   # and then nothing
    b = daemon.client(timeout=10)
    assert b.call("ping")["ok"] is True
    a.send_raw(b"\x00\x00")                              # half a header
    a.close()
    assert b.call("ping")["ok"] is True
    b.close()
    with daemon.client() as c:
        assert c.ok("hello")["server"] == "jobd"


def test_client_closing_with_pending_requests(daemon):
    # Requests (including a long wait) in flight when the client goes away.
    for _ in range(20):
        c = daemon.client()
        c.send_raw(b"".join(proto.encode({"op": "stats"}) for _ in range(10)) +
                   proto.encode({"op": "wait", "job_id": "j_none", "timeout": 5}))
        c.close()
    with daemon.client() as c:
        assert c.call("ping")["ok"] is True


def test_half_written_connection_many_times(daemon):
    for n in range(1, 12):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(daemon.sock)
        s.sendall(proto.encode({"op": "ping"})[:n])
        s.close()
    with daemon.client() as c:
        assert c.call("ping")["ok"] is True


def _random_frame(rng):
    """_random_frame: a frame body that is nonsense of one kind or another."""
    k = rng.randrange(8)
    if k == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    ops = ["submit", "get", "wait", "cancel", "list", "stats", "pause",
           "result", "requeue", "progress", "submit_many", "x", "", None, 5]
    vals = [None, True, -1, 0, 1e308, -1e308, "", "x" * rng.randrange(300),
            [], {}, [1, [2, [3]]], {"a": {"b": None}}, "j_" + "Z" * 26,
            "\u00e9\u4e2d\U0001F600", 2 ** 63, -2 ** 63, 0.5]
    obj = {"op": rng.choice(ops)}
    for f in rng.sample(["type", "payload", "queue", "timeout", "retries",
                         "job_id", "unique_key", "delay", "run_at", "meta",
                         "jobs", "status", "offset", "limit", "percent",
                         "message", "all_failed", "id"], rng.randrange(5)):
        obj[f] = rng.choice(vals)
    if obj["op"] == "wait":
        obj["timeout"] = 0          # no long waits in the fuzz
    if obj["op"] in ("pause",):
        obj["op"] = "stats"         # never pause a real queue here
    body = json.dumps(obj).encode()
    if k == 1 and len(body) > 2:     # cut short
        body = body[:rng.randrange(1, len(body))]
    elif k == 2 and body:            # flip a byte
        i = rng.randrange(len(body))
        body = body[:i] + bytes([rng.randrange(256)]) + body[i + 1:]
    return body


def test_10000_random_frames(daemon):
    rng = random.Random(1234)
    done = {"n": 0}
    # Another client is served throughout.
    stop = threading.Event()
    errors = []

    def bystander():
        try:
            with daemon.client(timeout=20) as c:
                while not stop.is_set():
                    assert c.call("ping")["ok"] is True
        except Exception as e:   # reported below
            errors.append(e)

    t = threading.Thread(target=bystander)
    t.start()
    try:
        c = daemon.client(timeout=60)
        for batch in range(100):
            bodies = [_random_frame(rng) for _ in range(100)]
            c.send_raw(b"".join(struct.pack(">I", len(b)) + b for b in bodies))
            for i in range(100):
                r = c.recv()
                assert r is not None, "closed after frame %d" % (batch * 100 + i)
                assert isinstance(r.get("ok"), bool), r
                if r["ok"] is False:
                    assert r["error"]["code"] in ERROR_CODES, r
                    assert r["error"]["code"] not in ("internal", "unavailable"), \
                        "frame %r -> %r" % (bodies[i][:200], r)
                done["n"] += 1
        c.close()
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert done["n"] == 10000
    assert daemon.alive()
    with daemon.client() as c:
        assert c.ok("hello")["server"] == "jobd"
        jid = c.submit("jobd.echo", {"after": "fuzz"})
        assert c.wait(jid)["result"] == {"after": "fuzz"}


def test_many_clients_at_once(daemon):
    results = []

    def one(k):
        with daemon.client() as c:
            c.send_raw(b"".join(proto.encode({"op": "submit", "type": "jobd.echo",
                                              "payload": {"k": k, "i": i}, "id": i})
                                for i in range(10)))
            ids = []
            for i in range(10):
                r = c.recv()
                assert r["ok"] is True and r["id"] == i
                ids.append(r["job_id"])
            results.append((k, ids))

    ts = [threading.Thread(target=one, args=(k,)) for k in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(results) == 20
    all_ids = [j for _, ids in results for j in ids]
    assert len(set(all_ids)) == 200
    with daemon.client() as c:
        for k, ids in results:
            rec = c.wait(ids[-1])
            assert rec["result"] == {"k": k, "i": 9}
