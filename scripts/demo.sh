#!/bin/bash
# demo.sh: the README's first command.  Installs what is missing, builds,
# then runs the main job: a private redis-server, jobd with the story app's
# job types and its dashboard (http://127.0.0.1:9181/, or a free port when
# that one is taken; DASHBOARD=HOST:PORT to choose), and the story app
# (gunicorn on a loopback port); generates a few stories in the background,
# revises and exports them while printing their jobs' status and progress,
# and stops everything.  What was made stays in .state/demo/ (stories.db,
# exports/, logs).
#
#   scripts/demo.sh [--no-build] [--keep] [--words N]
#
# --keep leaves Redis, jobd (and so the dashboard) and the app running.
# scripts/demo-jobctl.sh shows the same stack driven by jobctl alone.
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=yes
KEEP=no
export WORDS=${WORDS:-3000}
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) BUILD=no ;;
	--keep) KEEP=yes ;;
	--words) WORDS=$2; shift ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done

[ "$BUILD" = no ] || bash "$SRCDIR/scripts/build.sh"

# shellcheck source=lib.sh
. "$SRCDIR/scripts/lib.sh"
PY=/usr/bin/python3
STATE=$SRCDIR/.state/demo
APP=$SRCDIR/examples/storyapp
WEB_PID=

stop_all() {
	if [ -n "$WEB_PID" ] && kill -0 "$WEB_PID" 2>/dev/null; then
		kill -TERM "$WEB_PID"
		wait "$WEB_PID" 2>/dev/null || true
	fi
	jobd_stack_stop quiet
}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$STATE"
step "a private redis-server in $STATE"
redis_stack_start "$STATE"
trap stop_all EXIT

# The app and its handlers share these; worker.py runs jobd on the app's
# jobd.conf as it is, with -o overrides for this checkout (what the
# Procfile's "worker:" line does in production).
export REDIS_URL=unix://$REDIS_SOCK
export STORY_DB=$STATE/stories.db EXPORT_DIR=$STATE/exports
export USE_BACKGROUND_JOBS=true STORY_OFFLINE_DELAY=${STORY_OFFLINE_DELAY:-0.3}
export JOBD=$JOBD_BIN JOBCLIENT_LIB=$JOBD_BUILDDIR/libclient/.libs/libjobclient.so
export PYTHONPATH=$SRCDIR/bindings/python

# The dashboard's address: 9181, the conventional port, unless it is taken.
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [ -z "${DASHBOARD:-}" ]; then
	if $PY -c 'import socket; socket.socket().bind(("127.0.0.1", 9181))' 2>/dev/null; then
		DASHBOARD=127.0.0.1:9181
	else
		DASHBOARD=127.0.0.1:$(free_port)
	fi
fi
DASH_URL=http://$DASHBOARD/

step "jobd with the story app's job types (examples/storyapp/jobd.conf)"
(cd "$APP" && exec "$PY" worker.py --workers 2 --http "$DASHBOARD") \
	2>"$JOBD_LOG" &
echo $! > "$STATE/jobd.fgpid"
jobd_wait_ready
"$JOBCTL" ping
for _ in $(seq 100); do
	curl -fsS "${DASH_URL}api/stats" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "$DASH_URL" | grep -q '<title>jobd</title>' || {
	echo "demo: the dashboard does not answer at $DASH_URL" >&2
	exit 1
}
printf '\033[1mdashboard: %s\033[0m (open it in a browser: queues, workers, jobs, live)\n' "$DASH_URL"

step "the story app on 127.0.0.1 (gunicorn, threaded)"
PORT=$(free_port)
(cd "$APP" && PORT=$PORT exec /usr/bin/gunicorn -c gunicorn_config.py app:app) \
	> "$STATE/web.log" 2>&1 &
WEB_PID=$!
APP_URL=http://127.0.0.1:$PORT
for _ in $(seq 100); do
	curl -fsS "$APP_URL/api/health" >/dev/null 2>&1 && break
	sleep 0.1
done
echo "app at $APP_URL (log $STATE/web.log)"

step "stories through the app's HTTP API, run by jobd's workers (watch them on $DASH_URL)"
APP_URL=$APP_URL sh "$APP/demo.sh"

step "what jobd saw"
"$JOBCTL" stats
"$JOBCTL" list --limit 12

if [ "$KEEP" = yes ]; then
	trap - EXIT
	echo
	echo "still running: app $APP_URL, dashboard $DASH_URL, JOBD_SOCKET=$JOBD_SOCKET"
	echo "stop with: kill $WEB_PID; kill \$(cat $STATE/jobd.fgpid) \$(cat $STATE/redis.pid)"
	exit 0
fi
stop_all
trap - EXIT
echo
echo "Results: stories in $STORY_DB, exports in $EXPORT_DIR:"
ls -l "$EXPORT_DIR" | sed 's/^/  /'
echo "Logs: $JOBD_LOG, $STATE/web.log, $REDIS_LOG"
