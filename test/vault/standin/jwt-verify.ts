/** Signature checks shared by the jwt and kubernetes auth methods (jose, local public keys or a JWKS URL). */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, createRemoteJWKSet, decodeProtectedHeader } from 'jose';

export function parsePublicKeys(pems: string[]): KeyObject[] {
  return pems.map((pem) => {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new Error('data does not contain any valid RSA or ECDSA public keys');
    }
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
      throw new Error('data does not contain any valid RSA or ECDSA public keys');
    }
    return key;
  });
}

export class MalformedJwtError extends Error {}

/** The claims, if one of the keys verifies the signature; undefined if none does. Throws MalformedJwtError. */
export async function verifyWithKeys(
  token: string,
  keys: KeyObject[],
  jwksUrl?: string,
): Promise<Record<string, unknown> | undefined> {
  if (token.split('.').length !== 3) throw new MalformedJwtError('square/go-jose: compact JWS format must have three parts');
  try {
    decodeProtectedHeader(token);
  } catch (err) {
    throw new MalformedJwtError(`square/go-jose: ${(err as Error).message}`);
  }
  const attempts: Array<() => Promise<{ payload: Uint8Array }>> = keys.map((k) => () => compactVerify(token, k));
  if (jwksUrl) {
    const set = createRemoteJWKSet(new URL(jwksUrl));
    attempts.push(() => compactVerify(token, set));
  }
  for (const attempt of attempts) {
    try {
      const { payload } = await attempt();
      const claims = JSON.parse(Buffer.from(payload).toString('utf8')) as unknown;
      if (typeof claims === 'object' && claims !== null && !Array.isArray(claims)) {
        return claims as Record<string, unknown>;
      }
      return undefined;
    } catch {
      // next key
    }
  }
  return undefined;
}

export function tokenAlg(token: string): string {
  try {
    return String(decodeProtectedHeader(token).alg ?? '');
  } catch {
    return '';
  }
}
