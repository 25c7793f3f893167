// Rendered once by scripts/build.mjs so that V8's code cache (dist/tconfd.cjs.cache) holds the evaluator's code paths
// that templates use most: the first evaluation of a template then runs precompiled code. Not installed anywhere.
local s = std.extVar('secrets').s;
local lib = {
  dsn(db, host='localhost'):: 'postgres://%s:%s@%s:%d/%s?sslmode=%s' % [db.user, db.password, host, db.port, db.name, 'require'],
};
local dbs = { [k]: s.dbs[k] { name: k } for k in std.objectFields(s.dbs) };
{
  'app.json': {
    dbs: [dbs[k] for k in std.objectFields(dbs) if dbs[k].port > 0],
    dsns: std.map(function(k) lib.dsn(dbs[k]), std.objectFields(dbs)),
    flags: s.flags + { extra+: [1] },
    hosts: std.sort(std.set(s.hosts)),
    n: std.length(s.hosts) * 2 / 4 - 1 + std.floor(1.5),
    ok: std.startsWith(s.hosts[0], 'db') && !std.endsWith(s.hosts[0], 'x') || false,
    sum: std.foldl(function(a, b) a + b, std.range(1, 10), 0),
    sha: std.native('sha256')(s.hosts[0]),
  },
  'app.ini': std.manifestIni({ sections: { [k]: { user: dbs[k].user, port: dbs[k].port } for k in std.objectFields(dbs) } }),
  'app.yaml': std.manifestYamlDoc(dbs),
  'app.env': std.join('\n', ['%s_URL=%s' % [std.asciiUpper(k), lib.dsn(dbs[k])] for k in std.objectFields(dbs)]) + '\n',
  'app.txt': std.lines([std.toString(x) for x in [1, 'a', [2], { b: 3 }]]) + std.strReplace(std.base64(s.hosts[1]), '=', '') + std.format('%5.2f|%-4d|%x', [3.14159, 7, 255]),
  'app.min.json': std.manifestJsonMinified(std.mergePatch(s.flags, { extra: null })),
}
