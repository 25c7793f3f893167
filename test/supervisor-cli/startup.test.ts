/**
 * Through the real CLI: the command starts only after the first complete rendering, readiness is written once on
 * the -r fd, and the command's environment carries no Vault token unless --env-keep says so.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { enableKv2, putKv2 } from '../vault/setup.js';
import { tempDirs } from '../support/files.js';
import { RECORDER_CMD, recorderProject } from '../support/recorder.js';
import { assertBuilt, killAll, startTconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let vault: VaultStandin;
const tmp = tempDirs('tconfd-sup-cli-');

beforeAll(async () => {
  assertBuilt();
  vault = await startVaultStandin();
  await enableKv2(vault, 'secret');
});

afterAll(async () => {
  await killAll();
  await vault?.stop();
  tmp.cleanup();
});

const vaultArgs = (conf: string): string[] => ['--dir', conf, '--vault-addr', vault.addr];

describe.concurrent('startup', () => {
  it('starts the command only after the first complete rendering: its first start sees the whole file', async ({ expect }) => {
    await putKv2(vault, 'secret', 'startup/first', { value: 'first-Q8x' });
    const p = recorderProject(tmp.make(), {
      secrets: { 'vault:app:secret/data/startup/first': 'kv', 'env:str:GREETING': 'greeting' },
      content: "'greeting=' + s.greeting + '\\nvalue=' + s.kv.data.value + '\\n'",
    });
    // Vault is slow to answer this secret: the command must wait for it.
    vault.delayNext(1, 500, { pathPrefix: 'secret/data/startup/first' });
    const t = startTconfd(vaultArgs(p.conf), { command: RECORDER_CMD, env: { VAULT_TOKEN: 'root', GREETING: 'hello', ...p.recorderEnv } });

    const start = await p.recorder.waitForStart();
    expect(start.config).toBe('greeting=hello\nvalue=first-Q8x\n');
    expect(start.t - t.spawnedAt).toBeGreaterThanOrEqual(500);
    const lines = t.lines;
    const rendered = lines.findIndex((l) => l.msg === 'template rendered');
    const started = lines.findIndex((l) => l.msg === 'command started');
    expect(rendered).toBeGreaterThanOrEqual(0);
    expect(started).toBeGreaterThan(rendered);

    const exit = await t.stop();
    expect(exit.code).toBe(0);
    expect(p.recorder.starts()).toHaveLength(1);
  });

  it('writes readiness to -r 3 exactly once ("\\n" then EOF), after rendering, and never again after re-renders', async ({ expect }) => {
    await putKv2(vault, 'secret', 'startup/ready', { value: 'r1' });
    const p = recorderProject(tmp.make(), { secrets: { 'vault:app:secret/data/startup/ready': 'kv' }, content: "'value=' + s.kv.data.value + '\\n'" });
    vault.delayNext(1, 400, { pathPrefix: 'secret/data/startup/ready' });
    const t = startTconfd([...vaultArgs(p.conf), '-r', '3', '--static-refresh', '200ms', '--wait', '0s'], {
      command: RECORDER_CMD,
      fds: 1,
      env: { VAULT_TOKEN: 'root', ...p.recorderEnv },
    });
    let data = '';
    let firstDataAt: number | undefined;
    let eofAt: number | undefined;
    t.fd(3).setEncoding('utf8');
    t.fd(3).on('data', (d: string) => {
      firstDataAt ??= Date.now();
      data += d;
    });
    t.fd(3).on('end', () => (eofAt = Date.now()));

    await waitFor('EOF on the readiness fd', () => eofAt, { detail: () => t.tail() });
    expect(data).toBe('\n');
    // Closed by tconfd itself while it keeps running (not at its exit, and not held open by the command).
    expect(t.exit).toBeUndefined();
    expect(firstDataAt! - t.spawnedAt).toBeGreaterThanOrEqual(400);
    const rendered = t.logs('template rendered')[0];
    expect(rendered).toBeDefined();
    expect(firstDataAt!).toBeGreaterThanOrEqual(rendered!.time);

    // A later re-render (the command gets SIGHUP) writes nothing more.
    await p.recorder.waitForStart();
    await putKv2(vault, 'secret', 'startup/ready', { value: 'r2' });
    await p.recorder.waitFor((ev) => ev.some((e) => e.signal === 'SIGHUP'), 'SIGHUP after the re-render');
    expect(readFileSync(p.output, 'utf8')).toBe('value=r2\n');
    expect(data).toBe('\n');
    expect((await t.stop()).code).toBe(0);
    expect(data).toBe('\n');
  });

  it('gives the command no VAULT_TOKEN (other variables stay); --env-keep VAULT_TOKEN passes it', async ({ expect }) => {
    await putKv2(vault, 'secret', 'startup/env', { value: 'e1' });
    const run = async (extra: string[]): Promise<{ names: readonly string[]; token: string }> => {
      const p = recorderProject(tmp.make(), { secrets: { 'vault:app:secret/data/startup/env': 'kv' }, content: "'value=' + s.kv.data.value + '\\n'" });
      const tokenOut = join(tmp.make(), 'token');
      // The token's value as the command sees it, then the recorder (which logs the names of its variables).
      const command = ['/bin/sh', '-c', 'printf %s "${VAULT_TOKEN-unset}" > "$TOKEN_OUT"; exec "$0" "$@"', ...RECORDER_CMD];
      const t = startTconfd(['--dir', p.conf, ...extra], {
        command,
        env: { VAULT_TOKEN: 'root', VAULT_ADDR: vault.addr, APP_SETTING: 'kept', TOKEN_OUT: tokenOut, ...p.recorderEnv },
      });
      const start = await p.recorder.waitForStart();
      expect(start.config).toBe('value=e1\n');
      expect((await t.stop()).code).toBe(0);
      return { names: start.env!, token: readFileSync(tokenOut, 'utf8') };
    };
    const [stripped, kept] = await Promise.all([run([]), run(['--env-keep', 'VAULT_TOKEN'])]);
    expect(stripped.names).not.toContain('VAULT_TOKEN');
    expect(stripped.token).toBe('unset');
    expect(stripped.names).toEqual(expect.arrayContaining(['VAULT_ADDR', 'APP_SETTING', 'PATH']));
    expect(kept.names).toContain('VAULT_TOKEN');
    expect(kept.token).toBe('root');
  });
});
