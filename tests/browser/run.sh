#!/bin/sh
# run.sh [PYTEST-ARGS...]: the dashboard's browser tests (automake TESTS
# entry): headless Chromium driven by selenium through chromedriver against
# a real redis-server and jobd.  Skips (77) only when Chromium, chromedriver
# or selenium are absent: scripts/deps.sh installs chromium,
# chromium-driver and python3-selenium, so CI runs them.
#   CHROMIUM, CHROMEDRIVER: other binaries (default /usr/bin/chromium,
#   /usr/bin/chromedriver); JOBD_SCREENSHOTS=docs/img: save the pictures.

PY_MODULES="pytest selenium"
. "$(dirname "$0")/../pytest-env.sh"
: "${CHROMIUM:=$(command -v chromium || echo /usr/bin/chromium)}"
: "${CHROMEDRIVER:=/usr/bin/chromedriver}"
for tool in "$CHROMIUM" "$CHROMEDRIVER"; do
	if [ ! -x "$tool" ]; then
		echo "$0: SKIP: $tool is not installed (scripts/deps.sh installs it)"
		exit 77
	fi
done
export CHROMIUM CHROMEDRIVER
run_suite browser tests/browser "$@"
