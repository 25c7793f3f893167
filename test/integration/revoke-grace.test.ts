/**
 * The old credentials are never revoked before the application was told about the new ones: --revoke-grace counts
 * from when the coalesced signal was sent (after --wait and --splay) or the restart completed, not from when the new
 * lease was obtained. A renewal refused with 400 makes tconfd replace the lease while the old one still has minutes
 * to live: the old one is certainly revoked by tconfd, and when is the question.
 * Stand-in only: the refusal is injected, and the revocation times come from its lease table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { RECORDER_CMD, recorderProject } from '../support/recorder.js';
import { allOutput, killAll, startTconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';
import { requireStandin } from '../vault/target.js';
import { appDatabaseToken, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;

beforeAll(async () => {
  world = await startWorld();
  // 30 s: the first renewal (the one refused) comes within 2–22 s, and the old lease outlives --wait and the grace.
  token = await appDatabaseToken(world, 30);
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe.each([
  ['signal', 'the SIGHUP'],
  ['restart', 'the restarted command'],
] as const)('on_change %s', (onChange, told) => {
  it(`a replaced lease is revoked --revoke-grace after ${told}, never before`, async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'an injected renewal refusal, lease revocation times');
    const p = recorderProject(tmp.make(), { secrets: { 'vault:app:database/creds/app': 'db' }, content: "s.db.username + '\\n'", onChange });
    const t = startTconfd(['--dir', p.conf, '-u', world.addr, '--wait', '3s:3s', '--revoke-grace', '500ms'], {
      command: RECORDER_CMD,
      env: { VAULT_TOKEN: token, ...p.recorderEnv },
    });
    await p.recorder.waitForStart();
    // The next renewal of the lease is refused (as for a lease Vault lost): a new one is obtained at once.
    standin.failNext(1, 400, { pathPrefix: 'sys/leases/renew' });
    const mine = (): ReturnType<typeof standin.leases> => standin.leases().filter((l) => l.path === 'database/creds/app' && l.issuedAt >= t.spawnedAt);
    await waitFor('the replaced lease to be revoked', () => mine().find((l) => l.revoked), { timeoutMs: 60_000, detail: () => t.tail() });
    const [old, fresh] = mine();
    expect(old!.revoked).toBe(true);
    expect(old!.expiresAt).toBeGreaterThan(Date.now()); // revoked by tconfd, not expired
    const events = p.recorder.events();
    const facts = JSON.stringify({ issued: fresh!.issuedAt, revoked: old!.revokedAt, events });
    if (onChange === 'signal') {
      // The application was told by the SIGHUP (after --wait): the grace counts from it.
      const sighup = events.find((e) => e.event === 'signal' && e.signal === 'SIGHUP' && e.t >= fresh!.issuedAt);
      expect(sighup, facts).toBeDefined();
      expect(old!.revokedAt! - sighup!.t, facts).toBeGreaterThanOrEqual(400);
    } else {
      // The restart: the old command stopped (SIGTERM), the new one started with the new file; the grace counts from
      // when the restart completed, so the old lease lives on until after the new command started.
      const stop = events.find((e) => e.event === 'signal' && e.signal === 'SIGTERM' && e.t >= fresh!.issuedAt);
      const start = events.find((e) => e.event === 'start' && e.t >= fresh!.issuedAt);
      expect({ stop: stop !== undefined, start: start !== undefined }, facts).toEqual({ stop: true, start: true });
      expect(old!.revokedAt! - stop!.t, facts).toBeGreaterThanOrEqual(400);
      expect(old!.revokedAt!, facts).toBeGreaterThan(start!.t);
    }
    await t.stop();
  }, 90_000);
});

describe('secrecy', () => {
  it('no Vault token in any output', () => {
    expect(allOutput()).not.toContain(token);
  });
});
