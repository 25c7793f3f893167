/**
 * Issue 10, items 1, 2, 3, 7 and 8: output paths and the output directory's current state are hostile input.
 * Each repro goes through the CLI: output keys leaving their dir (by "..", by a symbolic link, computed from a secret),
 * absolute keys under "confine", NUL and empty segments, a symbolic link planted at an output path, temporary files
 * left by a killed tconfd, and directories that cannot be created (under /proc, on a read-only file system).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_DESCRIPTORS, tempStem, writeFileAtomic } from '../../src/render/write.js';
import { assertBuilt, CLI } from '../support/tconfd.js';
import { asUser, canUnshareMounts, isRoot, oneTemplate, projects, reason } from './helpers.js';

const tmp = projects('tconfd-sec-out-');
beforeAll(assertBuilt);
afterAll(tmp.cleanup);

const mode = (p: string) => statSync(p).mode & 0o7777;

describe('output paths stay inside the template\'s dir (issue 10, item 1)', () => {
  it('a relative key with ".." that leaves dir is an error naming the config file, template and key; nothing of the template is written', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'ok.txt': 'fine', '../escaped.txt': 'outside' }"));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(
      `tconfd: ${p.conf}/app.json: template "app.jsonnet": output "../escaped.txt": resolves to ${p.root}/escaped.txt, outside the template's dir ${p.out}`,
    );
    expect(existsSync(join(p.root, 'escaped.txt'))).toBe(false);
    expect(existsSync(p.out)).toBe(false);
  });

  it('"a/../b" stays inside dir and is written as dir/b', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'a/../b.txt': 'B' }"));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'b.txt'), 'utf8')).toBe('B\n');
  });

  it('a key computed from a secret value cannot climb out of dir and create directories elsewhere', async () => {
    const p = tmp.make(
      oneTemplate(
        { secrets: { 'env:str:TARGET': 'target' } },
        "local s = std.extVar('secrets'); { 'ok.txt': 'fine', [s.target]: 'planted' }",
      ),
    );
    const r = await p.tconfd(['--once'], { env: { TARGET: '../planted/dir/cron.txt' } });
    expect(r.code, r.stderr).toBe(1);
    // the key came from a secret: the message says so rather than quoting it
    expect(reason(r)).toContain(`template "app.jsonnet": output "[a name derived from a secret]": resolves outside the template's dir ${p.out}`);
    expect(r.stdout + r.stderr).not.toContain('planted');
    expect(existsSync(join(p.root, 'planted'))).toBe(false);
    expect(existsSync(p.out)).toBe(false);
  });

  it('a directory of the key that is a symbolic link to elsewhere is refused, and nothing of the template is written', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'ok.txt': 'fine', 'conf.d/app.conf': 'through the link' }"));
    const elsewhere = join(p.root, 'elsewhere');
    mkdirSync(elsewhere);
    mkdirSync(p.out);
    symlinkSync(elsewhere, join(p.out, 'conf.d'));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(
      `tconfd: writing files: ${p.conf}/app.json: template "app.jsonnet": output "conf.d/app.conf": leaves its dir through the symbolic link ${p.out}/conf.d, which leads to ${elsewhere}`,
    );
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readdirSync(p.out)).toEqual(['conf.d']);
  });

  it('a symbolic link to a directory inside dir is fine', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'current/app.conf': 'C' }"));
    mkdirSync(join(p.out, 'v2'), { recursive: true });
    symlinkSync('v2', join(p.out, 'current'));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'v2', 'app.conf'), 'utf8')).toBe('C\n');
  });

  it.skipIf(!DIRECTORY_DESCRIPTORS)('a directory swapped for a link while tconfd writes cannot redirect the write outside dir (directories reached through descriptors)', async () => {
    const base = tmp.make({}).root;
    const root = join(base, 'out');
    const victim = join(base, 'elsewhere');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(victim);
    // Whoever can write in the output directory swaps sub/ for a link to elsewhere and back, as fast as it can.
    const racer = spawn(process.execPath, ['-e', RACER, root, victim], { stdio: 'ignore' });
    let written = 0;
    let refused = 0;
    // Large contents of one size: the existing file is compared before writing, which widens the window a check by
    // path would leave between the check and the write.
    const padding = 'x'.repeat(16 * 1024);
    try {
      for (let i = 0; i < 2000 && readdirSync(victim).length === 0; i++) {
        try {
          const content = Buffer.from(`${padding}password=${String(i).padStart(6, '0')}\n`);
          await writeFileAtomic({ path: join(root, 'sub', 'db.conf'), content, mode: 0o600, within: root });
          written++;
        } catch {
          refused++; // the link was there at that instant: refused, or the directory missing
        }
      }
    } finally {
      racer.kill('SIGKILL');
    }
    expect(readdirSync(victim), `${written} writes, ${refused} refused`).toEqual([]);
    expect(written, `${refused} refused`).toBeGreaterThan(0); // it did write, between the swaps
  }, 120_000);

  it('absolute keys are allowed as in rconfd, and each is listed once at info naming the template', async () => {
    const p = tmp.make({});
    const abs = join(p.root, 'etc-ssl', 'cert.crt');
    p.write(oneTemplate({}, `{ 'app.conf': 'rel', '${abs}': 'abs' }`));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(abs, 'utf8')).toBe('abs\n');
    const listed = r.lines.filter((l) => l.msg === 'template writes an absolute path, outside its dir');
    expect(listed).toEqual([expect.objectContaining({ level: 30, template: 'app.jsonnet', config: `${p.conf}/app.json`, path: abs })]);
  });

  it('"confine": true refuses absolute keys, and --confine makes it the default', async () => {
    const p = tmp.make({});
    const abs = join(p.root, 'etc-ssl', 'cert.crt');
    const write = (settings: Record<string, unknown>) => p.write(oneTemplate(settings, `{ 'app.conf': 'rel', '${abs}': 'abs' }`));
    write({ confine: true });
    const confined = await p.tconfd(['--once']);
    expect(confined.code, confined.stderr).toBe(1);
    expect(reason(confined)).toBe(
      `tconfd: ${p.conf}/app.json: template "app.jsonnet": output "${abs}": is an absolute path, and the template is confined to its dir ("confine": true or --confine)`,
    );
    write({});
    const byDefault = await p.tconfd(['--once', '--confine']);
    expect(byDefault.code, byDefault.stderr).toBe(1);
    expect(reason(byDefault)).toContain(`output "${abs}": is an absolute path`);
    write({ confine: false });
    const optedOut = await p.tconfd(['--once', '--confine']);
    expect(optedOut.code, optedOut.stderr).toBe(0);
    expect(readFileSync(abs, 'utf8')).toBe('abs\n');
  });
});

/**
 * libjsonnet's multi-file output separates names and contents with NUL bytes, so a NUL in a key splits it into
 * files of the template's choosing and an empty key silently ends the output: tconfd cannot see such keys until
 * libjsonnet is replaced by tconfd's own evaluator (src/render/jsonnet*), which returns keys as they are.
 */
