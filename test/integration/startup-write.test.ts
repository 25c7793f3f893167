/**
 * A start that fails writing its files (a later template's dir is not a directory, EACCES, ENOSPC...) must leave every
 * previous file as it was: every file of every template is prepared (written, fsync'd) before any is put in place.
 * The leases the start obtained are revoked on the way out, which is only right because no file holds them: an earlier
 * template's last good file is never replaced by one holding credentials revoked a moment later.
 * Runs against the stand-in and against a real Vault alike.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { allOutput, killAll, runTconfd } from '../support/tconfd.js';
import { appDatabaseToken, leasesLeft, liveLeases, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;

beforeAll(async () => {
  world = await startWorld();
  token = await appDatabaseToken(world, 300);
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('a start that fails writing a later template', () => {
  it("keeps the earlier template's previous file (no file of the run is put in place), and revokes what it obtained", async () => {
    const previous = '{"username": "previous-user", "password": "previous-password"}\n';
    const root = tmp.make({
      'conf/a.json': { 'a.jsonnet': { dir: '../outA', secrets: { 'vault:app:database/creds/app': 'db' } } },
      'conf/a.jsonnet': "{ 'db.json': std.extVar('secrets').db, 'other.txt': 'new' }",
      'conf/b.json': { 'b.jsonnet': { dir: '../outB' } },
      'conf/b.jsonnet': "{ 'b.txt': 'b' }",
      'outA/db.json': previous,
    });
    writeFileSync(join(root, 'outB'), "a regular file where b's dir should be\n");
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const r = await runTconfd(['-d', join(root, 'conf'), '-u', world.addr, '--auth', 'token', '--once', '--log-format', 'json'], {
      env: { VAULT_TOKEN: token },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.plain.find((l) => l.startsWith('tconfd: '))).toMatch(/^tconfd: writing files: .*b\.json: template "b\.jsonnet": output ".*outB\/b\.txt": .*not a directory/);
    expect(readFileSync(join(root, 'outA', 'db.json'), 'utf8')).toBe(previous);
    // Nothing new in outA: not its other file, no temporary file left behind.
    expect(readdirSync(join(root, 'outA'))).toEqual(['db.json']);
    // Nothing holds the run's lease: it is revoked.
    expect(await leasesLeft(world, 'database/creds/app', before)).toEqual([]);
  }, 60_000);
});

describe('secrecy', () => {
  it('no Vault token in any output', () => {
    expect(allOutput()).not.toContain(token);
  });
});
