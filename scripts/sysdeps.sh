#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when missing and when we are allowed to.
set -euo pipefail
need=()
command -v unar >/dev/null 2>&1 || need+=(unar)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "sysdeps: missing ${need[*]}; install them with apt-get (tests that need them will fail)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