const RENDER = new URL('../../src/render/', import.meta.url);
const LIBJSONNET = readdirSync(RENDER, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .some((f) => readFileSync(new URL(f, RENDER), 'utf8').includes("from '@hanazuki/node-jsonnet'"));

/**
 * Swaps root/sub for a link to victim and back, for ever (a node -e script: root and victim as arguments). The real
 * directory is removed and made again each time, so that a directory tconfd created meanwhile does not stop it.
 */
const RACER = `
const fs = require('node:fs');
const [root, victim] = process.argv.slice(1);
const sub = root + '/sub';
for (;;) {
  try { fs.rmSync(sub, { recursive: true, force: true }); } catch {}
  try { fs.symlinkSync(victim, sub); } catch {}
  try { fs.unlinkSync(sub); } catch {}
  try { fs.mkdirSync(sub); } catch {}
}
`;

describe('long output names', () => {
  it('a name of 250 bytes is written (its temporary name is shortened to fit in 255 bytes), and its stale temporary files are removed', async () => {
    const name = `${'é'.repeat(100)}${'n'.repeat(50)}`; // 250 bytes
    const p = tmp.make(oneTemplate({}, `{ '${name}': 'long' }`));
    mkdirSync(p.out);
    const stale = `.${tempStem(name)}.99999997.0a1b2c3d.tmp`;
    expect(Buffer.byteLength(stale)).toBeLessThanOrEqual(255);
    writeFileSync(join(p.out, stale), 'partial secr');
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(p.out)).toEqual([name]);
    expect(readFileSync(join(p.out, name), 'utf8')).toBe('long\n');
  });

  it('a name longer than 255 bytes is an error naming the output, and nothing of the template is written', async () => {
    const name = 'x'.repeat(256);
    const p = tmp.make(oneTemplate({}, `{ 'ok.txt': 'fine', 'd/${name}': 'long' }`));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(`tconfd: ${p.conf}/app.json: template "app.jsonnet": output "d/${name}": has a file or directory name of 256 bytes: file systems allow at most 255`);
    expect(existsSync(p.out)).toBe(false);
  });
});

