#!/usr/bin/env bash
# axe-core (the npm package) for the console's accessibility tests, into var/axe/ (ignored by
# git, never committed). Offline or without npm: says so and exits 0; the tests then skip with
# that reason. AXE_VERSION pins the version.
set -uo pipefail
version="${AXE_VERSION:-4.14.1}"
dest="var/axe"
if [ -f "$dest/node_modules/axe-core/axe.min.js" ]; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  echo "axe: npm not found; accessibility tests will be skipped" >&2
  exit 0
fi
mkdir -p "$dest"
if ! npm install --prefix "$dest" --no-save --no-audit --no-fund --no-package-lock \
    "axe-core@$version" >"$dest/npm.log" 2>&1; then
  echo "axe: npm could not install axe-core@$version (offline?), see $dest/npm.log;" \
    "accessibility tests will be skipped" >&2
fi
exit 0
