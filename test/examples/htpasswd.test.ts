/**
 * examples/htpasswd through the real CLI (-D, --static-refresh 500ms) against the Vault stand-in: the rendered
 * htpasswd lines verify the KV v2 passwords with bcrypt; a password change in Vault rewrites the file (only that
 * user's line); re-reading an unchanged secret does not rewrite it, although bcrypt salts are random.
 * Needs `npm run build` first.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { configureHtpasswd, setPassword } from '../../examples/htpasswd/vault-config.js';
import { killAll, ROOT, startTconfd, type Tconfd } from '../support/tconfd.js';
import { sleep, waitFor } from '../support/wait.js';

const KV_PATH = 'secret/data/web/basic-auth';

/** user -> hash, from the htpasswd file. */
function parse(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const i = line.indexOf(':');
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** As nginx checks it: $2y$ (what htpasswd -B writes) is bcrypt's $2b$ for bcryptjs. */
const verifies = (password: string, hash: string): boolean => bcrypt.compareSync(password, hash.replace(/^\$2y\$/, '$2b$'));

describe('examples/htpasswd', () => {
  let standin: VaultStandin;
  let tmp: string;
  let file: string;
  let t: Tconfd;

  beforeAll(async () => {
    standin = await startVaultStandin();
    const { token } = await configureHtpasswd(standin, { alice: 'alice-first-password', bob: 'bob-password' });
    tmp = mkdtempSync(join(tmpdir(), 'tconfd-ex-htpasswd-'));
    mkdirSync(join(tmp, 'nginx'));
    file = join(tmp, 'nginx', 'htpasswd');
    writeFileSync(join(tmp, 'token'), token, { mode: 0o600 });
    t = startTconfd(
      [
        '-D',
        '-d', join(ROOT, 'examples/htpasswd/tconfd.d'),
        '-u', standin.addr,
        '--auth', 'token', '--vault-token-file', join(tmp, 'token'),
        '--static-refresh', '500ms',
      ],
      { env: { HTPASSWD_DIR: join(tmp, 'nginx') }, logLevel: 'info' },
    );
    await t.waitForFile(file);
  });

  afterAll(async () => {
    await killAll();
    await standin?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('renders one bcrypt line per user that verifies the KV password (mode 0640)', () => {
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^alice:\$2y\$10\$[./A-Za-z0-9]{53}\nbob:\$2y\$10\$[./A-Za-z0-9]{53}\n$/);
    const users = parse(text);
    expect(verifies('alice-first-password', users.get('alice')!)).toBe(true);
    expect(verifies('bob-password', users.get('bob')!)).toBe(true);
    expect(verifies('alice-second-password', users.get('alice')!)).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });

  it('does not rewrite the file when a refresh reads the same passwords', async () => {
    const before = statSync(file);
    const content = readFileSync(file, 'utf8');
    const reads = standin.count({ method: 'GET', path: KV_PATH });
    // At least three more reads of the secret (every 500 ms). A read that returns the same KV version renders nothing;
    // one that re-renders (the next test: another user's password changed) keeps the unchanged users' hashes.
    await waitFor('three more reads of the KV secret', () => standin.count({ method: 'GET', path: KV_PATH }) >= reads + 3, {
      detail: () => t.tail(),
    });
    await sleep(200); // the last read's rendering
    const after = statSync(file);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.ino).toBe(before.ino); // not replaced by an atomic rename either
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(t.stderr).not.toContain('files changed');
  });

  it('rewrites the file when a password changes in Vault: the new one verifies, the old one no longer does', async () => {
    const before = parse(readFileSync(file, 'utf8'));
    await setPassword(standin, 'alice', 'alice-second-password');
    const text = await waitFor(
      'the htpasswd file to change',
      () => {
        const s = readFileSync(file, 'utf8');
        return parse(s).get('alice') !== before.get('alice') ? s : undefined;
      },
      { detail: () => t.tail() },
    );
    const after = parse(text);
    expect(verifies('alice-second-password', after.get('alice')!)).toBe(true);
    expect(verifies('alice-first-password', after.get('alice')!)).toBe(false);
    // The template was evaluated again, bcrypt salts are random, yet bob's line is byte for byte the same: his
    // password did not change, and tconfd remembers its hash.
    expect(after.get('bob')).toBe(before.get('bob'));
    await t.waitForLog('template rendered: files changed');
  });

  it('never logs a password or a hash, and stops cleanly', async () => {
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(t.output).not.toMatch(/alice-(first|second)-password|bob-password/);
    expect(t.output).not.toContain('$2y$');
  });
});