describe('NUL and empty segments in keys (issue 10, item 2)', () => {
  it.each([
    ['an empty segment', 'conf.d//app.conf', 'has an empty path segment ("//" or a trailing "/")'],
    ['a trailing slash', 'conf.d/', 'has an empty path segment ("//" or a trailing "/")'],
    ...(LIBJSONNET
      ? []
      : [
          ['a NUL byte', 'a\\u0000/etc/evil', 'contains a NUL character'],
          ['an empty key', '', 'is empty'],
        ]),
  ])('%s in a key is refused, naming it; nothing of the template is written', async (_what, key, detail) => {
    const p = tmp.make(oneTemplate({}, `{ 'ok.txt': 'fine', "${key}": 'x' }`));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(`tconfd: ${p.conf}/app.json: template "app.jsonnet": output ${JSON.stringify(JSON.parse(`"${key}"`))}: ${detail}`);
    expect(existsSync(p.out)).toBe(false);
  });
});

describe('two keys of one template naming the same file', () => {
  it('"a.txt" and "./a.txt" (or "d/../a.txt") are refused, naming both: which content would win is an accident', async () => {
    for (const second of ['./a.txt', 'd/../a.txt']) {
      const p = tmp.make(oneTemplate({}, `{ 'a.txt': 'one', '${second}': 'two' }`));
      const r = await p.tconfd(['--once']);
      expect(r.code, r.stderr).toBe(1);
      // Jsonnet orders an object's fields by key: the later key is the one refused
      const [first, later] = ['a.txt', second].sort();
      expect(reason(r)).toBe(`tconfd: ${p.conf}/app.json: template "app.jsonnet": output "${later}": names the same file as output "${first}" (${p.out}/a.txt)`);
      expect(existsSync(p.out)).toBe(false);
    }
  });
});

