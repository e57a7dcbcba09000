#!/usr/bin/env bash
# Installs PostgreSQL (Debian's postgresql package) when it is missing, for the tests and
# benchmarks, which run their own throwaway clusters (initdb, pg_ctl) on free loopback ports.
# Nothing is started here, and the package's own cluster is kept from starting.
set -euo pipefail
if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then exit 0; fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then exit 0; fi
echo "PostgreSQL not found: installing Debian's postgresql package" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install postgresql" >&2; exit 1; }
  SUDO="sudo"
fi
# Keep the package from starting a system-wide server on 5432: the tests start their own.
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
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >&2
