#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (PyKMIP as a KMIP client and
# server, SoftHSM2 as a PKCS#11 token), or says exactly what to install when not root.
set -euo pipefail
need=()
/usr/bin/python3 -c 'import kmip' >/dev/null 2>&1 || need+=(python3-pykmip)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
# openssl issues a second client certificate for the kmip L1 provider's tests (test/hsm/kmip.test.ts).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# A real PostgreSQL server for the PostgreSQL store tests (test/helpers/postgres.ts runs initdb).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
# systemd-analyze verifies the hardened unit of deploy/systemd (test/deploy/systemd.test.ts).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# Debian's headless Chromium: playwright-core drives it in the web console's browser test
# (test/console/browser.test.ts); playwright downloads no browser of its own.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing ${need[*]} from apt (needed by the interoperability, HSM, PostgreSQL and browser tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
else
  echo "The tests need these Debian packages: ${need[*]}" >&2
  echo "Install them with:  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
