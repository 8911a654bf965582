#!/bin/bash
# run.sh: jobd's benchmark suite: build jobd optimised, start a private
# Redis and jobd, measure W1/W1p/W1b (submit), W2/W2x/W2l/W2p (drain), W3
# (latency) and memory, beside RQ, BullMQ, beanstalkd, gearmand and a raw
# hiredis LPUSH loop, and write bench/results/<stamp>.{md,json}.
#
#   bench/run.sh                full suite (3 runs each, ~15 min)
#   bench/run.sh --smoke        tiny (N=200, 1 run, no installs, no AOF
#                               pass): checks every workload still works;
#                               exit 1 if one fails.  < 60 s.
# Options:
#   --runs N          runs per workload (median, min–max)
#   --only W1,W3,...  only these workloads (W1 W1p W1b W2 W2c W2x W2l W2p1
#                     W2pp W3 W3a MEM; W2l: W2 of a type under a [limit:*]
#                     with concurrency = workers, this build only)
#   --no-peers        jobd and raw Redis only
#   --no-install      do not apt-get/npm install missing peers
#   --no-aof          skip the appendonly/everysec pass
#   --peers-aof       run the peers in the AOF pass too
#   --scaling         also W2 with 1/2/4/8 workers and 2/4 daemons
#   --durable         also W1/W1b/W2/W3 against a primary with one replica,
#                     with durable = no and yes (the cost of WAIT 1)
#   --cluster         also W2 in 1, 2, 3 namespaces (a daemon each) on one
#                     Redis and on a 3-primary Redis Cluster (loopback
#                     ports): jobs/s, Redis CPU per job, capacity per
#                     primary; --cluster-replicas 1: 6 nodes; --no-cluster:
#                     the one-Redis rows only; --cluster-direct: each
#                     daemon on its namespace's primary by redis://
#                     (--only durable / --only cluster: that alone; both
#                     are benchmark knobs, never run in CI)
#   --builddir DIR    build jobd here (default bench/_build); --prebuilt DIR
#                     uses an existing build as is
#   --baseline REV|DIR  also measure an earlier jobd in the same rounds
#                     (DIR: a build directory; REV: a git revision, built
#                     -O2 -g in bench/_baseline/REV) and print the change
#   --http            this build's jobd serves /metrics on a Unix socket,
#                     scraped once a second during every workload (with
#                     --baseline bench/_build: the cost of the scrapes)
#   --paging          only the dashboard's paging (bench/paging.py): p50/p95
#                     of GET /api/jobs?...&offset=O&limit=50 at N jobs, N
#                     from JOBD_BENCH_PAGING_SIZES (default 100000; e.g.
#                     100000,1000000); --smoke runs it at 2000 after the rest
#
# Needs: redis-server, /usr/bin/python3 with python3-redis (scripts/deps.sh
# installs both), hiredis, jansson.  Only Unix sockets and 127.0.0.1.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$SRC/bench
BUILD=$BENCH/_build
PREBUILT=
SMOKE=no
INSTALL=yes
PEERS=yes
PASS=()
BASELINE=
PAGING=no

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) SMOKE=yes; INSTALL=no; PASS+=(--smoke) ;;
	--runs|--only) PASS+=("$1" "$2"); shift ;;
	--no-peers) PEERS=no; INSTALL=no; PASS+=(--no-peers) ;;
	--no-install) INSTALL=no ;;
	--no-aof|--peers-aof|--scaling|--http|--durable|--cluster|--no-cluster|\
	--cluster-direct)
		PASS+=("$1") ;;
	--cluster-replicas) PASS+=("$1" "$2"); shift ;;
	--builddir) BUILD=$2; shift ;;
	--prebuilt) PREBUILT=$2; shift ;;
	--baseline) BASELINE=$2; shift ;;
	--paging) PAGING=yes ;;
	-h|--help) sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { echo "bench: $*" >&2; }

# ---- jobd, optimised, out of tree
if [ -n "$PREBUILT" ]; then
	BUILD=$(cd "$PREBUILT" && pwd)
	say "using the prebuilt jobd in $BUILD"
else
	case "$BUILD" in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
	say "building jobd with CFLAGS='-O2 -g' in $BUILD"
	bash "$SRC/scripts/build.sh" --no-deps --builddir "$BUILD" \
		CFLAGS='-O2 -g' >"$BENCH/.build.log" 2>&1 || {
		tail -n 40 "$BENCH/.build.log" >&2
		say "build failed (log: bench/.build.log)"
		exit 1
	}
	git -C "$SRC" describe --always --dirty 2>/dev/null >"$BUILD/.bench-commit" || true
fi
for f in jobd libclient/.libs/libjobclient.so; do
	[ -e "$BUILD/$f" ] || { say "missing $BUILD/$f"; exit 1; }
done

