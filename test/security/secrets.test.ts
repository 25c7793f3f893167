/**
 * Issue 10, items 4, 5, 6 and 10 without Vault, through the CLI: bytes of file and exe secrets never silently altered
 * (an error, or the b64 format), no secret in exe environments, error messages, --check output or the command line,
 * a size limit on secrets enforced while reading, and exe commands run as an unprivileged user when tconfd is root.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, killAll, startTconfd } from '../support/tconfd.js';
import { isRoot, oneTemplate, projects, reason } from './helpers.js';

const tmp = projects('tconfd-sec-secrets-');
beforeAll(assertBuilt);
afterAll(async () => {
  await killAll();
  tmp.cleanup();
});

const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x30, 0x82, 0x01, 0x0a]); // not UTF-8 (a DER/PKCS#12 file would start like this)
const JWT = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjaS1qb2ItNDIiLCJhdWQiOiJ0Y29uZmQifQ.c2lnbmF0dXJlLW9mLXRoZS1qd3Q';

describe('bytes are never silently altered (issue 10, item 4)', () => {
  it('a file secret that is not UTF-8 is an error naming the secret for str and js, and nothing is written', async () => {
    for (const format of ['str', 'js']) {
      const p = tmp.make({ ...oneTemplate({ secrets: { [`file:${format}:keystore.p12`]: 'ks' } }, "{ 'ks.txt': std.toString(std.extVar('secrets').ks) }"), 'conf/keystore.p12': BINARY });
      const r = await p.tconfd(['--once']);
      expect(r.code, r.stderr).toBe(1);
      expect(reason(r)).toBe(
        `tconfd: secret "file:${format}:keystore.p12": value is not UTF-8 text; use file:b64:... to get binary content as base64`,
      );
      expect(r.stderr).not.toContain('\ufffd');
    }
  });

  it('file:b64 gives the exact bytes as base64', async () => {
    const p = tmp.make({ ...oneTemplate({ secrets: { 'file:b64:keystore.p12': 'ks' } }, "{ 'ks.b64': std.extVar('secrets').ks }"), 'conf/keystore.p12': BINARY });
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.from(readFileSync(join(p.out, 'ks.b64'), 'utf8').trim(), 'base64')).toEqual(BINARY);
  });

  it('exe output that is not UTF-8: an error for str, the exact bytes (untrimmed) for b64', async () => {
    const cmd = "/bin/sh -c 'printf \"\\\\377\\\\376\\\\n\"'";
    const str = tmp.make(oneTemplate({ secrets: { [`exe:str:${cmd}`]: 'x' } }, "{ 'x.txt': std.extVar('secrets').x }"));
    const r = await str.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toContain('value is not UTF-8 text; use exe:b64:... to get binary content as base64');
    const b64 = tmp.make(oneTemplate({ secrets: { [`exe:b64:${cmd}`]: 'x' } }, "{ 'x.b64': std.extVar('secrets').x }"));
    const ok = await b64.tconfd(['--once']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(Buffer.from(readFileSync(join(b64.out, 'x.b64'), 'utf8').trim(), 'base64')).toEqual(Buffer.from([0xff, 0xfe, 0x0a]));
  });
});

describe('no secret in a child environment, a message, --check or the command line (issue 10, item 5)', () => {
  it('exe secret commands get the reduced environment of hooks and the command: no VAULT_TOKEN, no -T variable', async () => {
    const p = tmp.make(
      oneTemplate(
        { secrets: { "exe:str:/bin/sh -c 'echo \"[$VAULT_TOKEN][$CI_JOB_JWT][$VAULT_SECRET_ID][$PLAIN]\"'": 'seen' } },
        "{ 'seen.txt': std.extVar('secrets').seen }",
      ),
    );
    const r = await p.tconfd(['--once', '-T', 'CI_JOB_JWT'], {
      env: { VAULT_TOKEN: 'hvs.secret-token', CI_JOB_JWT: JWT, VAULT_SECRET_ID: 'approle-secret', PLAIN: 'kept' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'seen.txt'), 'utf8')).toBe('[][][][kept]\n');
  });

  it('exe secret commands do not get the variables env: secrets read (the command and the hooks still do)', async () => {
    const p = tmp.make({
      'conf/app.json': {
        'app.jsonnet': {
          dir: '../out',
          secrets: { 'env:str:DB_PASSWORD': 'pw', "exe:str:/bin/sh -c 'echo \"[$DB_PASSWORD][$PLAIN]\"'": 'seen' },
          hooks: { ready: "/bin/sh -c 'echo \"[$DB_PASSWORD]\" > hook.txt'" },
        },
      },
      'conf/app.jsonnet': "{ 'seen.txt': std.extVar('secrets').seen, 'pw.txt': std.extVar('secrets').pw }",
    });
    const r = await p.tconfd(['--once'], { env: { DB_PASSWORD: 'pw-2b9e41', PLAIN: 'kept' } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'seen.txt'), 'utf8')).toBe('[][kept]\n');
    expect(readFileSync(join(p.out, 'pw.txt'), 'utf8')).toBe('pw-2b9e41\n');
    expect(readFileSync(join(p.root, 'hook.txt'), 'utf8')).toBe('[pw-2b9e41]\n');
  });

  it("a failing exe command's stderr is never shown: it may echo a secret", async () => {
    const p = tmp.make(
      oneTemplate(
        { secrets: { "exe:str:/bin/sh -c 'echo \"login failed for $DB_PASSWORD\" >&2; exit 3'": 'x' } },
        "{ 'x.txt': std.extVar('secrets').x }",
      ),
    );
    const r = await p.tconfd(['--once', '--log-level', 'trace'], { env: { DB_PASSWORD: 'pw-7f3a9c' } });
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toMatch(/command exited with status 3 \(.*1 line on stderr, not shown: they may carry a secret/);
    expect(r.stdout + r.stderr).not.toContain('pw-7f3a9c');
  });

  it('--check prints new, changed or unchanged and the size, never a digest (a 4-digit PIN is not recoverable)', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'env:str:PIN': 'pin' } }, "{ 'pin.txt': std.extVar('secrets').pin }"));
    const env = { PIN: '4821' };
    const check = await p.tconfd(['--check', '--log-level', 'trace'], { env });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toBe(`${p.out}/pin.txt\tnew\t5 bytes\t(app.jsonnet)\n`);
    const prefixes = new Set<string>();
    for (let pin = 0; pin < 10_000; pin++) {
      const hex = createHash('sha256').update(`${String(pin).padStart(4, '0')}\n`).digest('hex');
      prefixes.add(hex.slice(0, 8));
    }
    const hexRuns = (check.stdout + check.stderr).match(/[0-9a-f]{8,}/g) ?? [];
    expect(hexRuns.filter((h) => [...prefixes].some((x) => h.includes(x)))).toEqual([]);
    expect(check.stdout + check.stderr).not.toContain('4821');

    expect((await p.tconfd(['--once'], { env })).code).toBe(0);
    expect((await p.tconfd(['--check'], { env })).stdout).toBe(`${p.out}/pin.txt\tunchanged\t5 bytes\t(app.jsonnet)\n`);
    const changed = await p.tconfd(['--check'], { env: { PIN: '77' } });
    expect(changed.stdout).toBe(`${p.out}/pin.txt\tchanged\t3 bytes\t(app.jsonnet)\n`);
  });

  it('an output name computed from a secret is never shown: --check, the logs and errors name it "[a name derived from a secret]"', async () => {
    const p = tmp.make(
      oneTemplate(
        { secrets: { 'env:str:TENANT': 'tenant' } },
        "local s = std.extVar('secrets'); { 'plain.txt': 'x', [std.asciiUpper(s.tenant) + '.pem']: 'pem', [s.tenant + '/key.pem']: 'key' }",
      ),
    );
    const env = { TENANT: 'acme-7f3a' };
    const hidden = (out: string): void => {
      expect(out).not.toMatch(/acme-7f3a/i);
    };
    const check = await p.tconfd(['--check', '--log-level', 'trace'], { env });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout.split('\n').filter(Boolean).sort()).toEqual([
      `${p.out}/[a name derived from a secret]\tnew\t4 bytes\t(app.jsonnet)`,
      `${p.out}/[a name derived from a secret]\tnew\t4 bytes\t(app.jsonnet)`,
      `${p.out}/plain.txt\tnew\t2 bytes\t(app.jsonnet)`,
    ]);
    hidden(check.stdout + check.stderr);
    // written under their real names; nothing logged names them, even at trace
    const once = await p.tconfd(['--once', '--log-level', 'trace'], { env });
    expect(once.code, once.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'ACME-7F3A.pem'), 'utf8')).toBe('pem\n');
    expect(readFileSync(join(p.out, 'acme-7f3a/key.pem'), 'utf8')).toBe('key\n');
    hidden(once.stdout + once.stderr);
    // a write that fails: the error names the template, not the file
    rmSync(join(p.out, 'acme-7f3a'), { recursive: true });
    writeFileSync(join(p.out, 'acme-7f3a'), 'a file where a directory is needed');
    const failed = await p.tconfd(['--once'], { env });
    expect(failed.code).toBe(1);
    expect(reason(failed)).toContain(`template "app.jsonnet": output "${p.out}/[a name derived from a secret]": a directory on its way: exists and is not a directory`);
    hidden(failed.stdout + failed.stderr);
  });

  it('a Jsonnet error derived from a secret is withheld whole, a short or transformed secret included', async () => {
    for (const [pw, expr] of [
      ['hunter2-9c1e', 'std.asciiUpper(pw)'],
      ['hunter2-9c1e', "std.join('', std.reverse(std.stringChars(pw)))"],
      ['x7q', "'bad password ' + pw"],
    ] as const) {
      const p = tmp.make(oneTemplate({ secrets: { 'env:str:PW': 'pw' } }, `local pw = std.extVar('secrets').pw; { 'a.txt': error ${expr} }`));
      const r = await p.tconfd(['--once', '--log-level', 'trace'], { env: { PW: pw } });
      expect(r.code, r.stderr).toBe(1);
      expect(reason(r)).toContain('template "app.jsonnet": output "a.txt": RUNTIME ERROR: [error message redacted: derived from a secret] (at ');
      for (const shown of [pw, pw.toUpperCase(), [...pw].reverse().join('')]) expect(r.stdout + r.stderr).not.toContain(shown);
    }
  });

  it('-T <the JWT itself> is warned about, and hidden from /proc/PID/cmdline while tconfd runs', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'env:str:HOME': 'home' } }, "{ 'home.txt': std.extVar('secrets').home }"));
    const t = startTconfd(['-d', p.conf, '-T', JWT], { cwd: p.root, command: ['/bin/sleep', '30'] });
    try {
      await t.waitForLog('command started');
      const warned = t.logs((l) => l.level === 40 && l.msg.startsWith('-T is given the JWT itself'));
      expect(warned).toHaveLength(1);
      expect(warned[0]!.msg).toContain('/proc/PID/cmdline');
      const cmdline = readFileSync(`/proc/${t.pid}/cmdline`, 'latin1');
      expect(cmdline).toContain('-T [hidden]');
      expect(cmdline).not.toContain(JWT);
      expect(cmdline).not.toContain(JWT.split('.')[2]);
    } finally {
      await t.stop();
    }
    expect(t.stdout + t.stderr).not.toContain(JWT.split('.')[1]);
  });

  it('-T NAME of a variable that is set: no warning', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'a.txt': 'a' }"));
    const r = await p.tconfd(['--once', '-T', 'CI_JOB_JWT'], { env: { CI_JOB_JWT: JWT } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});

describe('a size limit per secret, enforced while reading (issue 10, item 6)', () => {
  it('a file secret larger than the default 4 MiB is an error naming the secret and the limit', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'file:str:big.txt': 'big' } }, "{ 'big.txt': std.extVar('secrets').big }"));
    writeFileSync(join(p.conf, 'big.txt'), Buffer.alloc(5 * 1024 * 1024, 'a'));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(`tconfd: secret "file:str:big.txt": ${p.conf}/big.txt is larger than the limit of 4 MiB (--max-secret-size)`);
  });

  it('--max-secret-size sets the limit; a file that fits is read', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'file:str:v.txt': 'v' } }, "{ 'v.txt': std.extVar('secrets').v }"));
    writeFileSync(join(p.conf, 'v.txt'), 'x'.repeat(2000));
    const small = await p.tconfd(['--once', '--max-secret-size', '1KiB']);
    expect(small.code, small.stderr).toBe(1);
    expect(reason(small)).toContain('is larger than the limit of 1 KiB (--max-secret-size)');
    const fits = await p.tconfd(['--once', '--max-secret-size', '2KiB']);
    expect(fits.code, fits.stderr).toBe(0);
  });

  it('a character device (an endless source such as /dev/zero) is refused, never read', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'file:b64:/dev/zero': 'z' } }, "{ 'z.txt': std.extVar('secrets').z }"));
    const r = await p.tconfd(['--once', '--max-secret-size', '64KiB']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe('tconfd: secret "file:b64:/dev/zero": /dev/zero is a character device, not a regular file (file secrets are read from regular files only)');
  });

  it('a FIFO as a file secret fails the start at once with a one-line error naming the secret (it never waits for a writer)', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'file:str:pipe': 'x' } }, "{ 'x.txt': std.extVar('secrets').x }"));
    execFileSync('mkfifo', [join(p.conf, 'pipe')]);
    const r = await p.tconfd(['--once'], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(`tconfd: secret "file:str:pipe": ${p.conf}/pipe is a FIFO, not a regular file (file secrets are read from regular files only)`);
    expect(existsSync(join(p.out, 'x.txt'))).toBe(false);
  });

  it('exe output past the limit stops the command and is an error naming the secret', async () => {
    const cmd = "exe:str:/bin/sh -c 'head -c 5000000 /dev/zero | tr \"\\\\0\" a'";
    const p = tmp.make(oneTemplate({ secrets: { [cmd]: 'x' } }, "{ 'x.txt': std.extVar('secrets').x }"));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(`tconfd: secret "${cmd}": the command's output is larger than the limit of 4 MiB (--max-secret-size)`);
  });

  it('a bad --max-secret-size is a usage error', async () => {
    const p = tmp.make(oneTemplate({}, "{ 'a.txt': 'a' }"));
    const r = await p.tconfd(['--once', '--max-secret-size', 'lots']);
    expect(r.code).toBe(2);
    expect(reason(r)).toBe('tconfd: --max-secret-size: "lots" is not a size (e.g. 4MiB, 512KiB, 65536)');
  });
});

describe('exe secret commands run unprivileged (issue 10, item 10)', () => {
  it.skipIf(!isRoot)('as root, exe commands run as nobody by default, or as --exe-user', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'exe:str:/usr/bin/id -u': 'uid', 'exe:str:/usr/bin/id -g': 'gid' } }, "local s = std.extVar('secrets'); { 'id.txt': s.uid + ':' + s.gid }"));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'id.txt'), 'utf8')).toBe('65534:65534\n');
    const asDaemon = await p.tconfd(['--once', '--exe-user', '1:1']);
    expect(asDaemon.code, asDaemon.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'id.txt'), 'utf8')).toBe('1:1\n');
    const unknown = await p.tconfd(['--once', '--exe-user', 'no-such-user']);
    expect(unknown.code).toBe(2);
    expect(reason(unknown)).toBe('tconfd: --exe-user: user "no-such-user" does not exist (not in /etc/passwd)');
  });
});

describe('exe secret commands when tconfd may not change user', () => {
  // Root without CAP_SETUID and CAP_SETGID (a container that drops every capability but runs as uid 0): the command
  // cannot be run as --exe-user, and the message says so, naming the secret.
  const canDrop = isRoot && spawnSync('setpriv', ['--bounding-set', '-setuid,-setgid', 'true'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!canDrop)('root without CAP_SETUID/CAP_SETGID: an error naming the secret and the capabilities, nothing written', async () => {
    const p = tmp.make(oneTemplate({ secrets: { 'exe:str:/usr/bin/id -u': 'uid' } }, "{ 'id.txt': std.extVar('secrets').uid }"));
    const r = await p.tconfd(['--once'], { prefix: ['setpriv', '--bounding-set', '-setuid,-setgid', '--inh-caps', '-setuid,-setgid'] });
    expect(r.code, r.stderr).toBe(1);
    expect(reason(r)).toBe(
      'tconfd: secret "exe:str:/usr/bin/id -u": command /usr/bin/id cannot be executed (run as nobody (--exe-user); EPERM: tconfd may not change to that user: it runs as root without CAP_SETUID or CAP_SETGID)',
    );
    expect(existsSync(join(p.out, 'id.txt'))).toBe(false);
  });
});

describe('exe secret commands cannot hold tconfd up (a process group of their own)', () => {
  // Where the command (run as nobody when the tests run as root) can write the pid of what it leaves behind.
  const bgPidFile = (): string => join(tmpdir(), `tconfd-test-bg-${process.pid}-${Math.random().toString(36).slice(2)}.pid`);

  it('a command that leaves a background process holding its output: the value is rendered at once, the process killed', async () => {
    const p = tmp.make({});
    const pidFile = bgPidFile();
    p.write(oneTemplate({ secrets: { [`exe:str:/bin/sh -c 'sleep 65 & echo $! > ${pidFile}; echo value'`]: 'x' } }, "{ 'x.txt': std.extVar('secrets').x }"));
    const r = await p.tconfd(['--once'], { timeoutMs: 25_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'x.txt'), 'utf8')).toBe('value\n');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    rmSync(pidFile, { force: true });
    expect(existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(false);
  });

  it('SIGTERM while an exe secret runs at startup: tconfd ends at once (143) and kills the command and what it started', async () => {
    const p = tmp.make({});
    const pidFile = bgPidFile();
    p.write(oneTemplate({ secrets: { [`exe:str:/bin/sh -c 'sleep 65 & echo $! > ${pidFile}; sleep 65'`]: 'x' } }, "{ 'x.txt': std.extVar('secrets').x }"));
    const t = startTconfd(['-d', p.conf, '--once'], { cwd: p.root });
    await t.waitForFile(pidFile, (c) => c.trim() !== '');
    t.signal('SIGTERM');
    expect(await t.waitForExit({ timeoutMs: 20_000 })).toEqual({ code: 143, signal: null });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    rmSync(pidFile, { force: true });
    expect(existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(false);
  });
});
