{
  conf(c)::
    std.join('\n', [
      'worker_processes %d;' % c.workers,
      '',
      'events {}',
      '',
      'http {',
      '  upstream app {',
    ] + [
      '    server %s:%d%s;' % [s.host, s.port, if std.get(s, 'backup', false) then ' backup' else '']
      for s in c.servers
    ] + [
      '  }',
      '',
      '  server {',
      '    listen %d;' % c.listen,
      '    location / {',
      '      proxy_set_header X-Api-Key "%s";' % c.api_key,
      '      proxy_pass http://app;',
      '    }',
      '  }',
      '}',
    ]),
}
