#!/usr/bin/env bash
# Runs the example on this machine, without Kubernetes:
#   1. a throwaway PostgreSQL cluster (initdb in a temp dir, a free loopback port), set up with sql/setup.sql and
#      sql/trigger.sql;
#   2. a Vault: a real `vault server -dev` when `vault` is on PATH (configured by vault/setup.sh), otherwise the
#      repository's Vault stand-in (test/vault/standin, configured by vault/apply.mjs with vault/requests.json);
#   3. tconfd with tconfd.d/, supervising app.mjs, for RUN_SECONDS (default 40), with short leases (DEFAULT_TTL 10s,
#      MAX_TTL 30s) so that the credentials are renewed, then rotated: new role, new files, SIGHUP to the app, old
#      role dropped after --revoke-grace;
#   4. SIGTERM to tconfd: the app stops, every lease is revoked, and the script shows what is left in PostgreSQL.
# Everything is removed at the end. Needs PostgreSQL's server binaries (initdb, pg_ctl, psql) and Node.js 20;
# as root, PostgreSQL runs as the `postgres` user.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUN_SECONDS=${RUN_SECONDS:-40}
export DEFAULT_TTL=${DEFAULT_TTL:-10s} MAX_TTL=${MAX_TTL:-30s}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

[ -f "$root/dist/cli.js" ] || (cd "$root" && npm run build)

work=$(mktemp -d "${TMPDIR:-/tmp}/tconfd-pg-example.XXXXXX")
chmod 0711 "$work" # PostgreSQL's own user must reach its data directory inside
vault_pid='' tconfd_pid='' bindir=''
cleanup() {
  set +eu
  [ -n "$tconfd_pid" ] && kill -KILL "$tconfd_pid" 2>/dev/null
  [ -n "$vault_pid" ] && kill -TERM "$vault_pid" 2>/dev/null && wait "$vault_pid" 2>/dev/null
  [ -f "$work/pg/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. PostgreSQL -------------------------------------------------------------------------------------------
say "PostgreSQL: a throwaway cluster"
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries (initdb) not found" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
export DB_HOST=127.0.0.1 DB_PORT
DB_PORT=$(free_port)
as_pg "$bindir/initdb" -D "$work/pg/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$bindir/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $DB_PORT -h 127.0.0.1 -k $work/pg -c fsync=off" start >/dev/null
psql_() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/pg" -p "$DB_PORT" -U postgres "$@"; }
psql_ -d postgres -f "$here/sql/setup.sql"
psql_ -d postgres -f "$here/sql/trigger.sql"
echo "PostgreSQL on 127.0.0.1:$DB_PORT: database db1, group role db1_grp, admin_db1, event trigger trg_create_set_owner"

# ---- 2. Vault ------------------------------------------------------------------------------------------------
vault_port=$(free_port)
export VAULT_ADDR="http://127.0.0.1:$vault_port" VAULT_TOKEN=root
tconfd_auth=()
if command -v vault >/dev/null; then
  say "Vault: vault server -dev, configured by vault/setup.sh"
  vault server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$vault_port" >"$work/vault.log" 2>&1 &
  vault_pid=$!
  until vault status >/dev/null 2>&1; do sleep 0.2; done
  "$here/vault/setup.sh"
  # No Kubernetes API server here to review service-account tokens: tconfd uses a token with the same policy.
  app_token=$(vault token create -policy=public-application -ttl=1h -field=token)
  tconfd_auth=(--auth token)
else
  say "Vault: no vault binary on PATH, the Vault stand-in (test/vault/standin) configured by vault/apply.mjs"
  node "$root/scripts/run-ts.mjs" "$root/test/vault/standin/serve.ts" --port "$vault_port" >"$work/vault.log" 2>&1 &
  vault_pid=$!
  until grep -q '^VAULT_ADDR=' "$work/vault.log" 2>/dev/null; do
    kill -0 "$vault_pid" 2>/dev/null || { cat "$work/vault.log" >&2; exit 1; }
    sleep 0.2
  done
  node "$here/vault/apply.mjs"
  # What the cluster would provide: a service-account token for public/application, signed by a key Vault trusts.
  node "$here/vault/local-k8s.mjs" "$work/token" public application
  tconfd_auth=(-t "$work/token")
fi

# ---- 3. tconfd and the application ---------------------------------------------------------------------------
say "tconfd -u $VAULT_ADDR -- node app.mjs   (for ${RUN_SECONDS}s; leases: default_ttl $DEFAULT_TTL, max_ttl $MAX_TTL)"
mkdir -p "$work/run"
(
  export NAMESPACE=public APP_CONFIG_DIR="$work/run" APP_CONFIG="$work/run/database.json" APP_INTERVAL=3000
  if [ -n "${app_token:-}" ]; then export VAULT_TOKEN="$app_token"; else unset VAULT_TOKEN; fi
  exec node "$root/dist/cli.js" -d "$here/tconfd.d" -u "$VAULT_ADDR" "${tconfd_auth[@]}" \
    --log-format "${TCONFD_LOG_FORMAT:-pretty}" --revoke-grace 5s --wait 500ms:2s \
    -- node "$here/app.mjs"
) &
tconfd_pid=$!
until [ -f "$work/run/database.json" ]; do
  kill -0 "$tconfd_pid" 2>/dev/null || { echo "tconfd exited" >&2; exit 1; }
  sleep 0.2
done
say "rendered: $(ls -l "$work/run/database.json" | cut -d' ' -f1) database.json (password hidden)"
node -e "const c=require('$work/run/database.json'); c.password='<hidden>'; c.dsn=c.dsn.replace(/password='[^']*'/,\"password='<hidden>'\"); console.log(JSON.stringify(c,null,2))"

for _ in $(seq "$RUN_SECONDS"); do kill -0 "$tconfd_pid" 2>/dev/null && sleep 1; done
say "SIGTERM to tconfd"
kill -TERM "$tconfd_pid" 2>/dev/null || echo "(tconfd had already exited)"
status=0
wait "$tconfd_pid" || status=$?
tconfd_pid=''
echo "tconfd exited with status $status (the application's)"

# ---- 4. what is left -----------------------------------------------------------------------------------------
say "PostgreSQL afterwards"
psql_ -d db1 -c "SELECT tableowner AS \"owner of visits\" FROM pg_tables WHERE tablename = 'visits'"
psql_ -d db1 -c "SELECT username AS \"role that wrote\", count(*) AS rows, min(at)::time(0) AS first, max(at)::time(0) AS last
                 FROM visits GROUP BY username ORDER BY min(at)"
psql_ -d db1 -c "SELECT count(*) AS \"generated roles left (v-%)\" FROM pg_roles WHERE rolname LIKE 'v-%'"
exit "$status"
