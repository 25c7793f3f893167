#!/bin/sh
# examples/htpasswd, here: tconfd -D renders an nginx htpasswd file from a KV v2 secret with bcrypt hashes
# (std.native('htpasswd')), re-reads the secret every 2 s (--static-refresh), and:
#   - does not rewrite the file while the passwords stay the same (bcrypt salts are random, the hashes are remembered);
#   - rewrites it, with only that user's line changed, when a password changes in Vault.
#
#   examples/htpasswd/run.sh      uses VAULT_ADDR + VAULT_TOKEN (admin) if set, else starts the Vault stand-in
set -eu
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)

[ -f "$ROOT/dist/cli.js" ] || (cd "$ROOT" && npm run build)

# Background processes get their own session (setsid) when possible: Ctrl-C then reaches this script only, which
# stops tconfd first (it revokes its token) and the stand-in last.
detach() { if command -v setsid >/dev/null 2>&1; then setsid "$@" & else "$@" & fi; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tconfd-htpasswd.XXXXXX")
STANDIN_PID= TCONFD_PID=
cleanup() {
  if [ -n "$TCONFD_PID" ] && kill -0 "$TCONFD_PID" 2>/dev/null; then
    kill -TERM "$TCONFD_PID" 2>/dev/null || true
    wait "$TCONFD_PID" 2>/dev/null || true
  fi
  [ -z "$STANDIN_PID" ] || { kill "$STANDIN_PID" 2>/dev/null || true; wait "$STANDIN_PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${VAULT_ADDR:-}" ]; then
  detach node "$ROOT/scripts/run-ts.mjs" "$ROOT/test/vault/standin/serve.ts" >"$TMP/standin.env"
  STANDIN_PID=$!
  i=0
  until grep -q '^VAULT_TOKEN=' "$TMP/standin.env" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "the Vault stand-in did not start" >&2; exit 1; }
    sleep 0.1
  done
  VAULT_ADDR=$(sed -n 's/^VAULT_ADDR=//p' "$TMP/standin.env")
  VAULT_TOKEN=$(sed -n 's/^VAULT_TOKEN=//p' "$TMP/standin.env")
  echo "VAULT_ADDR is not set: started the Vault stand-in (test/vault/standin/serve.ts) at $VAULT_ADDR"
fi
export VAULT_ADDR VAULT_TOKEN

setup() { node "$ROOT/scripts/run-ts.mjs" "$HERE/setup.ts" "$@"; }
mtime() { node -e 'process.stdout.write(String(require("fs").statSync(process.argv[1]).mtimeMs))' "$1"; }
show() { sed -e 's/^\([^:]*\):\(.\{12\}\).*/    \1:\2... (bcrypt hash, shortened here)/' "$1"; }
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
  n=$(($1 * 10)); shift
  until "$@"; do n=$((n - 1)); [ "$n" -gt 0 ] || return 1; sleep 0.1; done
}

# Vault: secret/data/web/basic-auth = {alice, bob}, policy web-basic-auth, $TMP/token (that policy only).
setup init "$TMP"

mkdir "$TMP/nginx"
export HTPASSWD_DIR="$TMP/nginx"
FILE="$HTPASSWD_DIR/htpasswd"
detach env -u VAULT_TOKEN node "$ROOT/dist/cli.js" -D -d "$HERE/tconfd.d" --auth token --vault-token-file "$TMP/token" \
  --static-refresh 2s --log-format pretty
TCONFD_PID=$!
trap 'kill -INT "$TCONFD_PID" 2>/dev/null || true; exit 130' INT
trap 'kill -TERM "$TCONFD_PID" 2>/dev/null || true; exit 143' TERM

wait_for 15 test -s "$FILE" || { echo "no $FILE" >&2; exit 1; }
echo "== $FILE (mode $(ls -l "$FILE" | cut -c1-10)), what nginx's auth_basic_user_file reads:"
show "$FILE"
PASSWORD=alice-first-password node "$HERE/verify.mjs" "$FILE" alice

before=$(mtime "$FILE")
echo "== waiting 5 s: tconfd reads the secret again every 2 s; the passwords did not change"
sleep 5
if [ "$(mtime "$FILE")" = "$before" ]; then
  echo "not rewritten: same mtime, although every bcrypt hash would have a new random salt"
else
  echo "UNEXPECTED: $FILE was rewritten" >&2
  exit 1
fi

echo "== a new password for alice in Vault"
cp "$FILE" "$TMP/htpasswd.before"
PASSWORD=alice-second-password setup set alice
changed() { ! cmp -s "$FILE" "$TMP/htpasswd.before"; }
wait_for 10 changed || { echo "UNEXPECTED: $FILE did not change" >&2; exit 1; }
show "$FILE"
PASSWORD=alice-second-password node "$HERE/verify.mjs" "$FILE" alice
PASSWORD=alice-first-password node "$HERE/verify.mjs" "$FILE" alice || true
if [ "$(grep '^bob:' "$FILE")" = "$(grep '^bob:' "$TMP/htpasswd.before")" ]; then
  echo "bob's line is byte for byte the same: only alice's changed"
fi

echo "== stopping tconfd (as Ctrl-C does)"
kill -INT "$TCONFD_PID"
status=0
wait "$TCONFD_PID" || status=$?
echo "tconfd exited with status $status"
exit "$status"
