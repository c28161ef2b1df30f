#!/usr/bin/env bash
# Benchmarks: installs what is missing, builds, prints the figures of the
# packet core, then of the control plane (which builds a cluster in
# network namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
node dist/js/bench/core.js
node dist/js/bench/control_plane.js
