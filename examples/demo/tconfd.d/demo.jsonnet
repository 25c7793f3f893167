// The demo's template: one file, app.json, read by examples/demo/app.mjs at start and on SIGHUP.
local secrets = std.extVar('secrets');  // names from demo.json: db (database/creds/demo), config (KV v2)
local leases = std.extVar('leases');  // lease facts (never the lease id): renewable, lease_duration, expires_at

{
  'app.json': {
    db: {
      host: '127.0.0.1',
      port: 5432,
      username: secrets.db.username,
      password: secrets.db.password,
    },
    // As of when these credentials were obtained; renewals extend the lease without re-rendering.
    lease: leases.db,
    // KV v2 answers {data, metadata}, as in rconfd.
    greeting: secrets.config.data.greeting,
  },
}
