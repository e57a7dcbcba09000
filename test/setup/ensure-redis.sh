#!/usr/bin/env bash
# Installs redis-server (Debian's package) when it is missing, for the tests and benchmarks,
# which start their own servers on free loopback ports. Nothing is started here.
set -euo pipefail
command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1 && exit 0
echo "redis-server not found: installing Debian's redis-server package" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install redis-server" >&2; exit 1; }
  SUDO="sudo"
fi
# Keep the package from starting a system-wide server on 6379: the tests start their own.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  ADDED_POLICY=1
fi
trap '[ -z "$ADDED_POLICY" ] || $SUDO rm -f "$POLICY"' EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
redis-server --version >&2
