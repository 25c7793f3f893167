#!/bin/sh
# Vault side of the example (dynamic PostgreSQL roles, Kubernetes service-account login), with the vault CLI as an operator (VAULT_ADDR, VAULT_TOKEN):
#   DB_HOST=postgres.db DB_PORT=5432 vault/setup.sh
# The same requests as JSON bodies of Vault's HTTP API are in requests.json (applied by apply.mjs, run.sh and the
# tests); test/e2e/postgres.test.ts checks that both say the same.
#
# DB_HOST, DB_PORT   where Vault reaches PostgreSQL (the article: postgres.db:5432)
# DEFAULT_TTL, MAX_TTL   the credentials' lease: renewed up to MAX_TTL, then tconfd gets new ones (the article: 1h, 24h)
# K8S_HOST           the Kubernetes API server Vault sends TokenReview requests to
set -eu
DB_HOST=${DB_HOST:-postgres.db}
DB_PORT=${DB_PORT:-5432}
DEFAULT_TTL=${DEFAULT_TTL:-1h}
MAX_TTL=${MAX_TTL:-24h}
K8S_HOST=${K8S_HOST:-https://kubernetes.default.svc:443}

# activate kubernetes authentication under the path /auth/kubernetes/
vault auth enable kubernetes
# how Vault checks the service-account tokens it is given (once per cluster; see Vault's kubernetes auth docs for
# the CA certificate and the reviewer token when Vault runs outside the cluster)
vault write auth/kubernetes/config kubernetes_host="$K8S_HOST"

# activate database secret engine under the path /database/
vault secrets enable database

# a connection to the db1 database, as admin_db1; username and password are injected into the templated
# connection_url
vault write database/config/db1 \
    plugin_name=postgresql-database-plugin \
    allowed_roles=db1 \
    connection_url="postgresql://{{username}}:{{password}}@${DB_HOST}:${DB_PORT}/db1" \
    max_open_connections=5 \
    max_connection_lifetime=5s \
    username=admin_db1 \
    password=password

# replace the dummy password: from now on only Vault knows admin_db1's password
vault write -force database/rotate-root/db1

# how a role is created (member of db1_grp, whose default privileges it extends) and dropped (what it still owns
# goes to db1_grp first)
vault write database/roles/db1 \
    db_name=db1 \
    creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; \
        ALTER DEFAULT PRIVILEGES FOR ROLE \"{{name}}\" IN SCHEMA public GRANT ALL PRIVILEGES ON TABLES TO db1_grp; \
        ALTER DEFAULT PRIVILEGES FOR ROLE \"{{name}}\" IN SCHEMA public GRANT ALL PRIVILEGES ON SEQUENCES TO db1_grp; \
        ALTER DEFAULT PRIVILEGES FOR ROLE \"{{name}}\" IN SCHEMA public GRANT ALL PRIVILEGES ON FUNCTIONS TO db1_grp; \
        GRANT db1_grp TO \"{{name}}\";" \
    revocation_statements="REASSIGN OWNED BY \"{{name}}\" TO \"db1_grp\"; \
        DROP OWNED BY \"{{name}}\"; \
        DROP ROLE \"{{name}}\";" \
    default_ttl="$DEFAULT_TTL" \
    max_ttl="$MAX_TTL"

# As a convention, name the role and policy after the namespace and service account
namespace=public
service=application

# The role is bound to a service account of a namespace: Vault checks them against the claims of the JWT tconfd
# logs in with
vault write "auth/kubernetes/role/$namespace-$service" \
    bound_service_account_names="$service" \
    bound_service_account_namespaces="$namespace" \
    policies="$namespace-$service" \
    ttl=1h

# The policy allows new db1 credentials, and revoking the leases tconfd replaced (without it they live on until
# they expire)
vault policy write "$namespace-$service" - <<HCL
path "database/creds/db1" {
  capabilities = ["read"]
}
path "sys/leases/revoke" {
  capabilities = ["update"]
}
HCL
