/**
 * Vault's error texts are shown only as safe summaries (issue 10, item 5): every error answer recorded from Vault 1.8
 * maps to a known message that keeps what failed and drops the values Vault echoes; anything else is counted, not
 * shown.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { safeVaultMessages, safeVaultWarnings, vaultMessage, VaultError } from '../../src/vault/errors.js';

const FIXTURES = new URL('../fixtures/vault/', import.meta.url);

describe("Vault's error texts", () => {
  it('every recorded error answer is summarised without the values it echoes', () => {
    const files = readdirSync(FIXTURES).filter((f) => /^error-.*\.json$/.test(f));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const body = JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as { errors?: unknown[] };
      const { shown, hidden } = safeVaultMessages(body.errors ?? []);
      expect(hidden, `${f}: ${JSON.stringify(body.errors)}`).toBe(0);
      for (const text of shown) expect(text, f).not.toMatch(/nope|evil\.example\.com|nosuchmount/);
    }
  });

  it('keeps what failed, drops what was echoed', () => {
    expect(vaultMessage('common name evil.example.com not allowed by this role')).toBe('a requested name is not allowed by this role');
    expect(vaultMessage('unknown role: s3cr3t-role')).toBe('unknown role');
    expect(vaultMessage('role "x" could not be found')).toBe('unknown role');
    expect(vaultMessage("no handler for route 'sys/x'")).toBe('no handler for route (nothing is mounted at this path)');
    expect(vaultMessage('error validating token: invalid expiration time (exp) claim: token is expired')).toBe(
      'error validating token: token is expired',
    );
    expect(vaultMessage('failed to renew entry: resp: (*logical.Response)(nil) err: past the max TTL, cannot renew')).toBe(
      'past the max TTL, cannot renew',
    );
    expect(vaultMessage('error validating claims: claim "ref_protected" does not match any associated bound claim values')).toBe(
      'error validating claims: claim "ref_protected" does not match any associated bound claim values',
    );
    expect(vaultMessage('error validating claims: received claim is not a string or list: {"x":"s3cr3t"}')).toBe(
      'error validating claims: a bound claim does not match',
    );
    expect(vaultMessage('invalid input: the password is hunter2')).toBeUndefined();
  });

  it('an unknown text is counted in the message, never shown', () => {
    const { shown, hidden } = safeVaultMessages(['1 error occurred:\n\t* permission denied\n\n', 'value hunter2 is wrong']);
    const err = new VaultError({ status: 400, method: 'PUT', path: 'transit/encrypt/k', errors: shown, hidden });
    expect(err.message).toBe(
      'Vault answered 400 to PUT transit/encrypt/k: permission denied (a message from Vault not shown: it may echo request or secret values)',
    );
    expect(JSON.stringify(err)).not.toContain('hunter2');
  });

  it('renewal warnings: the capped-TTL warning (durations only) is kept, others counted', () => {
    expect(safeVaultWarnings(['TTL of "1h" exceeded the effective max_ttl of "5m"; TTL value is capped accordingly', 'echo hunter2'])).toEqual([
      'TTL of "1h" exceeded the effective max_ttl of "5m"; TTL value is capped accordingly',
      '1 other warning from Vault (not shown: may echo values)',
    ]);
  });
});
