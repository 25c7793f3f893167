#!/usr/bin/env node
// Outside Kubernetes (run.sh): what the cluster provides, made up locally. It creates a signing key, tells the
// Vault stand-in to trust it (auth/kubernetes/config pem_keys: the stand-in checks a service-account JWT's signature
// with them instead of calling the TokenReview API), and writes a service-account token for NAMESPACE/SERVICEACCOUNT
// to OUT, where tconfd reads it (-t OUT) like /var/run/secrets/kubernetes.io/serviceaccount/token in a pod.
//   VAULT_ADDR=... VAULT_TOKEN=... node vault/local-k8s.mjs OUT [NAMESPACE] [SERVICEACCOUNT]
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [out, namespace = 'public', serviceAccount = 'application'] = process.argv.slice(2);
const addr = (process.env.VAULT_ADDR ?? '').replace(/\/+$/, '').replace(/\/v1$/, '');
const token = process.env.VAULT_TOKEN ?? '';
if (!out || !addr || !token) {
  console.error('usage: VAULT_ADDR=... VAULT_TOKEN=... node local-k8s.mjs OUT [NAMESPACE] [SERVICEACCOUNT]');
  process.exit(2);
}

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const res = await fetch(`${addr}/v1/auth/kubernetes/config`, {
  method: 'POST',
  headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    kubernetes_host: 'https://127.0.0.1:6443',
    pem_keys: [publicKey.export({ type: 'spki', format: 'pem' })],
  }),
});
if (!res.ok) {
  console.error(`local-k8s.mjs: POST /v1/auth/kubernetes/config answered ${res.status}: ${(await res.text()).trim()}`);
  process.exit(1);
}

// The claims of a projected service-account token, plus the legacy ones Vault also reads.
const now = Math.floor(Date.now() / 1000);
const uid = randomUUID();
const claims = {
  iss: 'kubernetes/serviceaccount',
  sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
  iat: now,
  nbf: now,
  exp: now + 24 * 3600,
  'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid } },
  'kubernetes.io/serviceaccount/namespace': namespace,
  'kubernetes.io/serviceaccount/service-account.name': serviceAccount,
  'kubernetes.io/serviceaccount/service-account.uid': uid,
};
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
const signature = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
writeFileSync(out, `${input}.${signature}`, { mode: 0o600 });
console.log(`service-account token for ${namespace}/${serviceAccount} written to ${out}`);
