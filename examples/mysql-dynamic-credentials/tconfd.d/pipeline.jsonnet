// The application's view of the pipeline database: the MySQL user and password Vault created for this pod
// (secrets.db, from database/creds/pipeline), and where the server is (DB_HOST, DB_PORT from the environment).
// Each top-level key is a file written in "dir", with mode 0640.
local s = std.extVar('secrets');

local conn = {
  host: s.host,
  port: std.parseInt(s.port),
  database: 'pipeline',
  user: s.db.username,
  password: s.db.password,
};

{
  // What app.mjs reads: the fields, and the same as a Go MySQL driver DSN (what Pipeline itself would take).
  'database.json': conn {
    dsn: '%(user)s:%(password)s@tcp(%(host)s:%(port)d)/%(database)s?parseTime=true' % conn,
  },

  // A client option file: mariadb --defaults-extra-file=/run/pipeline/my.cnf
  'my.cnf': std.lines([
    '[client]',
    'host=%(host)s' % conn,
    'port=%(port)d' % conn,
    'user=%(user)s' % conn,
    'password="%s"' % std.strReplace(std.strReplace(conn.password, '\\', '\\\\'), '"', '\\"'),
    'database=%(database)s' % conn,
  ]),
}
