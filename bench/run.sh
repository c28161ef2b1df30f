#!/usr/bin/env bash
# Benchmarks: installs what is missing, builds, prints the figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
node dist/js/bench/control_plane.js
