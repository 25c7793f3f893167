/**
 * The vault backend: `vault:ROLE[,METHOD][,k=v]*:PATH`.
 *
 * Request: METHOD PATH with the role's token. key=value args go in a JSON body for POST and PUT; for GET and LIST they
 * are sent as query parameters (Vault ignores GET bodies, but reads GET query parameters, e.g.
 * `vault:app,version=1:secret/data/foo` reads version 1).
 *
 * Value: the response's `data`, exactly as rconfd gives it (for KV v2 that is `{data, metadata}`).
 *
 * Lifetime: a `lease` when lease_id is set; a `certificate` when data.certificate is a PEM certificate and there is
 * no lease (validity read from the certificate itself, and the `ttl` the request asked for, to tell when Vault capped
 * it); otherwise `unleased`.
 *
 * Requests go through the Vault session (vault/session.ts), which holds the role's token, records the lease with the
 * token that obtained it, and replaces a token Vault no longer accepts (then retries once). A 403 that remains is an
 * error naming the path and the role. Every error is a SecretFetchError naming the secret path, with the Vault error
 * as cause; none carries response data.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { VaultSecretSpec } from '../config/secret-path.js';
import { parseDuration } from '../duration.js';
import type { VaultExchange, VaultResponse } from '../vault/client.js';
import { detectKv2Deleted } from '../vault/client.js';
import { isPermissionDenied, VaultError } from '../vault/errors.js';
import { VaultLoginError } from '../vault/auth.js';
import type { VaultSession } from '../vault/session.js';
import { SecretFetchError, type Fetched, type Lifetime, type SecretSource } from './types.js';

export interface VaultSourceOptions {
  readonly session: Pick<VaultSession, 'request'>;
  readonly clock: Clock;
}

export class VaultSource implements SecretSource<VaultSecretSpec> {
  private readonly session: Pick<VaultSession, 'request'>;
  /** fetchedAt is the client's clock-stamped send time (VaultExchange.sentAt), read from this same clock. */
  readonly clock: Clock;

  constructor(opts: VaultSourceOptions) {
    this.session = opts.session;
    this.clock = opts.clock;
  }

  async fetch(spec: VaultSecretSpec, signal?: AbortSignal): Promise<Fetched> {
    const res = await this.send(spec, signal);
    const envelope = res.body;
    const data = envelope?.data ?? null;
    const deleted = detectKv2Deleted(data);
    if (deleted !== undefined && isDeletedMetadata(data)) {
      throw new SecretFetchError(spec.raw, deletedMessage(spec.path, deleted.version, deleted.destroyed));
    }
    let lifetime = lifetimeOf(envelope);
    const requestedTtlSec = lifetime.kind === 'certificate' ? requestedTtl(spec) : undefined;
    if (lifetime.kind === 'certificate' && requestedTtlSec !== undefined) lifetime = { ...lifetime, requestedTtlSec };
    return { value: data, lifetime, fetchedAt: res.sentAt };
  }

  private async send(spec: VaultSecretSpec, signal?: AbortSignal): Promise<VaultExchange<VaultResponse>> {
    const withBody = spec.method === 'POST' || spec.method === 'PUT';
    try {
      return await this.session.request<VaultResponse>(
        spec.role,
        {
          method: spec.method,
          path: spec.path,
          ...(spec.body !== undefined ? (withBody ? { body: spec.body } : { query: spec.body }) : {}),
        },
        signal,
      );
    } catch (err) {
      if (signal?.aborted) throw this.wrap(spec, err, signal);
      if (err instanceof VaultLoginError) {
        throw new SecretFetchError(spec.raw, `cannot log in to Vault as role "${spec.role}": ${messageOf(err)}`, {
          cause: err,
        });
      }
      if (isPermissionDenied(err)) {
        throw new SecretFetchError(
          spec.raw,
          `permission denied reading ${spec.path} as role "${spec.role}" (${(err as Error).message})`,
          { cause: err },
        );
      }
      throw this.wrap(spec, err, signal);
    }
  }

  private wrap(spec: VaultSecretSpec, err: unknown, signal?: AbortSignal): SecretFetchError {
    if (err instanceof SecretFetchError) return err;
    if (signal?.aborted) return new SecretFetchError(spec.raw, 'fetch aborted', { cause: err });
    if (err instanceof VaultError && err.kv2Deleted !== undefined) {
      return new SecretFetchError(
        spec.raw,
        deletedMessage(spec.path, err.kv2Deleted.version, err.kv2Deleted.destroyed),
        { cause: err },
      );
    }
    return new SecretFetchError(spec.raw, messageOf(err), { cause: err });
  }
}

/** How long a Vault answer lives. */
export function lifetimeOf(envelope: VaultResponse | undefined): Lifetime {
  const leaseId = envelope?.lease_id;
  if (typeof leaseId === 'string' && leaseId !== '') {
    return {
      kind: 'lease',
      leaseId,
      renewable: envelope?.renewable === true,
      durationSec: typeof envelope?.lease_duration === 'number' ? envelope.lease_duration : 0,
    };
  }
  const data = envelope?.data;
  if (data !== null && typeof data === 'object') {
    const pem = (data as Record<string, unknown>)['certificate'];
    if (typeof pem === 'string' && pem.includes('-----BEGIN CERTIFICATE-----')) {
      try {
        const cert = new X509Certificate(pem);
        const notBefore = Date.parse(cert.validFrom);
        const notAfter = Date.parse(cert.validTo);
        if (Number.isFinite(notBefore) && Number.isFinite(notAfter)) return { kind: 'certificate', notBefore, notAfter };
      } catch {
        // Not a certificate after all: an unleased value.
      }
    }
  }
  return { kind: 'unleased' };
}

/**
 * The `ttl` a request asks for (`vault:app,POST,ttl=72h:pki/issue/web`), in seconds, as Vault reads it: a number of
 * seconds or a Go duration. Undefined when there is none, or when it does not parse (Vault says so itself).
 */
function requestedTtl(spec: VaultSecretSpec): number | undefined {
  const ttl = spec.body?.['ttl'];
  if (ttl === undefined) return undefined;
  try {
    const ms = parseDuration(ttl);
    return ms > 0 ? ms / 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** A 200 KV v2 answer can also carry a deleted version (data null, deletion_time set). */
function isDeletedMetadata(data: unknown): boolean {
  const meta = (data as { metadata?: { deletion_time?: unknown; destroyed?: unknown } }).metadata;
  return (typeof meta?.deletion_time === 'string' && meta.deletion_time !== '') || meta?.destroyed === true;
}

function deletedMessage(path: string, version: number | undefined, destroyed: boolean): string {
  const v = version !== undefined ? `version ${version}` : 'the requested version';
  return destroyed
    ? `${path} is destroyed in Vault (KV v2 ${v}); write a new version`
    : `${path} is deleted in Vault (KV v2 ${v}); undelete it or write a new version`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
