#!/bin/bash
# run.sh: jobd's long-running paths under valgrind (make check-valgrind).
#
# Starts a private redis-server and jobd (master and its forked workers
# under valgrind's memcheck; exec'd handlers run natively), pushes jobs of every handler kind through them
# (builtin, exec one-shot and persistent, http), cancels, times out, kills
# a worker, reloads, then stops jobd with SIGTERM.  Fails if valgrind
# reports an error or a definite leak in any jobd process.
#
#   VALGRIND_JOBS=N (default 300): jobs per kind.
set -uo pipefail

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
: "${REDIS_SERVER:=$(command -v redis-server || echo /usr/bin/redis-server)}"
PY=/usr/bin/python3
N=${VALGRIND_JOBS:-300}

command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
[ -x "$REDIS_SERVER" ] || { echo "SKIP: no redis-server"; exit 77; }
JOBD=$JOBD_BUILDDIR/jobd
JOBCTL=$JOBD_BUILDDIR/jobctl/jobctl
[ -x "$JOBD" ] || { echo "FAIL: $JOBD is not built"; exit 1; }
if ldd "$JOBD" | grep -q libasan; then
	echo "SKIP: $JOBD is built with ASan; valgrind needs a plain build"
	exit 77
fi

D=$(mktemp -d /tmp/jobd-valgrind.XXXXXX)
REDIS_PID= JOBD_PID= HTTP_PID=
cleanup() {
	[ -n "$JOBD_PID" ] && kill -KILL "$JOBD_PID" 2>/dev/null
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
	[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null
	wait 2>/dev/null
	if [ "${KEEP:-}" = 1 ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

"$REDIS_SERVER" --port 0 --unixsocket "$D/redis.sock" --save '' \
	--appendonly no --daemonize no --logfile "$D/redis.log" &
REDIS_PID=$!

# A tiny HTTP endpoint for the http handler: echoes the job's payload.
cat > "$D/hook_server.py" <<'EOF'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        out = json.dumps({"got": json.loads(body).get("payload")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
$PY "$D/hook_server.py" "$D/http.port" &
HTTP_PID=$!
for _ in $(seq 100); do [ -s "$D/http.port" ] && [ -S "$D/redis.sock" ] && break; sleep 0.05; done
PORT=$(cat "$D/http.port")

H=$JOBD_SRCDIR/tests/handlers
cat > "$D/jobd.conf" <<EOF
[jobd]
socket = $D/jobd.sock
redis = unix://$D/redis.sock
workers = 2
lease = 5
grace = 1
shutdown_grace = 5
log_level = info

[type:echo_exec]
handler = exec
command = $H/echo.py
timeout = 30

[type:echo_persistent]
handler = exec
command = $H/persistent.py
persistent = yes
timeout = 30

[type:hook]
handler = http
url = http://127.0.0.1:$PORT/hook
timeout = 10
EOF

valgrind --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --child-silent-after-fork=no \
	--log-file="$D/vg.%p.log" \
	"$JOBD" -f -c "$D/jobd.conf" > "$D/jobd.log" 2>&1 &
JOBD_PID=$!
for _ in $(seq 600); do
	"$JOBCTL" -s "$D/jobd.sock" ping >/dev/null 2>&1 && break
	sleep 0.1
done
"$JOBCTL" -s "$D/jobd.sock" ping >/dev/null ||
	{ echo "FAIL: jobd did not start"; cat "$D/jobd.log"; exit 1; }

fail=0
$PY "$JOBD_SRCDIR/tests/valgrind/load.py" "$D/jobd.sock" "$N" "$JOBD_PID" || fail=1

kill -TERM "$JOBD_PID"
wait "$JOBD_PID"
echo "  jobd exited with status $?"
JOBD_PID=

errors=0
for f in "$D"/vg.*.log; do
	if grep -qE 'definitely lost: [1-9]|ERROR SUMMARY: [1-9]|Invalid (read|write)|uninitialised' "$f"; then
		echo "==== valgrind report $(basename "$f")"
		cat "$f"
		errors=1
	fi
done
[ "$fail" -eq 0 ] || { echo "FAIL: a job did not end as expected"; tail -50 "$D/jobd.log"; }
[ "$errors" -eq 0 ] || echo "FAIL: valgrind reported errors or definite leaks"
if [ "$fail" -eq 0 ] && [ "$errors" -eq 0 ]; then
	echo "PASS: $(ls "$D"/vg.*.log | wc -l) jobd processes clean under valgrind"
	exit 0
fi
exit 1
