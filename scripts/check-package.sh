#!/usr/bin/env bash
# Issue 14 §1: the npm package installs in an empty directory and runs without the sources.
#   npm pack (its `prepare` builds dist/ fresh) → npm install of the tarball in an empty
#   directory (production dependencies only, from the registry or npm's cache) → kmipctl
#   --help → `openkcm serve` on its defaults → `kmipctl status` on its defaults → SIGTERM.
# A CI step (.ci/run) rather than a vitest test: the install compiles better-sqlite3 and
# pkcs11js from source when no prebuilt binary can be fetched (minutes of CPU), and it needs
# the registry. test/build/compiled.test.ts checks the compiled program on every test run.
# Prints one line per check; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/openkcm-package-XXXXXX")
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-package: FAIL: $*" >&2; [ -f "$work/app/serve.log" ] && sed 's/^/  serve: /' "$work/app/serve.log" >&2; exit 1; }
ok() { echo "check-package: ok: $*"; }

npm pack --silent --pack-destination "$work" >"$work/pack.out" 2>"$work/pack.err" || { cat "$work/pack.err" >&2; fail "npm pack"; }
tgz=$(ls "$work"/openkcm-*.tgz)
tar tzf "$tgz" >"$work/contents"
for f in package/package.json package/bin/openkcm.js package/bin/kmipctl.cjs package/dist/cli/kmipctl-help.json package/dist/cli/openkcm.js package/dist/cli/openkcm.js.map package/dist/cli/kmipctl.js package/console/index.html package/console/app.js package/console/lib.js package/console/console.css package/README.md package/LICENSE; do
  grep -qx "$f" "$work/contents" || fail "$f is not in the package"
done
if grep -E '^package/(src|test|bench|conformance|scripts|spec|vectors)/|\.ts$' "$work/contents"; then fail "the package carries sources or test data"; fi
ok "npm pack: $(basename "$tgz"), $(wc -l <"$work/contents") files, $(du -k "$tgz" | cut -f1) KiB, no sources"

mkdir "$work/app"
cd "$work/app"
echo '{ "name": "openkcm-package-check", "private": true }' >package.json
npm install --no-audit --no-fund --omit=dev "$tgz" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "npm install of the tarball in an empty directory"; }
for absent in tsx typescript vitest; do [ ! -e "node_modules/$absent" ] || fail "$absent was installed with the package"; done
ok "npm install in an empty directory (production dependencies only)"

help=$(npx --no-install kmipctl --help) || fail "kmipctl --help exited $?"
grep -q '^Usage: kmipctl' <<<"$help" || fail "kmipctl --help printed no usage"
ok "npx kmipctl --help"

# The defaults, unless the KMIP or admin port is taken on this machine (then the system picks).
listen=()
if (exec 3<>/dev/tcp/127.0.0.1/5696) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5697) 2>/dev/null; then
  listen=(--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0)
  echo "check-package: note: port 5696 or 5697 is in use here; serving on ports the system picks"
fi
env -u NODE_OPTIONS ./node_modules/.bin/openkcm serve "${listen[@]}" >"$work/app/serve.log" 2>&1 &
server=$!
admin=
for _ in $(seq 1 240); do
  admin=$(grep -oE 'Admin API: https://[0-9.]+:[0-9]+' "$work/app/serve.log" | head -1 | cut -d' ' -f3) || true
  [ -n "$admin" ] && break
  kill -0 "$server" 2>/dev/null || fail "openkcm serve exited before it was ready"
  sleep 0.5
done
[ -n "$admin" ] || fail "openkcm serve printed no admin URL within 120 s"
[ -f certs/client.crt ] && [ -f data/openkcm.db ] || fail "openkcm serve made no ./certs or ./data"
ok "openkcm serve on defaults: $(grep -oE 'listening on [0-9.]+:[0-9]+' serve.log | head -1), admin $admin"

server_flag=()
[ ${#listen[@]} -eq 0 ] || server_flag=(--server "$admin")
npx --no-install kmipctl status "${server_flag[@]}" >"$work/status.out" 2>&1 || { cat "$work/status.out" >&2; fail "kmipctl status"; }
ok "npx kmipctl status: $(head -1 "$work/status.out")"

# The web console's files come from the package's console/ folder (issue 14 §3).
console_url=$(grep -oE 'Web console: https://[0-9.]+:[0-9]+/console/' serve.log | head -1 | cut -d' ' -f3) || true
[ -n "$console_url" ] || fail "openkcm serve printed no web console URL"
node -e '
  const https = require("node:https"); const fs = require("node:fs");
  https.get(process.argv[1], { cert: fs.readFileSync("certs/client.crt"), key: fs.readFileSync("certs/client.key"), ca: fs.readFileSync("certs/ca.crt") }, (res) => {
    let body = ""; res.on("data", (d) => (body += d)); res.on("end", () => {
      const ok = res.statusCode === 200 && /<title>OpenKCM console<\/title>/.test(body) && /script-src .self./.test(String(res.headers["content-security-policy"]));
      process.exit(ok ? 0 : 1);
    });
  }).on("error", () => process.exit(1));' "$console_url" || fail "GET $console_url did not answer the console page with its Content-Security-Policy"
ok "web console: $console_url"

kill -TERM "$server"
code=0
wait "$server" || code=$?
server=
[ "$code" -eq 0 ] || fail "openkcm serve exited $code on SIGTERM"
ok "SIGTERM: clean exit"
cd "$repo"
