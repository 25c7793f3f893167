#!/bin/sh
# examples/pki-tls, here: tconfd renders a TLS certificate and key from Vault's PKI engine (pki/issue/web) and
# supervises server.mjs; a short certificate TTL (TLS_TTL, default 60s) makes the rotation visible: a new certificate
# well before the old one expires, the server reloaded (SIGHUP, same pid), a client verifying each one against the CA.
#
#   examples/pki-tls/run.sh                 uses VAULT_ADDR + VAULT_TOKEN (admin) if set, else starts the Vault stand-in
#   RUN_SECONDS=80 examples/pki-tls/run.sh  stops by itself (as Ctrl-C would) after 80 s
#   TLS_TTL=5m PORT=9443 examples/pki-tls/run.sh
set -eu
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)

[ -f "$ROOT/dist/cli.js" ] || (cd "$ROOT" && npm run build)

# Background processes get their own session (setsid) when possible: Ctrl-C then reaches this script only, which
# stops tconfd first (it revokes what it holds) and the stand-in last.
detach() { if command -v setsid >/dev/null 2>&1; then setsid "$@" & else "$@" & fi; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tconfd-pki-tls.XXXXXX")
STANDIN_PID= CLIENT_PID= TIMER_PID= TCONFD_PID=
cleanup() {
  for pid in $TIMER_PID $CLIENT_PID; do kill "$pid" 2>/dev/null || true; done
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

# Vault: PKI engine + root CA, role "web" (localhost), policy "web-tls"; writes $TMP/ca.pem and $TMP/token (a token
# with the web-tls policy only: tconfd does not get the admin token).
node "$ROOT/scripts/run-ts.mjs" "$HERE/setup.ts" "$TMP"

mkdir "$TMP/tls"
export TLS_DIR="$TMP/tls" TLS_TTL="${TLS_TTL:-60s}" TLS_CN=localhost
PORT=${PORT:-8443}
echo "tconfd renders $TLS_DIR/cert.pem (0644) and key.pem (0600), ttl=$TLS_TTL, and runs server.mjs on https://localhost:$PORT/"
echo "Ctrl-C stops it all (the server, then tconfd, which revokes its token)"

# The client waits for the server, then reports each certificate it is served.
(
  until [ -s "$TLS_DIR/key.pem" ]; do sleep 0.2; done
  sleep 1
  exec node "$HERE/client.mjs" "$PORT" "$TMP/ca.pem"
) &
CLIENT_PID=$!

detach env -u VAULT_TOKEN node "$ROOT/dist/cli.js" -d "$HERE/tconfd.d" --auth token --vault-token-file "$TMP/token" \
  --log-format pretty --wait 200ms:2s \
  -- node "$HERE/server.mjs" "$TLS_DIR" "$PORT"
TCONFD_PID=$!
trap 'kill -INT "$TCONFD_PID" 2>/dev/null || true' INT
trap 'kill -TERM "$TCONFD_PID" 2>/dev/null || true' TERM
if [ -n "${RUN_SECONDS:-}" ]; then
  (sleep "$RUN_SECONDS" && kill -INT "$TCONFD_PID" 2>/dev/null) &
  TIMER_PID=$!
fi
status=0
while :; do
  if wait "$TCONFD_PID"; then status=0; else status=$?; fi
  kill -0 "$TCONFD_PID" 2>/dev/null || break # a signal interrupted the wait: tconfd is still stopping
done
echo "tconfd exited with status $status"
exit "$status"
