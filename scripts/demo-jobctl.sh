#!/bin/bash
# demo-jobctl.sh: build jobd, start a private redis-server and jobd in .state/,
# run a few real jobs with jobctl and show what a user sees.
#
#   scripts/demo.sh [--keep] [--no-build] [--state DIR]
#
# --keep leaves redis-server and jobd running (JOBD_SOCKET is printed).
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
KEEP=no
BUILD=yes
STATE=$SRCDIR/.state
while [ $# -gt 0 ]; do
	case "$1" in
	--keep) KEEP=yes ;;
	--no-build) BUILD=no ;;
	--state) STATE=$2; shift ;;
	-h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done

if [ "$BUILD" = yes ]; then
	bash "$SRCDIR/scripts/build.sh"
fi

# shellcheck source=lib.sh
. "$SRCDIR/scripts/lib.sh"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ jobctl %s\n' "$*"; "$JOBCTL" "$@"; }
# submit_id ARGS...: submit and print only the job id.
submit_id() { "$JOBCTL" --json submit "$@" | "${PYTHON3:-/usr/bin/python3}" -c 'import json,sys; print(json.load(sys.stdin)["job_id"])'; }

demo_main() {
	step "ping"
	run ping

	step "a builtin echo job, waited for"
	run submit jobd.echo '{"hello": "world"}' --wait

	step "a sleeping job: progress and status while it runs"
	local sleeper
	sleeper=$(submit_id progress_script '{"step": 1}')
	echo "submitted $sleeper"
	sleep 1.5
	run status "$sleeper"
	run wait "$sleeper" --timeout 30
	run result "$sleeper"

	step "an exec job (tests/handlers/echo.py)"
	local ex
	ex=$(submit_id echo_script '{"story": "once upon a time"}')
	run wait "$ex" --timeout 30
	run result "$ex"

	step "a failing job (exit status 3 is 'the job failed')"
	local bad
	bad=$(submit_id failing_script '{}')
	set +e
	run wait "$bad" --timeout 30
	echo "(exit status $?)"
	set -e
	run status "$bad"

	step "a delayed job and a jobd.sleep"
	run submit jobd.sleep '{"seconds": 1}' --delay 2
	run submit jobd.sleep '{"seconds": 1}'

	step "list and stats"
	run list
	run list --status failed
	run stats
	run workers
}

if ! jobd_stack_start "$STATE" 2; then
	exit 1
fi
if [ "$KEEP" = no ]; then
	trap 'jobd_stack_stop' EXIT
fi

demo_main

if [ "$KEEP" = yes ]; then
	echo
	echo "jobd is still running:  export JOBD_SOCKET=$JOBD_SOCKET"
	echo "logs: $JOBD_LOG   stop: kill \$(cat $STATE/jobd.fgpid) \$(cat $STATE/redis.pid)"
fi
