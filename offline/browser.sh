#!/usr/bin/env bash
# Makes sure the browser of the UI tests is installed: Debian's chromium and chromium-driver
# (tests/support/webdriver.py drives it, headless, over WebDriver). Installs them from the
# machine's Debian mirror when missing (about 100 MB); idempotent.
#
# usage: offline/browser.sh
set -euo pipefail

log() { printf '[browser] %s\n' "$*" >&2; }
command -v chromium >/dev/null && command -v chromedriver >/dev/null && exit 0
if [[ $(id -u) -ne 0 ]]; then
  log "ERROR: chromium and chromium-driver are needed for the UI tests: apt-get install chromium chromium-driver (as root)"
  exit 1
fi
mkdir -p /run/lock
exec 9>/run/lock/mlops-platform-apt.lock
flock -w 600 9 || { log "ERROR: another package install held /run/lock/mlops-platform-apt.lock for 10 minutes"; exit 1; }
log "installing Debian's chromium and chromium-driver (the UI tests' browser) ..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null \
  || { log "ERROR: apt-get installed chromium and chromium-driver, but chromium or chromedriver is not on PATH"; exit 1; }
log "installed $(chromium --version 2>/dev/null | head -1)"
