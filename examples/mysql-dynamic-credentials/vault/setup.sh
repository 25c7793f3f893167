#!/bin/sh
# Vault side of the example (MySQL dynamic credentials, Kubernetes service-account login), with the vault CLI as an operator (VAULT_ADDR, VAULT_TOKEN):
#   DB_HOST=127.0.0.1 DB_PORT=3306 vault/setup.sh
# The same requests as JSON bodies of Vault's HTTP API are in requests.json (applied by apply.mjs, run.sh and the
# tests); test/e2e/mysql.test.ts checks that both say the same.
#
# DB_HOST, DB_PORT       where Vault reaches MySQL/MariaDB (the article: 127.0.0.1:3306)
# DB_ROOT_PASSWORD       the password of root (the article: rootpassword)
# DB_USER_HOST           the host part of the accounts Vault creates: localhost as in the article, where the application
#                        runs next to the database; '%' (or the pod network, e.g. 10.42.%) when it connects from pods
# DEFAULT_TTL, MAX_TTL   the credentials' lease: renewed up to MAX_TTL, then tconfd gets new ones (the article: 10m, 24h)
# K8S_HOST               the Kubernetes API server Vault sends TokenReview requests to
set -eu
DB_HOST=${DB_HOST:-127.0.0.1}
DB_PORT=${DB_PORT:-3306}
DB_ROOT_PASSWORD=${DB_ROOT_PASSWORD:-rootpassword}
DB_USER_HOST=${DB_USER_HOST:-localhost}
DEFAULT_TTL=${DEFAULT_TTL:-10m}
MAX_TTL=${MAX_TTL:-24h}
K8S_HOST=${K8S_HOST:-https://kubernetes.default.svc:443}

# the database secrets engine at database/
vault secrets enable database

# how Vault connects: a Go MySQL driver DSN; username and password are injected into the templated URL (the article
# wrote root:rootpassword into it: Vault then warns, and cannot hide or rotate the password)
vault write database/config/my-mysql-database \
    plugin_name=mysql-database-plugin \
    connection_url="{{username}}:{{password}}@tcp(${DB_HOST}:${DB_PORT})/" \
    allowed_roles="pipeline" \
    username=root \
    password="$DB_ROOT_PASSWORD"

# one MySQL user per lease, with every privilege on the pipeline database. The article sets no revocation statement:
# Vault's default is REVOKE ... FROM '{{name}}'@'%'; DROP USER '{{name}}'@'%', which fails for a user created
# @'localhost' (and the user would stay): the revocation names the same host as the creation.
vault write database/roles/pipeline \
    db_name=my-mysql-database \
    creation_statements="GRANT ALL ON pipeline.* TO '{{name}}'@'${DB_USER_HOST}' IDENTIFIED BY '{{password}}';" \
    revocation_statements="REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'${DB_USER_HOST}'; \
        DROP USER '{{name}}'@'${DB_USER_HOST}';" \
    default_ttl="$DEFAULT_TTL" \
    max_ttl="$MAX_TTL"

# Kubernetes service-account login: the pods of service account pipeline in namespace pipeline log in as the Vault
# role pipeline (the name the article's bank-vaults client uses for both the login and the credentials)
vault auth enable kubernetes
vault write auth/kubernetes/config kubernetes_host="$K8S_HOST"
vault write auth/kubernetes/role/pipeline \
    bound_service_account_names=pipeline \
    bound_service_account_namespaces=pipeline \
    policies=pipeline \
    ttl=1h

# what the role may do: get credentials, and revoke the leases tconfd replaced (without it they live on until
# they expire)
vault policy write pipeline - <<HCL
path "database/creds/pipeline" {
  capabilities = ["read"]
}
path "sys/leases/revoke" {
  capabilities = ["update"]
}
HCL
