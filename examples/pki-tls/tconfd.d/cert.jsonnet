// The public half: the certificate followed by the CA that issued it (a chain a client can verify), and facts about
// it for the server's log. Mode 0644 (tls.json); the private key is key.jsonnet's, mode 0600.
local tls = std.extVar('secrets').tls;  // pki/issue's data: certificate, issuing_ca, private_key, serial_number...
local lease = std.extVar('leases').tls;  // a certificate without a lease: expires_at is its NotAfter

{
  'cert.pem': tls.certificate + '\n' + tls.issuing_ca + '\n',
  'cert-info.json': {
    serial_number: tls.serial_number,
    expires_at: lease.expires_at,
    lease_duration: lease.lease_duration,
  },
}
