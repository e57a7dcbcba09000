#!/usr/bin/env bash
# Installs redis-server (Debian's package) when it is missing, for the tests and benchmarks,
# which start their own servers on free loopback ports. Nothing is started here.
set -euo pipefail
command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1 && exit 0
echo "redis-server not found: installing Debian's redis-server package" >&2
bash "$(dirname "$0")/apt-install.sh" redis-server
redis-server --version >&2
