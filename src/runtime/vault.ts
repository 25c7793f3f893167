/**
 * The Vault stack as main.ts wires it: client, auth method, the session (tokens and leases), the vault secret source.
 * In a module of its own so that configurations without vault secrets never load it (undici: startup time and memory).
 */
import { existsSync } from 'node:fs';
import { UsageError } from '../cli/parse.js';
import type { Settings } from '../cli/settings.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { VaultSource } from '../sources/vault.js';
import { createAuthMethod, VaultClient, VaultSession, type AuthConfig, type RevocationReport } from '../vault/index.js';

export interface VaultWiring {
  readonly client: VaultClient;
  readonly session: VaultSession;
  readonly source: VaultSource;
}

const SERVICE_ACCOUNT_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

export function setUpVault(opts: {
  settings: Settings;
  logger: Logger;
  clock: Clock;
  env: Readonly<Record<string, string | undefined>>;
  /** A vault secret of the config, named in the error when no Vault address is configured. */
  firstSecret: string;
}): VaultWiring {
  const { settings, logger, clock, env } = opts;
  const v = settings.vault;
  if (v.addr === undefined) {
    throw new UsageError(`secret "${opts.firstSecret}" needs a Vault address: --vault-addr (-u) or VAULT_ADDR`);
  }
  if (v.skipVerify) logger.warn('VAULT_SKIP_VERIFY is set: Vault\'s TLS certificate is NOT verified');
  const caCert = v.caCert ?? (v.addr.startsWith('https:') && existsSync(SERVICE_ACCOUNT_CA) ? SERVICE_ACCOUNT_CA : undefined);
  const client = new VaultClient({
    addr: v.addr,
    ...(caCert !== undefined ? { caCert } : {}),
    ...(v.clientCert !== undefined ? { clientCert: v.clientCert } : {}),
    ...(v.clientKey !== undefined ? { clientKey: v.clientKey } : {}),
    ...(v.namespace !== undefined ? { namespace: v.namespace } : {}),
    skipVerify: v.skipVerify,
    timeoutMs: v.timeoutMs,
    retry: v.retry,
    maxResponseBytes: settings.maxSecretBytes,
    clock,
    logger,
  });
  const a = settings.auth;
  let auth: AuthConfig;
  switch (a.method) {
    case 'kubernetes':
    case 'jwt':
      auth = { kind: a.method, loginPath: a.loginPath, tokenFile: a.jwtPath, ...(a.jwtEnv !== undefined ? { token: a.jwtEnv } : {}), env };
      break;
    case 'approle':
      auth = { kind: 'approle', mount: a.loginPath.replace(/\/login$/, ''), roleIdFile: a.approleRoleIdFile!, secretIdFile: a.approleSecretIdFile! };
      break;
    case 'token': {
      const token = env.VAULT_TOKEN;
      if (a.tokenFile === undefined && (token === undefined || token === '')) {
        throw new UsageError('--auth token needs VAULT_TOKEN or --vault-token-file');
      }
      auth = { kind: 'token', ...(a.tokenFile !== undefined ? { tokenFile: a.tokenFile } : { token: token! }) };
      break;
    }
  }
  const session = new VaultSession({ client, auth: createAuthMethod(client, auth), clock, logger });
  const source = new VaultSource({ session, clock });
  logger.debug({ vault: client.addr, auth: a.method }, 'Vault configured');
  return { client, session, source };
}

/**
 * Give back everything the session recorded and has not revoked (at exit, after the lease scheduler's own
 * revocation; or after --check or a start that failed or was stopped), and say what was and was not revoked.
 */
export async function revokeAndReport(vault: VaultWiring, logger: Logger, signal?: AbortSignal): Promise<RevocationReport> {
  const r = await vault.session.revokeAll(signal);
  logRevocation(r, logger);
  return r;
}

export function logRevocation(r: RevocationReport, logger: Logger): void {
  const notRevoked = r.leases.notRevoked + r.tokens.notRevoked;
  const kept = r.kept.leases + r.kept.tokens > 0 ? { kept: r.kept } : {};
  if (notRevoked === 0) {
    if (r.leases.revoked + r.tokens.revoked > 0) {
      logger.info({ leases: r.leases.revoked, tokens: r.tokens.revoked, ...kept }, 'leases and tokens revoked');
    }
    return;
  }
  const fields = {
    revoked: { leases: r.leases.revoked, tokens: r.tokens.revoked },
    notRevoked: { leases: r.leases.notRevoked, tokens: r.tokens.notRevoked },
    ...(r.missingPolicy.length > 0 ? { policy: r.missingPolicy } : {}),
    ...kept,
  };
  if (r.missingPolicy.length > 0) {
    logger.warn(
      fields,
      `${r.leases.notRevoked} lease(s) and ${r.tokens.notRevoked} token(s) NOT revoked: Vault's policy refuses it (add ${r.missingPolicy.join(' and ')}); they stay valid until the end of their TTL`,
    );
    return;
  }
  logger.warn(
    fields,
    r.revokeDenied && r.tokens.notRevoked === 0
      ? `${r.leases.notRevoked} lease(s) NOT revoked: the policy does not allow sys/leases/revoke and the token is not tconfd's to revoke; they expire at the end of their TTL`
      : `${notRevoked} lease(s) or token(s) NOT revoked (Vault refused or did not answer): they expire at the end of their TTL`,
  );
}