# ---- the baseline: a build directory, or a revision built beside this one
BASE_ARGS=()
if [ -n "$BASELINE" ]; then
	if [ -x "$BASELINE/jobd" ]; then
		BASE_BUILD=$(cd "$BASELINE" && pwd)
		BASE_COMMIT=$(cat "$BASE_BUILD/.bench-commit" 2>/dev/null ||
			git -C "$BASE_BUILD" describe --always 2>/dev/null || echo "$BASELINE")
	else
		rev=$(git -C "$SRC" rev-parse --short "$BASELINE^{commit}") || {
			say "--baseline $BASELINE: neither a jobd build nor a git revision"
			exit 2
		}
		BASE_SRC=$BENCH/_baseline/$rev/src
		BASE_BUILD=$BENCH/_baseline/$rev/build
		if [ ! -x "$BASE_BUILD/jobd" ]; then
			say "building baseline $rev in $BASE_BUILD"
			rm -rf "$BASE_SRC"
			mkdir -p "$BASE_SRC"
			git -C "$SRC" archive "$rev" | tar -x -C "$BASE_SRC"
			bash "$BASE_SRC/scripts/build.sh" --no-deps --builddir "$BASE_BUILD" \
				CFLAGS='-O2 -g' >"$BENCH/.build-baseline.log" 2>&1 || {
				tail -n 40 "$BENCH/.build-baseline.log" >&2
				say "baseline build failed (log: bench/.build-baseline.log)"
				exit 1
			}
		fi
		BASE_COMMIT=$rev
	fi
	BASE_ARGS=(--baseline "$BASE_BUILD" --baseline-commit "$BASE_COMMIT")
fi

COMMIT=$(cat "$BUILD/.bench-commit" 2>/dev/null ||
	git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)
if [ "$PAGING" = yes ]; then
	say "running the paging benchmark"
	exec /usr/bin/python3 "$BENCH/paging.py" --build "$BUILD" --commit "$COMMIT" \
		$([ "$SMOKE" = yes ] && echo --smoke)
fi

# ---- the load generators
TOOLS=$BUILD/bench-tools
mkdir -p "$TOOLS"
CC=${CC:-cc}
$CC -O2 -g -Wall -Wextra -I"$SRC/libclient" -I"$BUILD/libclient" "$BENCH/jobbench.c" \
	-L"$BUILD/libclient/.libs" -Wl,-rpath,"$BUILD/libclient/.libs" \
	-ljobclient -ljansson -lpthread -o "$TOOLS/jobbench"
$CC -O2 -g -Wall -Wextra "$BENCH/rawpush.c" -lhiredis -lpthread -o "$TOOLS/rawpush"

# ---- peers: install what is missing (full runs only); what cannot be
# installed is reported as missing, never dropped silently.
MISSING=()
apt_have() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
if [ "$INSTALL" = yes ]; then
	need=()
	for p in python3-rq beanstalkd gearman-job-server libgearman-dev; do
		apt_have "$p" || need+=("$p")
	done
	if [ ${#need[@]} -gt 0 ]; then
		say "apt-get install ${need[*]}"
		if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "${need[@]}"; } \
			>"$BENCH/.install.log" 2>&1; then
			say "apt-get failed (bench/.install.log); continuing"
		fi
	fi
	if command -v npm >/dev/null && [ ! -d "$BENCH/peers/node_modules/bullmq" ]; then
		say "npm install (bullmq) in bench/peers"
		(cd "$BENCH/peers" && timeout 600 npm install --no-audit --no-fund) \
			>>"$BENCH/.install.log" 2>&1 || say "npm install failed; BullMQ will be reported missing"
	fi
fi
if [ "$PEERS" = yes ]; then
	if [ -e /usr/include/libgearman/gearman.h ] || [ -e /usr/include/libgearman-1.0/gearman.h ]; then
		$CC -O2 -g -Wall -Wextra "$BENCH/peers/gearman_bench.c" -lgearman -lpthread \
			-o "$TOOLS/gearman_bench" 2>"$TOOLS/gearman_bench.err" ||
			MISSING+=(--missing "gearmand=client did not compile: $(head -c 200 "$TOOLS/gearman_bench.err")")
	else
		MISSING+=(--missing "gearmand=libgearman-dev is not installed")
	fi
fi

say "running ($([ "$SMOKE" = yes ] && echo smoke || echo full))"
if [ "$SMOKE" != yes ]; then
	exec /usr/bin/python3 "$BENCH/bench.py" --build "$BUILD" --tools "$TOOLS" \
		--build-info "CFLAGS=-O2 -g, $(${CC} --version | head -n1)" \
		--commit "$COMMIT" "${MISSING[@]}" "${BASE_ARGS[@]}" "${PASS[@]}"
fi
# Smoke: the paging benchmark too, tiny, so that it cannot rot.
status=0
/usr/bin/python3 "$BENCH/bench.py" --build "$BUILD" --tools "$TOOLS" \
	--build-info "CFLAGS=-O2 -g, $(${CC} --version | head -n1)" \
	--commit "$COMMIT" "${MISSING[@]}" "${BASE_ARGS[@]}" "${PASS[@]}" || status=1
/usr/bin/python3 "$BENCH/paging.py" --build "$BUILD" --commit "$COMMIT" --smoke || status=1
exit $status
