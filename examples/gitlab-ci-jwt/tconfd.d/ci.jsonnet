// Files a CI job's build needs, rendered into the job's checkout ($CI_PROJECT_DIR, mode 0600) from one KV v2 secret
// read with the job's Vault token. The job's Makefile includes secrets.mk; npm reads .npmrc.
local secrets = std.extVar('secrets');
local deploy = secrets.deploy.data;  // KV v2 answers {data, metadata}, as in rconfd

{
  // make: `include secrets.mk` (Make variables, not environment variables: they are not exported to every command)
  'secrets.mk': std.join('\n', [
    '# rendered by tconfd for %s: do not commit' % secrets.project,
    'DEPLOY_HOST := %s' % deploy.deploy_host,
    'DEPLOY_USER := %s' % deploy.deploy_user,
    'DEPLOY_PASSWORD := %s' % deploy.deploy_password,
  ]),

  // npm publish: the registry token for this scope only
  '.npmrc': std.join('\n', [
    '@%s:registry=https://%s/' % [deploy.npm_scope, deploy.npm_registry],
    '//%s/:_authToken=%s' % [deploy.npm_registry, deploy.npm_token],
  ]),
}
