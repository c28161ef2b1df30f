#!/usr/bin/env bash
# The classic cluster demo: installs what is missing, builds, runs it.
# Extra arguments go to the demo, e.g. --wait or --backend=host-gw.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node dist/js/demo/classic_cluster.js "$@"
