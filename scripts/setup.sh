#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building, testing and the
# demo, then builds dist/flanneld. Idempotent: each step is skipped when its
# result is already there. Must run as root (network namespaces).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (the tests and the demo create network namespaces)" >&2
  exit 1
fi

node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}

# command → Debian package
declare -A NEED=(
  [etcd]=etcd-server [etcdctl]=etcd-client [ip]=iproute2 [ping]=iputils-ping
  [traceroute]=traceroute [iperf3]=iperf3 [iptables]=iptables [nft]=nftables
  [openssl]=openssl [unshare]=util-linux [sysctl]=procps [strip]=binutils
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
node_ok || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! node_ok; then
  echo "setup: Node.js >= 20.19 is required, found $(node --version 2>/dev/null || echo none)" >&2
  exit 1
fi

# npm ci when node_modules does not match the lockfile.
stamp=node_modules/.lock-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

npm run --silent build
