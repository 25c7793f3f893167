// The application's view of db1: the role and password Vault created for this pod (secrets.db, from
// database/creds/db1), and where the server is (DB_HOST, DB_PORT from the Deployment's environment).
// Each top-level key is a file written in "dir" (db1.json), with mode 0640.
local s = std.extVar('secrets');

local conn = {
  host: s.host,
  port: std.parseInt(s.port),
  dbname: 'db1',
  user: s.db.username,
  password: s.db.password,
};
local keys = ['host', 'port', 'dbname', 'user', 'password'];

// libpq's key=value form: every value single-quoted, with \ and ' escaped.
local quote(v) = "'" + std.strReplace(std.strReplace(std.toString(v), '\\', '\\\\'), "'", "\\'") + "'";

{
  // What app.mjs reads: the fields, and the same as one libpq connection string.
  'database.json': conn {
    dsn: std.join(' ', ['%s=%s' % [k, quote(conn[k])] for k in keys]),
  },

  // A libpq service file: PGSERVICEFILE=/run/application/pg_service.conf psql service=db1
  'pg_service.conf': std.lines(['[db1]'] + ['%s=%s' % [k, conn[k]] for k in keys]),
}
