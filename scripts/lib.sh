# lib.sh: shell helpers to run a private jobd stack (redis-server + jobd on
# Unix sockets in a state directory).  Source it:
#
#   . scripts/lib.sh
#   jobd_stack_start .state            # or any directory
#   "$JOBCTL" submit jobd.echo '{"hi": 1}' --wait
#   jobd_stack_stop
#
# Extra config for jobd (e.g. [type:...] sections) can be given as a file:
# JOBD_EXTRA_CONF=path, appended to the generated jobd.conf.
# Variables set: JOBD_STATE, JOBD_SOCKET (exported), REDIS_SOCK, JOBD_BIN,
# JOBCTL, JOBD_CONF, JOBD_LOG, REDIS_LOG.

JOBD_SRCDIR=${JOBD_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
JOBD_BUILDDIR=${JOBD_BUILDDIR:-$JOBD_SRCDIR/_build}
JOBD_BIN=${JOBD_BIN:-$JOBD_BUILDDIR/jobd}
JOBCTL=${JOBCTL:-$JOBD_BUILDDIR/jobctl/jobctl}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}

_jobd_wait_for() { # _jobd_wait_for SECONDS CMD...: retry CMD every 0.1 s
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# redis_stack_start DIR: a private redis-server on DIR/redis.sock (with AOF,
# as production wants it); sets the paths used by jobd_stack_*.
redis_stack_start() {
	JOBD_STATE=$(mkdir -p "$1" && cd "$1" && pwd)
	REDIS_SOCK=$JOBD_STATE/redis.sock
	JOBD_SOCKET=$JOBD_STATE/jobd.sock
	JOBD_CONF=$JOBD_STATE/jobd.conf
	JOBD_LOG=$JOBD_STATE/jobd.log
	REDIS_LOG=$JOBD_STATE/redis.log
	export JOBD_SOCKET

	jobd_stack_stop quiet
	rm -f "$REDIS_SOCK" "$JOBD_SOCKET"

	"$REDIS_SERVER" --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
		--save '' --appendonly yes --appendfsync everysec \
		--maxmemory-policy noeviction --dir "$JOBD_STATE" \
		--daemonize yes --pidfile "$JOBD_STATE/redis.pid" \
		--logfile "$REDIS_LOG" || return 1
	if ! _jobd_wait_for 10 test -S "$REDIS_SOCK"; then
		echo "redis-server did not start; see $REDIS_LOG" >&2
		return 1
	fi
}

# jobd_wait_ready: wait until jobd answers on $JOBD_SOCKET.
jobd_wait_ready() {
	if ! _jobd_wait_for 15 "$JOBCTL" -s "$JOBD_SOCKET" ping; then
		echo "jobd did not answer on $JOBD_SOCKET; its log:" >&2
		tail -n 30 "$JOBD_LOG" >&2
		return 1
	fi
}

# jobd_stack_start DIR [WORKERS]: start redis-server and jobd in DIR.
jobd_stack_start() {
	local workers=${2:-2}
	redis_stack_start "$1" || return 1

	{
		echo "[jobd]"
		echo "socket = $JOBD_SOCKET"
		echo "redis = unix://$REDIS_SOCK"
		echo "workers = $workers"
		echo "log_level = info"
		echo "pidfile = $JOBD_STATE/jobd.pid"
		echo
		echo "[type:echo_script]"
		echo "handler = exec"
		echo "command = ${PYTHON3:-/usr/bin/python3} $JOBD_SRCDIR/tests/handlers/echo.py"
		echo "timeout = 30"
		echo
		echo "[type:progress_script]"
		echo "handler = exec"
		echo "command = ${PYTHON3:-/usr/bin/python3} $JOBD_SRCDIR/tests/handlers/progress.py"
		echo "timeout = 60"
		echo
		echo "[type:failing_script]"
		echo "handler = exec"
		echo "command = ${PYTHON3:-/usr/bin/python3} $JOBD_SRCDIR/tests/handlers/fail.py"
		echo "retries = 1"
		echo "backoff = 1"
		if [ -n "${JOBD_EXTRA_CONF:-}" ]; then
			echo
			cat "$JOBD_EXTRA_CONF"
		fi
	} > "$JOBD_CONF"

	"$JOBD_BIN" -f -c "$JOBD_CONF" 2>"$JOBD_LOG" &
	echo $! > "$JOBD_STATE/jobd.fgpid"
	jobd_wait_ready
}

# jobd_stack_stop [quiet]: SIGTERM jobd (SIGKILL after 15 s), stop redis.
jobd_stack_stop() {
	local pid
	[ -n "${JOBD_STATE:-}" ] || return 0
	if [ -f "$JOBD_STATE/jobd.fgpid" ]; then
		pid=$(cat "$JOBD_STATE/jobd.fgpid")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			_jobd_wait_for 15 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		rm -f "$JOBD_STATE/jobd.fgpid"
	fi
	if [ -f "$JOBD_STATE/redis.pid" ]; then
		pid=$(cat "$JOBD_STATE/redis.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			_jobd_wait_for 10 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
		fi
		rm -f "$JOBD_STATE/redis.pid"
	fi
	[ "${1:-}" = quiet ] || echo "stopped jobd and redis-server in $JOBD_STATE"
}
