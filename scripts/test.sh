#!/bin/bash
# test.sh: dependencies, build and "make check" (unit + integration tests),
# then a summary.  Exits non-zero on any failure and prints the logs of the
# failed tests so that CI output shows why.
#
#   scripts/test.sh            normal build (_build), ASan+UBSan (_build-asan),
#                              then clang -O0 (_build-clang)
#   scripts/test.sh --normal   the normal build only
#   scripts/test.sh --asan     the ASan+UBSan build only
#   scripts/test.sh --clang    clang -O0 -g, warnings as errors: build, unit
#                              tests and a quick part of the integration
#                              tests (what only another compiler or -O0
#                              shows: links, warnings)
#   extra arguments go to configure (e.g. --enable-werror)
#
# JOBD_TEST_FLAVOURS="normal asan clang" does the same as the flags.
set -uo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
FLAVOURS=${JOBD_TEST_FLAVOURS:-}
CONF_ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--asan) FLAVOURS="$FLAVOURS asan" ;;
	--normal) FLAVOURS="$FLAVOURS normal" ;;
	--clang) FLAVOURS="$FLAVOURS clang" ;;
	--all) FLAVOURS="normal asan clang" ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) CONF_ARGS+=("$1") ;;
	esac
	shift
done
[ -n "${FLAVOURS// /}" ] || FLAVOURS="normal asan clang"

bash "$SRCDIR/scripts/deps.sh" || { echo "test: deps.sh failed" >&2; exit 1; }

# Sanitizer behaviour: fail loudly, keep going in forked children, report
# leaks.  A leak or UB report makes the process exit non-zero, which the
# tests notice.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# print_failed_logs DIR: the log of every test whose result is not PASS/SKIP.
print_failed_logs() {
	local dir=$1 trs log res n=0
	while IFS= read -r trs; do
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n1)
		case "$res" in PASS|SKIP|XFAIL) continue ;; esac
		log=${trs%.trs}.log
		n=$((n + 1))
		echo
		echo "================ $res: ${log#"$dir"/} ================"
		if [ -f "$log" ]; then
			# The whole log, but not unbounded.
			tail -c 200000 "$log"
		fi
	done < <(find "$dir" -name '*.trs' -not -path '*/.deps/*' | sort)
	[ "$n" -gt 0 ] || { [ -f "$dir/test-suite.log" ] && tail -n 200 "$dir/test-suite.log"; }
}

# summary DIR: one line per test program (a suite's global result carries
# its counts, see tests/suite-driver.sh).
summary() {
	local dir=$1 trs
	while IFS= read -r trs; do
		printf '  %-6s %s\n' "$(sed -n 's/^:global-test-result: //p' "$trs" | head -n1)" \
			"${trs#"$dir"/}"
	done < <(find "$dir" -name '*.trs' | sort)
}

# The clang flavour's part of the integration tests (pytest -k).
CLANG_QUICK=${JOBD_CLANG_QUICK:-test_protocol or test_jobctl}

declare -A RESULT
overall=0
for flavour in $FLAVOURS; do
	case "$flavour" in
	normal) builddir=$SRCDIR/_build; bargs=() ;;
	asan) builddir=$SRCDIR/_build-asan; bargs=(--asan) ;;
	# Warnings are errors here: a printf-like function without its
	# format attribute (-Wformat-nonliteral) fails.
	clang) builddir=$SRCDIR/_build-clang
		bargs=(--builddir "$builddir" CC=clang "CFLAGS=-O0 -g" --enable-werror) ;;
	*) echo "test: unknown flavour '$flavour'" >&2; exit 2 ;;
	esac
	echo
	echo "######## $flavour build: $builddir"
	start=$SECONDS
	if ! bash "$SRCDIR/scripts/build.sh" --no-deps "${bargs[@]}" "${CONF_ARGS[@]}"; then
		RESULT[$flavour]="BUILD FAILED"
		overall=1
		continue
	fi
	# Old results would be reported as if they were new.
	find "$builddir" \( -name '*.trs' -o -name '*.log' \) -path '*/tests/*' -delete 2>/dev/null
	rm -f "$builddir/test-suite.log"
	# Tests run one at a time: they time real processes on 2 cores.
	checks=(check)
	[ "$flavour" = normal ] && checks+=(check-valgrind)
	# clang: the unit tests, then the integration tests of the protocol
	# and jobctl (a few minutes; the whole suite runs in the other two),
	# then the libFuzzer harnesses (gcc builds only replay their corpus).
	[ "$flavour" = clang ] && checks=(check-unit)
	# ASan: the suites of the C code (the app's, the dashboard's and the
	# package's run in the normal build): CI's time bound.
	[ "$flavour" = asan ] && checks=(check-sanitize)
	if make -C "$builddir" -j1 "${checks[@]}" &&
	    { [ "$flavour" != clang ] ||
	      { JOBD_BUILDDIR=$builddir JOBD_SRCDIR=$SRCDIR \
	        sh "$SRCDIR/tests/integration/run.sh" -k "$CLANG_QUICK" &&
	        JOBD_BUILDDIR=$builddir JOBD_SRCDIR=$SRCDIR \
	        sh "$SRCDIR/tests/fuzz/run.sh"; }; }; then
		RESULT[$flavour]="PASS ($((SECONDS - start)) s)"
	else
		RESULT[$flavour]="FAIL ($((SECONDS - start)) s)"
		overall=1
		print_failed_logs "$builddir"
	fi
	# The benchmarks once, tiny, so that they cannot rot (never timed).
	if [ "$flavour" = normal ]; then
		if bash "$SRCDIR/bench/run.sh" --smoke --prebuilt "$builddir"; then
			echo "---- bench smoke: PASS"
		else
			echo "---- bench smoke: FAIL"
			RESULT[$flavour]="${RESULT[$flavour]}, bench smoke FAIL"
			overall=1
		fi
		# The README's first command, so that it cannot rot either.
		if bash "$SRCDIR/scripts/demo.sh" --no-build >"$builddir/demo.log" 2>&1; then
			echo "---- demo: PASS"
		else
			echo "---- demo: FAIL (scripts/demo.sh; its last lines:)"
			tail -n 60 "$builddir/demo.log"
			RESULT[$flavour]="${RESULT[$flavour]}, demo FAIL"
			overall=1
		fi
	fi
	echo "---- $flavour: ${RESULT[$flavour]}"
	summary "$builddir"
done

echo
echo "######## summary"
for flavour in $FLAVOURS; do
	printf '  %-7s %s\n' "$flavour" "${RESULT[$flavour]}"
done
exit $overall
