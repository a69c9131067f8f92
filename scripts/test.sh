#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, then runs
#  - checks of the source itself (t/source: log tags, documentation),
#  - the C unit tests and the Apache::Test suite under prefork, worker
#    and event (as "nobody" when run as root),
#  - the event-MPM suspension tests (t/event, private httpd instances),
#  - the install test (root only: it really installs, then undoes it),
#  - the browser client's unit tests and the end-to-end browser test.
# Ends with one line "suites: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh build test browser || exit 1
bash scripts/build.sh || exit 1

passed=0 failed=0 skipped=0
summary=()
suite() {
    local name=$1; shift
    echo
    echo "=== suite $name: $*"
    if "$@"; then
        passed=$((passed + 1)); summary+=("  PASS  $name")
    else
        failed=$((failed + 1)); summary+=("  FAIL  $name")
    fi
}

suite source prove t/source/*.pl
for mpm in prefork worker event; do
    suite "apache-test-$mpm" bash scripts/apache-test.sh "$mpm"
done
suite event-async bash scripts/event-test.sh
if [ "$(id -u)" = 0 ]; then
    suite install prove t/system/install.pl
else
    skipped=$((skipped + 1)); summary+=("  SKIP  install (needs root)")
fi
if [ -x scripts/js-test.sh ]; then
    suite js-client bash scripts/js-test.sh
fi

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ "$skipped" -gt 0 ]; then
    echo "suites: $passed passed, $failed failed, $skipped skipped"
else
    echo "suites: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
