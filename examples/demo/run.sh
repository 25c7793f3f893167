#!/bin/sh
# The demo, from any directory: the same as `npm run demo` at the repository root (which builds tconfd first).
#   examples/demo/run.sh [--duration SECONDS]
set -eu
cd "$(dirname "$0")/../.."
exec npm run --silent demo -- "$@"
