// nginx basic auth from Vault: each key of the KV v2 secret secret/data/web/basic-auth is a user name, its value the
// password. One `user:$2y$10$...` line per user (bcrypt, cost 10, as `htpasswd -B` writes; nginx and Apache accept it).
//
// bcrypt salts are random, but tconfd remembers each hash while the password stays the same: a refresh that reads
// the same secret writes the same bytes, so the file is not rewritten; a changed password changes only its own line.
local users = std.extVar('secrets').auth.data;  // KV v2: {data, metadata}

{
  htpasswd: std.join('\n', [
    std.native('htpasswd')(user, users[user], 10)
    for user in std.objectFields(users)  // sorted: a stable file
  ]),
}
