#!/bin/sh
# examples/gitlab-ci-jwt, here: the .gitlab-ci.yml command line, exactly, against a Vault configured as README.md says
# (with a local key pair instead of GitLab's JWKS, and GitLab-shaped job tokens signed with it):
#   1. a job for a protected tag logs in and renders secrets.mk and .npmrc, then `make deploy` uses them;
#   2. a job for an unprotected branch is refused by the role's bound claims.
#
#   examples/gitlab-ci-jwt/run.sh      uses VAULT_ADDR + VAULT_TOKEN (admin) if set, else starts the Vault stand-in
set -eu
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)

[ -f "$ROOT/dist/cli.js" ] || (cd "$ROOT" && npm run build)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tconfd-gitlab-ci.XXXXXX")
STANDIN_PID=
cleanup() {
  [ -z "$STANDIN_PID" ] || { kill "$STANDIN_PID" 2>/dev/null || true; wait "$STANDIN_PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${VAULT_ADDR:-}" ]; then
  node "$ROOT/scripts/run-ts.mjs" "$ROOT/test/vault/standin/serve.ts" >"$TMP/standin.env" &
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

# Vault: auth/jwt + role myrole + policy ci-deploy + kv/data/ci/deploy; two job tokens in $TMP (never printed).
node "$ROOT/scripts/run-ts.mjs" "$HERE/setup.ts" "$TMP"

# What GitLab gives a job, and what the job image has: tconfd, its config in TCONFD_DIR (/etc/tconfd in the image).
tconfd() { node "$ROOT/dist/cli.js" "$@"; }
unset VAULT_TOKEN # the job has no Vault token: it logs in with its JWT
export TCONFD_DIR="$HERE/tconfd.d" TCONFD_LOG_FORMAT=pretty CI_PROJECT_PATH=alpine/tconfd-app
mkdir "$TMP/project"
cp "$HERE/Makefile" "$TMP/project/"

echo
echo "== job 'deploy' for the protected tag v1.2.0 of alpine/tconfd-app"
echo "\$ tconfd --once -T CI_JOB_JWT -l auth/jwt/login --auth jwt"
CI_JOB_JWT=$(cat "$TMP/jwt-tag") CI_PROJECT_DIR="$TMP/project" tconfd --once -T CI_JOB_JWT -l auth/jwt/login --auth jwt
echo "rendered into \$CI_PROJECT_DIR (secrets masked here):"
for f in secrets.mk .npmrc; do
  echo "  $(ls -l "$TMP/project/$f" | awk '{print $1}') $f"
  sed -e 's/\(PASSWORD := \).*/\1********/' -e 's/\(_authToken=\).*/\1********/' -e 's/^/      /' "$TMP/project/$f"
done
if command -v make >/dev/null 2>&1; then
  echo "\$ make deploy"
  CI_PROJECT_PATH=alpine/tconfd-app make -s -C "$TMP/project" deploy
fi

echo
echo "== job 'deploy' for the unprotected branch feature/x: the role's bound claims refuse it"
echo "\$ tconfd --once -T CI_JOB_JWT -l auth/jwt/login --auth jwt"
mkdir "$TMP/project2"
if CI_JOB_JWT=$(cat "$TMP/jwt-branch") CI_PROJECT_DIR="$TMP/project2" tconfd --once -T CI_JOB_JWT -l auth/jwt/login --auth jwt; then
  echo "UNEXPECTED: the unprotected branch could log in" >&2
  exit 1
else
  echo "refused as expected (exit $?), nothing rendered: $(ls -A "$TMP/project2" | wc -l) files"
fi
