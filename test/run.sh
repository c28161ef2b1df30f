#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, then runs unit,
# integration and e2e tests (real etcd, network namespaces) with Node's
# test runner. `npm test` runs this; so does CI (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
npm run --silent format:check
started=$(date +%s)
status=0
# Unit tests are independent and run in parallel; the others start real
# daemons and namespaces on two cores, so they run one file at a time.
node --test dist/js/test/unit || status=1
node --test --test-concurrency=1 dist/js/test/integration dist/js/test/e2e || status=1
echo "test: finished in $(( $(date +%s) - started )) s, status $status" >&2
exit $status
