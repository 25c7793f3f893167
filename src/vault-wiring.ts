/**
 * The Vault stack as main.ts wires it: client, auth method, one token per role, the vault secret source. In a module
 * of its own so that configurations without vault secrets never load it (undici: startup time and memory).
 */
import { existsSync } from 'node:fs';
import { UsageError } from './cli/parse.js';
import type { Settings } from './cli/settings.js';
import type { Clock } from './clock.js';
import type { VaultWiring } from './daemon.js';
import type { Logger } from './log.js';
import { VaultSource } from './sources/vault.js';
import { createAuthMethod, TokenProvider, VaultClient, type AuthConfig } from './vault/index.js';

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
  const tokens = new TokenProvider(createAuthMethod(client, auth), { clock, logger });
  const source = new VaultSource({ client, tokens, clock, logger });
  logger.debug({ vault: client.addr, auth: a.method }, 'Vault configured');
  return { client, tokens, source };
}

/**
 * Revoke what tconfd obtained when nothing will use it (--check, or a start that failed after secrets were fetched):
 * each lease (sys/leases/revoke, which the policy may not allow), then each token obtained by login (revoke-self,
 * which revokes its leases too). Best effort, bounded by the client's timeouts; errors are logged at debug.
 */
export async function revokeObtained(
  vault: VaultWiring,
  leaseIds: readonly { leaseId: string; role: string }[],
  logger: Logger,
): Promise<void> {
  await Promise.all(
    leaseIds.map(async ({ leaseId, role }) => {
      const token = vault.tokens.grant(role)?.token;
      if (token === undefined) return;
      await vault.client.revokeLease(token, leaseId).catch((err: unknown) => {
        logger.debug({ err: (err as Error).message }, 'lease not revoked');
      });
    }),
  );
  await Promise.all(
    vault.tokens
      .grants()
      .filter(([, g]) => g.byLogin)
      .map(([, g]) =>
        vault.client.revokeSelf(g.token).catch((err: unknown) => {
          logger.debug({ err: (err as Error).message }, 'token not revoked');
        }),
      ),
  );
}
