#!/usr/bin/env bash
# Installs Debian packages for the tests and benchmarks (as root, or through sudo), keeping any
# server they bring from starting system-wide: the tests start their own on free loopback ports.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install $*" >&2; exit 1; }
  SUDO="sudo"
fi
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
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
