#!/usr/bin/env bash
# Repacks a published package with one change: its engines.node set to RANGE. Writes
# vendor/<name>-<version>-node20.tgz and prints the diff against the published tarball, which
# must be that one line. See vendor/README.md for why.
#   bash vendor/repack.sh @platformatic/dynamic-buffer@0.3.1
set -euo pipefail
spec=$1
range='>= 20.19.4 || >= 22.18.0 || >= 24.6.0'
vendor=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
published=$(npm pack "$spec" --silent)
mkdir orig new
tar xzf "$published" -C orig
tar xzf "$published" -C new
node -e '
  const fs = require("fs"), [file, range] = process.argv.slice(1)
  const text = fs.readFileSync(file, "utf8")
  const from = JSON.stringify(JSON.parse(text).engines.node)
  if (text.split(`"node": ${from}`).length !== 2) throw new Error(`no single "node": ${from} in ${file}`)
  fs.writeFileSync(file, text.replace(`"node": ${from}`, `"node": ${JSON.stringify(range)}`))
' new/package/package.json "$range"
(cd new/package && npm pack --ignore-scripts --silent --pack-destination "$work" >/dev/null)
out="$vendor/${published%.tgz}-node20.tgz"
mv "$work/$published" "$out"
diff -r orig new || true
echo "wrote vendor/$(basename "$out")"
