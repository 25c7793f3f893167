/**
 * Through the real CLI: a Vault KV value changes (re-read every --static-refresh), the template's file changes, and
 * the command is signalled (same process) or restarted (new process reading the new file), once per burst of changes;
 * a command that started less than --reload-grace ago gets its reload signal only once it is that old.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { enableKv2, putKv2 } from '../vault/setup.js';
import { tempDirs } from '../support/files.js';
import { RECORDER_CMD, recorderProject, type RecorderProject } from '../support/recorder.js';
import { assertBuilt, killAll, startTconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';

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

/** A project rendering `value=<KV value>` from secret/data/<path>. */
async function kvProject(path: string, first: string, onChange?: 'signal' | 'restart' | 'none'): Promise<RecorderProject> {
  await putKv2(vault, 'secret', path, { value: first });
  return recorderProject(tmp.make(), {
    secrets: { [`vault:app:secret/data/${path}`]: 'kv' },
    content: "'value=' + s.kv.data.value + '\\n'",
    ...(onChange !== undefined ? { onChange } : {}),
  });
}

function args(p: RecorderProject, ...more: string[]): string[] {
  return ['--dir', p.conf, '--vault-addr', vault.addr, '--static-refresh', '100ms', ...more];
}

const env = (p: RecorderProject): Record<string, string> => ({ VAULT_TOKEN: 'root', RECORDER_SIGNAL_CONFIG: '1', ...p.recorderEnv });
const command = RECORDER_CMD;

describe.concurrent('files change', () => {
  it('"signal" (the default --on-change): SIGHUP to the same process, which then reads the new file; no restart', async ({ expect }) => {
    const p = await kvProject('changes/signal', 'one');
    const t = startTconfd(args(p, '--wait', '100ms:500ms'), { command, env: env(p) });
    const start = await p.recorder.waitForStart();
    expect(start.config).toBe('value=one\n');

    await putKv2(vault, 'secret', 'changes/signal', { value: 'two' });
    const ev = await p.recorder.waitFor((e) => e.some((x) => x.event === 'signal'), 'a signal');
    const sig = ev.find((x) => x.event === 'signal')!;
    expect(sig).toMatchObject({ signal: 'SIGHUP', pid: start.pid, config: 'value=two\n' });
    await sleep(600); // longer than --wait's max: nothing else follows
    expect(p.recorder.events().map((e) => [e.event, e.signal, e.pid])).toEqual([
      ['start', undefined, start.pid],
      ['signal', 'SIGHUP', start.pid],
    ]);
    expect(t.logs('command started')).toHaveLength(1);
    expect((await t.stop()).code).toBe(0);
  });

  it('on_change "signal" with --reload-signal SIGUSR1: the command gets SIGUSR1, not SIGHUP', async ({ expect }) => {
    const p = await kvProject('changes/usr1', 'one', 'signal');
    const t = startTconfd(args(p, '--wait', '100ms:500ms', '--reload-signal', 'SIGUSR1'), { command, env: env(p) });
    const start = await p.recorder.waitForStart();

    await putKv2(vault, 'secret', 'changes/usr1', { value: 'two' });
    await p.recorder.waitFor((e) => e.some((x) => x.event === 'signal'), 'a signal');
    await sleep(600);
    const ev = p.recorder.events();
    expect(ev.map((e) => [e.event, e.signal, e.pid])).toEqual([
      ['start', undefined, start.pid],
      ['signal', 'SIGUSR1', start.pid],
    ]);
    expect(ev[1]!.config).toBe('value=two\n');
    expect((await t.stop()).code).toBe(0);
  });

  it('on_change "restart": SIGTERM to the old process, a new process starts and reads the new file', async ({ expect }) => {
    const p = await kvProject('changes/restart', 'one', 'restart');
    const t = startTconfd(args(p, '--wait', '100ms:500ms'), { command, env: env(p) });
    const first = await p.recorder.waitForStart();
    expect(first.config).toBe('value=one\n');

    await putKv2(vault, 'secret', 'changes/restart', { value: 'two' });
    const second = await p.recorder.waitForStart(2);
    expect(second.pid).not.toBe(first.pid);
    expect(second.config).toBe('value=two\n');
    const ev = p.recorder.events();
    expect(ev.map((e) => [e.event, e.signal, e.pid])).toEqual([
      ['start', undefined, first.pid],
      ['signal', 'SIGTERM', first.pid],
      ['exit', undefined, first.pid],
      ['start', undefined, second.pid],
    ]);
    // The old process was gone before the new one started.
    expect(second.t).toBeGreaterThanOrEqual(ev[2]!.t);
    expect(t.logs('command started').map((l) => l.pid)).toEqual([first.pid, second.pid]);
    expect(t.exit).toBeUndefined();
    expect((await t.stop()).code).toBe(0);
  });

  it('on_change "none" (overriding --on-change restart): the file is rewritten, the command is left alone', async ({ expect }) => {
    const p = await kvProject('changes/none', 'one', 'none');
    const t = startTconfd(args(p, '--wait', '100ms:500ms', '--on-change', 'restart'), { command, env: env(p) });
    const start = await p.recorder.waitForStart();
    await putKv2(vault, 'secret', 'changes/none', { value: 'two' });
    await t.waitForLog('template rendered: files changed');
    expect(readFileSync(p.output, 'utf8')).toBe('value=two\n');
    await sleep(800); // longer than --wait's max
    expect(p.recorder.events().map((e) => [e.event, e.pid])).toEqual([['start', start.pid]]);
    expect((await t.stop()).code).toBe(0);
  });

  it('three quick changes (--wait 3s:10s, each rendered before the next) are coalesced: one SIGHUP per burst, after the quiet period', async ({ expect }) => {
    const MIN = 3_000;
    const MAX = 10_000;
    const p = await kvProject('changes/burst', 'v0');
    // --reload-grace 0: the bursts here come within the command's first seconds, and this is about --wait alone.
    const t = startTconfd(args(p, '--wait', '3s:10s', '--reload-grace', '0'), { command, env: env(p) });
    const start = await p.recorder.waitForStart();

    // Each value rendered before the next is written: a burst of renderings that changed the file.
    for (const v of ['v1', 'v2', 'v3']) {
      const from = t.lines.length;
      await putKv2(vault, 'secret', 'changes/burst', { value: v });
      await t.waitForLog('template rendered: files changed', { from });
    }
    const changed = t.logs('template rendered: files changed').map((l) => l.time);
    expect(changed).toHaveLength(3);
    await p.recorder.waitFor((e) => e.some((x) => x.event === 'signal' && x.config === 'value=v3\n'), 'the SIGHUP after v3');
    // Well past the quiet period after it: nothing more.
    await sleep(MIN + 500);

    // The bursts --wait makes of these renderings, from tconfd's own times: a change joins the current burst when it
    // comes before that burst would fire (MIN after its last change, at most MAX after its first). On a quiet machine
    // the three renderings are one burst; a busy one may space them out more, and then each burst has its signal.
    const bursts: number[][] = [];
    for (const c of changed) {
      const b = bursts.at(-1);
      if (b && c < Math.min(b.at(-1)! + MIN, b[0]! + MAX)) b.push(c);
      else bursts.push([c]);
    }
    const signals = p.recorder.signals();
    expect(signals.map((x) => x.signal)).toEqual(bursts.map(() => 'SIGHUP'));
    for (const [i, b] of bursts.entries()) {
      // Not before the quiet period after the burst's last change (or its MAX): a lower bound, which load only helps.
      expect(signals[i]!.t).toBeGreaterThanOrEqual(Math.min(b.at(-1)! + MIN, b[0]! + MAX) - 50);
      expect(signals[i]!.pid).toBe(start.pid);
    }
    expect(signals.at(-1)!.config).toBe('value=v3\n');
    expect(readFileSync(p.output, 'utf8')).toBe('value=v3\n');
    expect(p.recorder.starts()).toHaveLength(1);
    expect((await t.stop()).code).toBe(0);
  });
});

