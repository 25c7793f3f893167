// The private key of the certificate cert.jsonnet writes: the same secret path, so the same pki/issue answer (tconfd
// fetches each distinct secret once, however many templates use it). Mode 0600 (tls.json).
{
  'key.pem': std.extVar('secrets').tls.private_key + '\n',
}
