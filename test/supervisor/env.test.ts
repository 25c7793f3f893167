import { describe, expect, it, vi } from 'vitest';
import { childEnv, warnIfPid1 } from '../../src/supervisor/index.js';
import type { Logger } from '../../src/log.js';

const parent = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/app',
  VAULT_ADDR: 'https://vault:8200',
  VAULT_CACERT: '/etc/ssl/vault-ca.pem',
  VAULT_CLIENT_KEY: '/etc/ssl/client.key',
  VAULT_TOKEN: 's.hunter2',
  TCONFD_APPROLE_SECRET_ID: 'secret-id',
  VAULT_SECRET_ID: 'secret-id-2',
  K8S_JWT: 'eyJhbGciOi...',
  UNSET: undefined,
};

describe('childEnv', () => {
  it('removes Vault credentials and the -T variable, keeps paths and addresses', () => {
    const { env, removed } = childEnv(parent, { removeNames: ['K8S_JWT'] });
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/home/app',
      VAULT_ADDR: 'https://vault:8200',
      VAULT_CACERT: '/etc/ssl/vault-ca.pem',
      VAULT_CLIENT_KEY: '/etc/ssl/client.key',
    });
    expect(removed).toEqual(['K8S_JWT', 'TCONFD_APPROLE_SECRET_ID', 'VAULT_SECRET_ID', 'VAULT_TOKEN']);
  });

  it('passes --env-keep names through', () => {
    const { env, removed } = childEnv(parent, { removeNames: ['K8S_JWT'], keep: ['VAULT_TOKEN', 'K8S_JWT'] });
    expect(env.VAULT_TOKEN).toBe('s.hunter2');
    expect(env.K8S_JWT).toBe('eyJhbGciOi...');
    expect(removed).toEqual(['TCONFD_APPROLE_SECRET_ID', 'VAULT_SECRET_ID']);
  });

  it('lists only names that were present, and never values', () => {
    const { removed } = childEnv({ PATH: '/bin', VAULT_TOKEN: 's.x' }, { removeNames: ['NOT_SET'] });
    expect(removed).toEqual(['VAULT_TOKEN']);
  });
});

describe('warnIfPid1', () => {
  it('warns once, only as PID 1, pointing to an init', () => {
    const warn = vi.fn();
    const logger = { warn } as unknown as Logger;
    expect(warnIfPid1(logger, 4242)).toBe(false);
    expect(warn).not.toHaveBeenCalled();
    expect(warnIfPid1(logger, 1)).toBe(true);
    expect(warnIfPid1(logger, 1)).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/PID 1.*tini.*s6-overlay/);
  });
});
