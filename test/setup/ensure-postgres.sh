#!/usr/bin/env bash
# Installs PostgreSQL (Debian's postgresql package) when it is missing, for the tests and
# benchmarks, which run their own throwaway clusters (initdb, then the server) on free loopback
# ports. Nothing is started here, and the package's own cluster is kept from starting.
set -euo pipefail
if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then exit 0; fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then exit 0; fi
echo "PostgreSQL not found: installing Debian's postgresql package" >&2
bash "$(dirname "$0")/apt-install.sh" postgresql
ls /usr/lib/postgresql/*/bin/initdb >&2
