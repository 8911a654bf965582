#!/usr/bin/python3
"""gen_corpus.py: (re)write the seed corpora of tests/fuzz/corpus/.

    /usr/bin/python3 tests/fuzz/gen_corpus.py [DIR]   (default: next to this file)

frame/: inputs of fuzz_frame (byte 0 max_frame selector, byte 1 the number
of chunk bytes, the chunk bytes, then the stream; see fuzz_frame.c).
request/: frame bodies for fuzz_request (every op valid, then edge cases).
Files named regress-* are crashes found by fuzzing: keep them.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")


def frame(body):
    return struct.pack(">I", len(body)) + body


def frame_input(stream, max_sel=0x7f, chunks=()):
    return bytes([max_sel, len(chunks)]) + bytes(chunks) + stream


PING = b'{"op":"ping"}'
FRAMES = {
    "one-frame": frame_input(frame(PING)),
    "two-coalesced": frame_input(frame(PING) + frame(b'{"op":"hello"}')),
    "byte-by-byte": frame_input(frame(PING), chunks=[0x81] * 17),
    "split-header": frame_input(frame(PING) * 2, chunks=[2, 0x83, 0x85, 0x80, 0x8a]),
    "no-drain-between": frame_input(frame(PING) * 3, chunks=[5, 5, 5, 5, 0x85]),
    "exactly-max": frame_input(frame(b"x" * 128), max_sel=0x7f),
    "max-1": frame_input(frame(b"x" * 1), max_sel=0x00),
    "over-max": frame_input(frame(b"x" * 129), max_sel=0x7f),
    "over-max-then-more": frame_input(frame(b"x" * 200) + frame(PING), chunks=[0x84, 0x10]),
    "zero-length": frame_input(b"\0\0\0\0" + frame(PING)),
    "zero-after-frame": frame_input(frame(PING) + b"\0\0\0\0", chunks=[0x90, 0x84]),
    "huge-header": frame_input(b"\xff\xff\xff\xff"),
    "half-header": frame_input(b"\x00\x00"),
    "truncated-body": frame_input(frame(PING)[:9]),
    "empty-stream": frame_input(b""),
    "one-byte-frames": frame_input(b"".join(frame(bytes([c])) for c in b"abcdefgh"),
                                   chunks=[0x83, 0x83, 7, 0x81]),
    "big-frames-grow": frame_input(frame(b"y" * 5000) + frame(b"z" * 9000), max_sel=0xff),
    "big-split": frame_input(frame(b"q" * 3000) * 2,
                             max_sel=0xa0, chunks=[0xff, 0x7f, 0x80, 0xff] * 8),
    "nul-in-payload": frame_input(frame(b"a\0b\0") + frame(b"\0")),
}

REQ = [
    {"op": "hello"},
    {"op": "ping", "id": 1},
    {"op": "stats", "id": "s"},
    {"op": "submit", "type": "gen", "payload": {"idea": "owls"}},
    {"op": "submit", "type": "gen", "payload": None, "queue": "low", "timeout": 1.5,
     "retries": 100, "job_id": "my.job:1-a_b", "unique_key": "k", "delay": 0,
     "result_ttl": 60, "failure_ttl": 2.0, "meta": {"a": [1, {"b": None}]}},
    {"op": "submit", "type": "export.pdf", "run_at": "2030-02-29T12:00:00.5+02:00"},
    {"op": "submit", "type": "jobd.echo", "payload": [1, "two", 3.0]},
    {"op": "submit", "type": "anything.goes", "payload": 7},
    {"op": "submit_many", "jobs": [{"type": "gen"}, {"type": "jobd.noop", "job_id": "a"},
                                   {"type": "gen", "job_id": "b"}]},
    {"op": "submit_many", "jobs": [{"type": "gen", "job_id": "a"}, {"type": "gen", "job_id": "a"}]},
    {"op": "get", "job_id": "j_01HF3Q8Z5V2K7M9XW4T6R1N0PA"},
    {"op": "result", "job_id": "x"},
    {"op": "wait", "job_id": "x", "timeout": 1e9},
    {"op": "wait", "job_id": "x", "timeout": 0.25},
    {"op": "cancel", "job_id": "x", "id": None},
    {"op": "requeue", "job_id": "x"},
    {"op": "requeue", "all_failed": True, "queue": "default"},
    {"op": "requeue", "all_failed": True, "job_id": "x"},
    {"op": "list", "status": "failed", "queue": "high", "type": "gen", "offset": 3, "limit": 1000},
    {"op": "list", "limit": 0},
    {"op": "pause", "queue": "low"},
    {"op": "resume", "queue": "nope"},
    {"op": "progress", "job_id": "x", "percent": 40, "message": "chapter 2"},
    {"op": "progress", "job_id": "x", "percent": 100.0001},
    {"op": "submit", "type": "gen", "timeout": -1},
    {"op": "submit", "type": "gen", "retries": 2.5},
    {"op": "submit", "type": "gen", "delay": 1, "run_at": "2030-01-01T00:00:00Z"},
    {"op": "submit", "type": "gen", "job_id": "bad id!"},
    {"op": "submit", "type": "gen", "unique_key": "u" * 257},
    {"op": "submit", "type": "gen", "meta": [1]},
    {"op": "submit", "type": "\u00e9\u4e2d\U0001F600"},
    {"op": "nope\u00e9"},
    {"op": 5},
    {"id": [1]},
    {"op": "submit", "type": "gen", "depends_on": ["a", "b_1"], "on_dep_failure": "hold",
     "batch_id": "b_2"},
    {"op": "submit", "type": "gen", "job_id": "s", "depends_on": ["s"]},
    {"op": "submit", "type": "gen", "depends_on": ["a", "a", 3], "on_dep_failure": "x"},
    {"op": "submit_many", "jobs": [{"type": "gen", "job_id": "a", "depends_on": ["b"]},
                                   {"type": "gen", "job_id": "b", "depends_on": ["a"]}]},
    {"op": "batch_open", "description": "d", "callback": {"type": "gen", "payload": {}}},
    {"op": "batch_open", "callback": {"type": "gen", "job_id": "x", "depends_on": []}},
    {"op": "batch_seal", "batch_id": "b_1"},
    {"op": "batch_get", "batch_id": ""},
    {"op": "list", "status": "deferred"},
]
RAW = {
    "deep-array-65": b'{"op":"submit","type":"gen","payload":' + b"[" * 65 + b"]" * 65 + b"}",
    "deep-array-64": b'{"op":"submit","type":"gen","payload":' + b"[" * 64 + b"]" * 64 + b"}",
    "deep-meta": b'{"op":"submit","type":"gen","meta":' + b'{"a":' * 70 + b"1" + b"}" * 70 + b"}",
    "deep-unclosed": b"[" * 3000,
    "invalid-utf8-string": b'{"op":"submit","type":"gen","payload":"\xff\xfe"}',
    "invalid-utf8-key": b'{"op":"ping","\xc3":1}',
    "surrogate-escape": b'{"op":"submit","type":"\\ud800"}',
    "nul-escape-op": b'{"op":"ping\\u0000x"}',
    "nul-escape-key": b'{"op":"ping","a\\u0000b":1}',
    "nul-escape-jobid": b'{"op":"get","job_id":"a\\u0000"}',
    "dup-keys": b'{"op":"ping","op":"submit"}',
    "huge-number": b'{"op":"list","offset":1e999}',
    "big-int": b'{"op":"list","limit":18446744073709551616}',
    "neg-zero": b'{"op":"wait","job_id":"x","timeout":-0.0}',
    "not-object": b"[1,2]",
    "scalar": b'"ping"',
    "trailing": b'{"op":"ping"} x',
    "truncated": b'{"op":"submit","type":"ge',
    "long-bad-token": b'{"op":"submit","type":' + "\u00e9".encode() * 100 + b"}",
    "nul-byte": b"\0",
    "spaces": b"   ",
    "run-at-leap": b'{"op":"submit","type":"gen","run_at":"2024-02-29T23:59:60,123456789-23:59"}',
    "run-at-bad": b'{"op":"submit","type":"gen","run_at":"1969-12-31T23:59:59Z"}',
    "many-jobs-empty": b'{"op":"submit_many","jobs":[]}',
}


def main():
    fdir = os.path.join(OUT, "frame")
    rdir = os.path.join(OUT, "request")
    os.makedirs(fdir, exist_ok=True)
    os.makedirs(rdir, exist_ok=True)
    for name, data in FRAMES.items():
        with open(os.path.join(fdir, name), "wb") as f:
            f.write(data)
    for i, obj in enumerate(REQ):
        name = "%02d-%s" % (i, obj.get("op") if isinstance(obj.get("op"), str) else "x")
        name = "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in name)
        with open(os.path.join(rdir, name), "wb") as f:
            f.write(json.dumps(obj, ensure_ascii=False).encode())
    for name, data in RAW.items():
        with open(os.path.join(rdir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
