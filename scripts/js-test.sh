#!/usr/bin/env bash
# The browser client's tests: the parser and stream unit tests (node's
# built-in runner), then the end-to-end test in Debian's Chromium driven
# by playwright-core against a private httpd (needs the module built).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh browser
if [ ! -d node_modules/playwright-core ]; then
    # The lock pins playwright-core; no browser download happens (we use
    # /usr/bin/chromium).
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null
fi
rc=0
node --test t/js/ || rc=1
node --test t/browser/ || rc=1
exit $rc
