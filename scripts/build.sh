#!/usr/bin/env bash
# Configures (once) and builds mod_mxhr in the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x configure ] || autoreconf -fi >/dev/null
[ -f Makefile ] || ./configure -q
make -s