describe('symbolic links are never followed for metadata (issue 10, item 3)', () => {
  it('a link at an output path to a 0600 file with the same bytes: the link is replaced by a regular file, its target keeps its mode and owner', async () => {
    const p = tmp.make(oneTemplate({ mode: '0644', ...(isRoot ? { user: 'nobody' } : {}) }, "{ 'app.conf': 'same bytes' }"));
    const victim = join(p.root, 'shadow');
    writeFileSync(victim, 'same bytes\n', { mode: 0o600 });
    chmodSync(victim, 0o600);
    mkdirSync(p.out);
    symlinkSync(victim, join(p.out, 'app.conf'));
    const before = statSync(victim);
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    const after = statSync(victim);
    expect(mode(victim)).toBe(0o600);
    expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
    const out = join(p.out, 'app.conf');
    expect(lstatSync(out).isSymbolicLink()).toBe(false);
    expect(lstatSync(out).isFile()).toBe(true);
    expect(mode(out)).toBe(0o644);
    expect(readFileSync(out, 'utf8')).toBe('same bytes\n');
  });

  it('a link to a file with other bytes is replaced too; the target is not written through', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'app.conf': 'new' }"));
    const victim = join(p.root, 'victim');
    writeFileSync(victim, 'old\n', { mode: 0o644 });
    mkdirSync(p.out);
    symlinkSync(victim, join(p.out, 'app.conf'));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('old\n');
    expect(lstatSync(join(p.out, 'app.conf')).isFile()).toBe(true);
  });

  it('an output directory its group may write to is warned about too', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'a.txt': 'A' }"));
    mkdirSync(p.out);
    chmodSync(p.out, 0o770);
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    const warned = r.lines.filter((l) => l.level === 40 && /writable by other users/.test(l.msg));
    expect(warned).toEqual([expect.objectContaining({ template: 'app.jsonnet', dir: p.out, mode: '0770' })]);
    expect(warned[0]!.msg).toContain('by its group');
  });

  it.skipIf(!isRoot)('a file planted with the very bytes tconfd renders, by a user who owns the directory: replaced by tconfd\'s own, and the directory warned about', async () => {
    const CA = '-----BEGIN CERTIFICATE-----\nMIIBpublicCAcertificateThatAnyoneCanKnow\n-----END CERTIFICATE-----\n';
    const p = tmp.make(oneTemplate({ mode: '0644' }, `{ 'ca.pem': ${JSON.stringify(CA)} }`));
    chmodSync(p.root, 0o755);
    mkdirSync(p.out);
    chownSync(p.out, 65534, 65534); // the application's directory
    const planted = join(p.out, 'ca.pem');
    const plant = spawnSync('/bin/sh', ['-c', 'printf "%s" "$0" > "$1"', CA, planted], { uid: 65534, gid: 65534 });
    expect(plant.status, String(plant.stderr)).toBe(0);
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    const st = statSync(planted);
    const tamper = spawnSync('/bin/sh', ['-c', 'echo EVIL-CA >> "$0"', planted], { uid: 65534, gid: 65534 });
    expect({ uid: st.uid, mode: (st.mode & 0o777).toString(8), tampered: tamper.status === 0, content: readFileSync(planted, 'utf8') }).toEqual({
      uid: 0,
      mode: '644',
      tampered: false,
      content: CA,
    });
    const warned = r.lines.filter((l) => l.level === 40 && /writable by other users/.test(l.msg));
    expect(warned).toEqual([expect.objectContaining({ dir: p.out, uid: 65534 })]);
    expect(warned[0]!.msg).toContain('owned by uid 65534');
  });

  it('an output directory writable by other users is warned about, once', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'a.txt': 'A', 'b.txt': 'B' }"));
    mkdirSync(p.out);
    chmodSync(p.out, 0o1777);
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    const warned = r.lines.filter((l) => l.level === 40 && /writable by other users/.test(l.msg));
    expect(warned).toEqual([expect.objectContaining({ template: 'app.jsonnet', dir: p.out, mode: '1777' })]);
  });
});

describe('temporary files of a killed tconfd (issue 10, item 7)', () => {
  it("are removed at the next rendering: only tconfd's own pattern, only regular files, no link followed", async () => {
    const p = tmp.make(oneTemplate({}, "{ 'app.conf': 'complete' }"));
    mkdirSync(p.out);
    // pids that no process has (above any pid_max): left by a tconfd that was killed
    const stale = ['.app.conf.99999997.0a1b2c3d.tmp', '.app.conf.99999998.ffffffff.tmp'];
    for (const s of stale) writeFileSync(join(p.out, s), 'partial secr');
    const kept = ['.app.conf.99999997.0a1b2c3d.tmp.bak', '.other.conf.99999997.0a1b2c3d.tmp', 'app.conf.99999997.0a1b2c3d.tmp', '.app.conf.x.0a1b2c3d.tmp'];
    for (const k of kept) writeFileSync(join(p.out, k), 'not ours');
    const victim = join(p.root, 'victim');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, join(p.out, '.app.conf.99999999.deadbeef.tmp'));
    // a live process's recent temporary file may be a write in flight (another tconfd writing the same file): kept
    const inFlight = `.app.conf.${process.pid}.12345678.tmp`;
    writeFileSync(join(p.out, inFlight), 'being written');
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(p.out).sort()).toEqual(['.app.conf.99999999.deadbeef.tmp', inFlight, ...kept, 'app.conf'].sort());
    expect(readlinkSync(join(p.out, '.app.conf.99999999.deadbeef.tmp'))).toBe(victim);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(r.lines.filter((l) => l.msg === 'removed temporary files left by an interrupted write')).toEqual([
      expect.objectContaining({ path: join(p.out, 'app.conf'), removed: 2 }),
    ]);
    // ... until it is older than any write takes
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(p.out, inFlight), old, old);
    expect((await p.tconfd(['--once'])).code).toBe(0);
    expect(readdirSync(p.out)).not.toContain(inFlight);
  });
});

