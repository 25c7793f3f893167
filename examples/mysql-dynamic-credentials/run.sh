#!/usr/bin/env bash
# Runs the example on this machine, without Kubernetes or Docker:
#   1. a throwaway MariaDB (mariadb-install-db in a temp dir, mariadbd on a free loopback port; as root it runs as
#      the `mysql` user), root's password set to DB_ROOT_PASSWORD (rootpassword, as in the article this example follows), sql/setup.sql;
#   2. a Vault: a real `vault server -dev` when `vault` is on PATH (configured by vault/setup.sh), otherwise the
#      repository's Vault stand-in (test/vault/standin, configured by vault/apply.mjs with vault/requests.json);
#   3. tconfd with tconfd.d/, supervising app.mjs, for RUN_SECONDS (default 40), with short leases (DEFAULT_TTL 10s,
#      MAX_TTL 30s) so that the credentials are renewed, then rotated: new user, new files, SIGHUP to the app, old
#      user dropped after --revoke-grace;
#   4. SIGTERM to tconfd: the app stops, every lease is revoked, and the script shows what is left in MariaDB.
# Everything is removed at the end. Needs mariadbd, mariadb-install-db and the mariadb client, and Node.js 20.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUN_SECONDS=${RUN_SECONDS:-40}
export DEFAULT_TTL=${DEFAULT_TTL:-10s} MAX_TTL=${MAX_TTL:-30s} DB_ROOT_PASSWORD=${DB_ROOT_PASSWORD:-rootpassword}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
find_bin() { for b in "$@"; do command -v "$b" 2>/dev/null && return; [ -x "/usr/sbin/$b" ] && echo "/usr/sbin/$b" && return; done; return 1; }

[ -f "$root/dist/cli.js" ] || (cd "$root" && npm run build)

mariadbd=$(find_bin mariadbd mysqld) || { echo "mariadbd (or mysqld) not found" >&2; exit 1; }
install_db=$(find_bin mariadb-install-db mysql_install_db) || { echo "mariadb-install-db not found" >&2; exit 1; }
client=$(find_bin mariadb mysql) || { echo "the mariadb (or mysql) client is not found" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tconfd-mysql-example.XXXXXX")
chmod 0711 "$work" # MariaDB's own user must reach its data directory inside
vault_pid='' tconfd_pid='' db_pid=''
cleanup() {
  set +eu
  [ -n "$tconfd_pid" ] && kill -KILL "$tconfd_pid" 2>/dev/null
  [ -n "$vault_pid" ] && kill -TERM "$vault_pid" 2>/dev/null && wait "$vault_pid" 2>/dev/null
  [ -n "$db_pid" ] && kill -TERM "$db_pid" 2>/dev/null && wait "$db_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. MariaDB ----------------------------------------------------------------------------------------------
say "MariaDB: a throwaway server"
user_args=()
mkdir -p "$work/db"
if [ "$(id -u)" = 0 ]; then user_args=(--user=mysql); chown mysql: "$work/db"; fi
"$install_db" --no-defaults "${user_args[@]}" --datadir="$work/db/data" \
  --auth-root-authentication-method=normal --skip-test-db >"$work/db/install.log" 2>&1 \
  || { cat "$work/db/install.log" >&2; exit 1; }
export DB_HOST=127.0.0.1 DB_PORT
DB_PORT=$(free_port)
"$mariadbd" --no-defaults "${user_args[@]}" --datadir="$work/db/data" --port="$DB_PORT" --bind-address=127.0.0.1 \
  --socket="$work/db/mysqld.sock" --pid-file="$work/db/mysqld.pid" --log-error="$work/db/error.log" \
  --skip-log-bin --innodb-buffer-pool-size=16M --innodb-flush-log-at-trx-commit=0 >"$work/db/out.log" 2>&1 &
db_pid=$!
until "$client" --no-defaults -u root -S "$work/db/mysqld.sock" -e 'SELECT 1' >/dev/null 2>&1; do
  kill -0 "$db_pid" 2>/dev/null || { cat "$work/db/error.log" >&2; exit 1; }
  sleep 0.2
done
# root gets the article's password on every root account (root@localhost, root@127.0.0.1 ...), in one session
"$client" --no-defaults -u root -S "$work/db/mysqld.sock" -N -e \
  "SELECT CONCAT('ALTER USER ''root''@''', Host, ''' IDENTIFIED BY ''$DB_ROOT_PASSWORD'';') FROM mysql.user WHERE User = 'root'" |
  "$client" --no-defaults -u root -S "$work/db/mysqld.sock"
sql_() { "$client" --no-defaults -u root -p"$DB_ROOT_PASSWORD" -h 127.0.0.1 -P "$DB_PORT" "$@"; }
sql_ <"$here/sql/setup.sql"
echo "MariaDB $("$mariadbd" --version | awk '{print $3}') on 127.0.0.1:$DB_PORT: database pipeline"

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
  app_token=$(vault token create -policy=pipeline -ttl=1h -field=token)
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
  # What the cluster would provide: a service-account token for pipeline/pipeline, signed by a key Vault trusts.
  node "$here/vault/local-k8s.mjs" "$work/token" pipeline pipeline
  tconfd_auth=(-t "$work/token")
fi

# ---- 3. tconfd and the application ---------------------------------------------------------------------------
say "tconfd -u $VAULT_ADDR -- node app.mjs   (for ${RUN_SECONDS}s; leases: default_ttl $DEFAULT_TTL, max_ttl $MAX_TTL)"
mkdir -p "$work/run"
(
  export NAMESPACE=pipeline APP_CONFIG_DIR="$work/run" APP_CONFIG="$work/run/database.json" APP_INTERVAL=3000
  unset DB_ROOT_PASSWORD
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
node -e "const c=require('$work/run/database.json'); c.dsn=c.dsn.replace(':'+c.password+'@',':<hidden>@'); c.password='<hidden>'; console.log(JSON.stringify(c,null,2))"

for _ in $(seq "$RUN_SECONDS"); do kill -0 "$tconfd_pid" 2>/dev/null && sleep 1; done
say "SIGTERM to tconfd"
kill -TERM "$tconfd_pid" 2>/dev/null || echo "(tconfd had already exited)"
status=0
wait "$tconfd_pid" || status=$?
tconfd_pid=''
echo "tconfd exited with status $status (the application's)"

# ---- 4. what is left -----------------------------------------------------------------------------------------
say "MariaDB afterwards"
sql_ -t -e "SELECT username AS \`user that wrote\`, count(*) AS \`rows\`, time(min(at)) AS first, time(max(at)) AS last
            FROM pipeline.events GROUP BY username ORDER BY min(at)"
sql_ -t -e "SELECT count(*) AS \`Vault users left (v-%)\` FROM mysql.user WHERE User LIKE 'v-%'"
exit "$status"
