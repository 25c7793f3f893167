// Multi-file output: each top-level key is a file (relative to "dir"), each value its content.
// std.extVar('secrets') holds the values named in tconfd.d/quickstart.json.
local secrets = std.extVar('secrets');
local nginx = import 'nginx.libsonnet';  // found through the template's own directory (or --jpath)

local upstreams = secrets.upstreams;

{
  // A string is written as-is (a final newline is added if missing).
  'nginx.conf': nginx.conf({
    workers: secrets.cpus,
    listen: upstreams.listen,
    servers: upstreams.servers,
    api_key: std.stripChars(secrets.api_key, '\n'),
  }),

  // Anything else is written as pretty JSON.
  'app.json': {
    home: secrets.home,
    workers: secrets.cpus,
    upstreams: [s.host + ':' + s.port for s in upstreams.servers],
    api_key_sha256: std.native('sha256')(std.stripChars(secrets.api_key, '\n')),
    rendered_at: secrets.rendered_at,
  },
}