/** Every file of a tree readable by all (0644), every directory searchable (0755). */
function chmodRecursive(path: string): void {
  if (!statSync(path).isDirectory()) return chmodSync(path, 0o644);
  chmodSync(path, 0o755);
  for (const name of readdirSync(path)) chmodRecursive(join(path, name));
}

describe('directories that cannot be created (issue 10, item 8)', () => {
  it('a dir under /proc: no hang, the real cause, naming the config file, template and output path', async () => {
    const p = tmp.make(oneTemplate({ dir: '/proc/tconfd-test/out' }, "{ 'app.conf': 'x' }"));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(
      `tconfd: writing files: ${p.conf}/app.json: template "app.jsonnet": output "/proc/tconfd-test/out/app.conf": creating directory /proc/tconfd-test: no such file or directory, and it cannot be created there (ENOENT)`,
    );
  });

  const roSkip = canUnshareMounts() ? false : 'needs root and `unshare -m` to mount a read-only file system';
  it.skipIf(roSkip !== false)('a read-only file system is reported as EROFS, naming the output, never the temporary file', async () => {
    const p = tmp.make({
      'conf/app.json': { 'a.jsonnet': { dir: '../ro' }, 'b.jsonnet': { dir: '../ro/sub' } },
      'conf/a.jsonnet': "{ 'a.conf': 'A' }",
      'conf/b.jsonnet': "{ 'b.conf': 'B' }",
    });
    const ro = join(p.root, 'ro');
    mkdirSync(ro);
    const prefix = ['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', ro];
    const r = await p.tconfd(['--once'], { prefix });
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(
      `tconfd: writing files: ${p.conf}/app.json: template "a.jsonnet": output "${ro}/a.conf": creating a file in ${ro}: read-only file system (EROFS)`,
    );
    expect(r.stderr).not.toMatch(/\.tmp/);
    // A directory to create on it: EROFS too, not ENOENT.
    writeFileSync(join(p.conf, 'app.json'), JSON.stringify({ 'b.jsonnet': { dir: '../ro/sub' } }));
    const sub = await p.tconfd(['--once'], { prefix });
    expect(sub.code, sub.stderr).toBe(1);
    expect(reason(sub)).toBe(
      `tconfd: writing files: ${p.conf}/app.json: template "b.jsonnet": output "${ro}/sub/b.conf": creating directory ${ro}/sub: read-only file system (EROFS)`,
    );
  });

  it.skipIf(!isRoot)('a directory tconfd may not write to is reported as EACCES (tconfd run as nobody)', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'app.conf': 'x' }"));
    mkdirSync(p.out, { mode: 0o755 });
    chmodSync(p.root, 0o755);
    chmodSync(p.conf, 0o755);
    chmodSync(join(p.conf, 'app.json'), 0o644);
    chmodSync(join(p.conf, 'app.jsonnet'), 0o644);
    // nobody may not be able to read this checkout (a clone in a 0700 directory): a copy of dist/ it can read
    const dist = join(p.root, 'dist');
    cpSync(dirname(CLI), dist, { recursive: true });
    chmodRecursive(dist);
    const r = await p.tconfd(['--once'], { prefix: asUser(65534, 65534), cwd: '/', cli: join(dist, 'cli.js') });
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(
      `tconfd: writing files: ${p.conf}/app.json: template "app.jsonnet": output "${p.out}/app.conf": creating a file in ${p.out}: permission denied (EACCES)`,
    );
  });
});
