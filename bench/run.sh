#!/usr/bin/env bash
# Benchmarks: installs what is missing, builds, prints the figures of the
# packet core, the control plane and the data paths (the last two build
# clusters in network namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
node dist/js/bench/core.js
node dist/js/bench/control_plane.js
node dist/js/bench/dataplane.js