describe.concurrent('a change while the command is still starting (--reload-grace)', () => {
  it('the reload signal is held, so a command without its SIGHUP handler yet survives; rotations meanwhile add nothing; a stop cancels it', async ({ expect }) => {
    const p = await kvProject('grace/held', 'one');
    // The command installs no SIGHUP handler within the test: a SIGHUP kills it (status 129), as the example server
    // that died 2.2 s after its start. --reload-grace 1h: every rotation of the test falls within it.
    const t = startTconfd(args(p, '--wait', '100ms:500ms', '--reload-grace', '1h'), { command, env: { ...env(p), RECORDER_HUP_AFTER_MS: '3600000' } });
    const start = await p.recorder.waitForStart();

    await putKv2(vault, 'secret', 'grace/held', { value: 'two' });
    const held = await t.waitForLog('reload signal held until the command has run for --reload-grace');
    expect(held).toMatchObject({ pid: start.pid, signal: 'SIGHUP' });
    const from = t.lines.length;
    await putKv2(vault, 'secret', 'grace/held', { value: 'three' });
    await t.waitForLog('files changed: signalling the command', { from });
    expect(readFileSync(p.output, 'utf8')).toBe('value=three\n');
    await sleep(600); // longer than --wait's max

    expect(t.running).toBe(true);
    expect(t.logs('reload signal held until the command has run for --reload-grace')).toHaveLength(1);
    expect(t.logs(/^reloading the command$/)).toHaveLength(0);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(t.logs('held reload signal not sent: tconfd is shutting down')).toHaveLength(1);
    // The command's whole life: started, stopped by SIGTERM, never a SIGHUP.
    expect(p.recorder.events().map((e) => [e.event, e.signal, e.pid])).toEqual([
      ['start', undefined, start.pid],
      ['signal', 'SIGTERM', start.pid],
      ['exit', undefined, start.pid],
    ]);
  });

  it('by default (5 s), a change rendered just after the start is signalled once the command is 5 s old, and it reads the new file', async ({ expect }) => {
    const p = await kvProject('grace/default', 'one');
    // The command installs its SIGHUP handler 1.5 s after it started: a signal before that would kill it.
    const t = startTconfd(args(p, '--wait', '100ms:500ms'), { command, env: { ...env(p), RECORDER_HUP_AFTER_MS: '1500' } });
    const start = await p.recorder.waitForStart();
    await putKv2(vault, 'secret', 'grace/default', { value: 'two' });
    await t.waitForLog('reload signal held until the command has run for --reload-grace');

    const ev = await p.recorder.waitFor((e) => e.some((x) => x.event === 'signal'), 'the held SIGHUP');
    expect(ev.find((x) => x.event === 'signal')).toMatchObject({ signal: 'SIGHUP', pid: start.pid, config: 'value=two\n' });
    const sent = t.logs(/^reloading the command$/);
    expect(sent).toHaveLength(1);
    // Sent by tconfd's own clock no sooner than 5 s after it started the command.
    expect(sent[0]!['uptimeMs']).toBeGreaterThanOrEqual(5_000);
    await sleep(600);
    expect(p.recorder.signals().map((x) => x.signal)).toEqual(['SIGHUP']);
    expect(t.logs(/^command started$/)).toHaveLength(1);
    expect((await t.stop()).code).toBe(0);
  });
});
