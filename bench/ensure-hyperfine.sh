#!/usr/bin/env bash
# Installs hyperfine (Debian's package) when it is missing, for the start-up goals of
# `npm run bench` (bench/startup-goals.ts), as test/setup/ensure-redis.sh does for redis-server.
# Exits non-zero when it cannot: the bench then reports those goals as not measured.
set -euo pipefail
command -v hyperfine >/dev/null 2>&1 && exit 0
echo "hyperfine not found: installing Debian's hyperfine package" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install hyperfine" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale: update only when the first try fails.
$SUDO apt-get install -y -qq --no-install-recommends hyperfine >/dev/null 2>&1 ||
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends hyperfine >/dev/null; }
hyperfine --version >&2
