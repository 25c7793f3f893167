import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSecretPath, type EnvSecretSpec, type ExeSecretSpec, type FileSecretSpec } from '../../src/config/secret-path.js';
import { EnvSource, ExeSource, FileSource, fetchSecret, SecretFetchError } from '../../src/sources/index.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { tempDirs, wire, writeTree } from './helpers.js';

const mkdir = tempDirs('tconfd-sources-');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Time stands still: fetchedAt must be the clock's time. */
const clock: Clock = { ...systemClock, now: () => Date.UTC(2030, 0, 2) };

const env = (raw: string) => parseSecretPath(raw) as EnvSecretSpec;
const file = (raw: string) => parseSecretPath(raw) as FileSecretSpec;
const exe = (raw: string) => parseSecretPath(raw) as ExeSecretSpec;

async function failure(p: Promise<unknown>): Promise<SecretFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SecretFetchError);
  return err as SecretFetchError;
}

describe('env', () => {
  const source = new EnvSource(
    { DB_PASSWORD: 'hunter2', EMPTY: '', CONFIG: ' {"pool": 5, "hosts": ["a", "b"]} ', BROKEN: '{"password": "s3cr3t-value", ' },
    clock,
  );

  it('str gives the text, js the parsed JSON; both static', async () => {
    expect(await source.fetch(env('env:str:DB_PASSWORD'))).toEqual({ value: 'hunter2', lifetime: { kind: 'static' }, fetchedAt: clock.now() });
    expect((await source.fetch(env('env:str:EMPTY'))).value).toBe('');
    expect((await source.fetch(env('env:js:CONFIG'))).value).toEqual({ pool: 5, hosts: ['a', 'b'] });
  });

  it('a missing variable is an error naming the secret path (rconfd gave "")', async () => {
    const err = await failure(source.fetch(env('env:str:NOT_THERE')));
    expect(err.message).toBe('secret "env:str:NOT_THERE": environment variable NOT_THERE is not set');
    expect(err.secretPath).toBe('env:str:NOT_THERE');
  });

  it('a js parse error names the secret path and never the value', async () => {
    const err = await failure(source.fetch(env('env:js:BROKEN')));
    expect(err.message).toMatch(/^secret "env:js:BROKEN": value is not valid JSON/);
    expect(err.message).not.toContain('s3cr3t');
    expect(err.message).not.toContain('password');
    const empty = await failure(source.fetch(env('env:js:EMPTY')));
    expect(empty.message).toBe('secret "env:js:EMPTY": value is not valid JSON (it is empty); use str instead of js for plain text');
  });

  it('a plain-text value read as js does not leak either', async () => {
    const s = new EnvSource({ TOKEN: 'tok-abcdef123456' }, clock);
    const err = await failure(s.fetch(env('env:js:TOKEN')));
    expect(err.message).not.toContain('abcdef');
    expect(err.message).toContain('use str instead of js');
  });
});

describe('file', () => {
  const dir = mkdir({ 'key.txt': 'k-123\n', 'conf.json': '{"listen": 8080}\n', 'bad.json': '{"api_key": "sk-live-999"' });
  const source = new FileSource(clock);

  it('str gives the content unchanged, js the parsed JSON', async () => {
    expect(await source.fetch(file(`file:str:${dir}/key.txt`))).toEqual({ value: 'k-123\n', lifetime: { kind: 'static' }, fetchedAt: clock.now() });
    expect((await source.fetch(file(`file:js:${dir}/conf.json`))).value).toEqual({ listen: 8080 });
  });

  it('reads the file again at every fetch', async () => {
    const p = join(dir, 'changing.txt');
    writeFileSync(p, 'one');
    expect((await source.fetch(file(`file:str:${p}`))).value).toBe('one');
    writeFileSync(p, 'two');
    expect((await source.fetch(file(`file:str:${p}`))).value).toBe('two');
  });

  it('a missing file is an error naming the path', async () => {
    const err = await failure(source.fetch(file(`file:str:${dir}/nope.txt`)));
    expect(err.message).toBe(`secret "file:str:${dir}/nope.txt": cannot read ${dir}/nope.txt: no such file`);
    const isDir = await failure(source.fetch(file(`file:str:${dir}`)));
    expect(isDir.message).toBe(`secret "file:str:${dir}": cannot read ${dir}: is a directory, not a regular file`);
  });

  it('a FIFO is refused at once, naming the secret and what the file is (opening it would wait for a writer for ever)', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const err = await failure(source.fetch(file(`file:str:${fifo}`)));
    expect(err.message).toBe(`secret "file:str:${fifo}": ${fifo} is a FIFO, not a regular file (file secrets are read from regular files only)`);
    const dev = await failure(source.fetch(file('file:b64:/dev/zero')));
    expect(dev.message).toBe('secret "file:b64:/dev/zero": /dev/zero is a character device, not a regular file (file secrets are read from regular files only)');
  });

  it('symbolic links are followed, as Kubernetes mounts secrets (key -> ..data/key -> ..2025_01_01/key)', async () => {
    const k8s = join(dir, 'k8s');
    mkdirSync(join(k8s, '..2025_01_01'), { recursive: true });
    writeFileSync(join(k8s, '..2025_01_01', 'key'), 'mounted');
    symlinkSync('..2025_01_01', join(k8s, '..data'));
    symlinkSync('..data/key', join(k8s, 'key'));
    expect((await source.fetch(file(`file:str:${join(k8s, 'key')}`))).value).toBe('mounted');
  });

  it('a js parse error does not contain the content', async () => {
    const err = await failure(source.fetch(file(`file:js:${dir}/bad.json`)));
    expect(err.message).toMatch(/value is not valid JSON/);
    expect(err.message).not.toContain('sk-live');
  });
});

describe('exe', () => {
  const source = new ExeSource({
    clock,
    env: { PATH: '/usr/bin:/bin', GREETING: 'hello', FIRST: 'first problem', LAST: '  final problem  ', SECRET: 'pa55w0rd-xyz' },
  });

  it('runs without a shell: ; and $HOME are passed literally', async () => {
    const marker = join(mkdir(), 'pwned');
    const spec = exe(`exe:str:/bin/echo x; /usr/bin/touch ${marker} $HOME "$(id)"`);
    const got = await source.fetch(spec);
    expect(got.value).toBe(`x; /usr/bin/touch ${marker} $HOME $(id)`);
    expect(existsSync(marker)).toBe(false);
  });

  it('trims stdout; js parses the trimmed text', async () => {
    expect((await source.fetch(exe('exe:str:/usr/bin/printf "  padded\\n\\n"'))).value).toBe('padded');
    const js = await source.fetch(exe(`exe:js:/usr/bin/printf '\\n  {"n": 4, "s": [true]}  \\n'`));
    expect(js.value).toEqual({ n: 4, s: [true] });
  });

  it('gets the given environment only', async () => {
    process.env.TCONFD_TEST_PARENT_ONLY = 'leak';
    try {
      const got = await source.fetch(exe('exe:str:/bin/sh -c \'echo "$GREETING|$TCONFD_TEST_PARENT_ONLY|"\''));
      expect(got.value).toBe('hello||');
    } finally {
      delete process.env.TCONFD_TEST_PARENT_ONLY;
    }
  });

  it('a non-zero exit says the status, never what the command wrote on stderr (it may echo a secret)', async () => {
    const spec = exe(`exe:str:/bin/sh -c 'echo out; echo "$FIRST" >&2; echo "$LAST" >&2; echo >&2; exit 3'`);
    const err = await failure(source.fetch(spec));
    expect(err.message).toBe(
      `secret "${spec.raw}": command exited with status 3 (2 lines on stderr, not shown: they may carry a secret; run the command by hand to see them)`,
    );
    expect(err.message).not.toContain('problem');
  });

  it('a non-zero exit without stderr, a missing command, a command killed by a signal', async () => {
    expect((await failure(source.fetch(exe('exe:str:/bin/false')))).message).toBe('secret "exe:str:/bin/false": command exited with status 1');
    expect((await failure(source.fetch(exe('exe:str:/no/such/cmd')))).message).toBe(
      'secret "exe:str:/no/such/cmd": command /no/such/cmd not found',
    );
    const killed = await failure(source.fetch(exe("exe:str:/bin/sh -c 'kill -9 $$'")));
    expect(killed.message).toContain('command was killed by SIGKILL');
  });

  it('a script whose #! interpreter is missing is not called "not found" itself', async () => {
    const script = join(mkdir(), 'script');
    writeFileSync(script, '#!/no/such/interpreter\necho hi\n', { mode: 0o755 });
    const err = await failure(source.fetch(exe(`exe:str:${script}`)));
    expect(err.message).toBe(`secret "exe:str:${script}": command ${script} cannot be executed (ENOENT: the interpreter its #! line names was not found)`);
  });

  it('a command line too long for the kernel (E2BIG) is an error naming the secret, not a bare "spawn E2BIG"', async () => {
    const spec = exe(`exe:str:/bin/echo ${'a'.repeat(200_000)}`); // one argument longer than Linux's 128 KiB
    const err = await failure(source.fetch(spec));
    expect(err.message).toBe(`secret "${spec.raw}": command /bin/echo cannot be executed (E2BIG: its arguments and environment are too long)`);
  });

  it('with no file descriptor left (EMFILE), an error naming the secret: tconfd does not crash', () => {
    const script = join(ROOT, 'test', 'fixtures', 'child', 'exe-emfile.ts');
    const run = spawnSync('/bin/sh', ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, join(ROOT, 'scripts', 'run-ts.mjs'), script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { error?: string; message?: string; taken: number };
    expect(out.taken).toBeGreaterThan(0);
    expect(out).toMatchObject({
      error: 'SecretFetchError',
      message: 'secret "exe:str:/bin/echo hi": command /bin/echo cannot be executed (EMFILE: tconfd has too many files open)',
    });
  });

  it('a js parse error does not contain the output', async () => {
    const err = await failure(source.fetch(exe(`exe:js:/bin/sh -c 'echo "password=$SECRET"'`)));
    expect(err.message).toMatch(/value is not valid JSON/);
    expect(err.message).not.toContain('pa55w0rd');
  });

  it('a command running longer than the timeout is killed and is an error', async () => {
    const quick = new ExeSource({ clock, env: {}, timeoutMs: 200 });
    const started = Date.now();
    const err = await failure(quick.fetch(exe('exe:str:/bin/sleep 10')));
    expect(err.message).toBe('secret "exe:str:/bin/sleep 10": command timed out after 0.2 s (it and every process it started were killed)');
    expect(Date.now() - started).toBeLessThan(8_000); // killed, not waited for (10 s); slack for a busy machine
  });

  describe('its process group', () => {
    /** Whether a process runs (a zombie waiting for its reaper does not). */
    const running = (pid: number): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    const gone = async (pidFile: string): Promise<boolean> => {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      expect(pid).toBeGreaterThan(1);
      for (let i = 0; i < 100 && running(pid); i++) await new Promise((r) => setTimeout(r, 100));
      return !running(pid);
    };

    it('a process left in the background holding stdout does not hold the fetch up: the output is taken, the process killed', async () => {
      const pidFile = join(mkdir(), 'bg.pid');
      const started = Date.now();
      const got = await source.fetch(exe(`exe:str:/bin/sh -c 'sleep 60 & echo $! > ${pidFile}; echo value'`));
      expect(got.value).toBe('value');
      expect(Date.now() - started).toBeLessThan(20_000); // about a second; far from the background process's 60 s
      expect(await gone(pidFile)).toBe(true);
    });

    it('at the time limit the whole group is killed, what it started in the background too', async () => {
      const quick = new ExeSource({ clock, env: {}, timeoutMs: 500 });
      const pidFile = join(mkdir(), 'bg.pid');
      const spec = exe(`exe:str:/bin/sh -c 'sleep 60 & echo $! > ${pidFile}; sleep 60'`);
      const err = await failure(quick.fetch(spec));
      expect(err.message).toBe(`secret "${spec.raw}": command timed out after 0.5 s (it and every process it started were killed)`);
      expect(await gone(pidFile)).toBe(true);
    });

    it('when the caller gives up (shutdown, a newer rendering), the whole group is killed at once', async () => {
      const pidFile = join(mkdir(), 'bg.pid');
      const ac = new AbortController();
      const spec = exe(`exe:str:/bin/sh -c 'sleep 60 & echo $! > ${pidFile}; sleep 60'`);
      const p = failure(source.fetch(spec, ac.signal));
      for (let i = 0; i < 200 && !(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''); i++) await new Promise((r) => setTimeout(r, 50));
      ac.abort(new Error('stopping'));
      expect((await p).message).toBe(`secret "${spec.raw}": command stopped: tconfd no longer needs its output`);
      expect(await gone(pidFile)).toBe(true);
    });
  });

  it('static vs dynamic lifetime', async () => {
    expect((await source.fetch(exe('exe:str:/bin/echo a'))).lifetime).toEqual({ kind: 'static' });
    expect((await source.fetch(exe('exe:str,static:/bin/echo a'))).lifetime).toEqual({ kind: 'static' });
    expect((await source.fetch(exe('exe:str,dynamic:/bin/echo a'))).lifetime).toEqual({ kind: 'dynamic' });
  });
});

describe('exe refresh through the pipeline', () => {
  it('a dynamic command runs again at every rendering, a static one only once', async () => {
    const root = mkdir();
    const count = (name: string) => `/bin/sh -c 'echo . >> ${join(root, name)}; wc -l < ${join(root, name)}'`;
    writeTree(root, {
      'tconfd.d/app.json': JSON.stringify({
        'app.jsonnet': { dir: 'out', secrets: { [`exe:str,dynamic:${count('dynamic.count')}`]: 'd', [`exe:str:${count('static.count')}`]: 's' } },
      }),
      'tconfd.d/app.jsonnet': "local s = std.extVar('secrets');\n{ 'n.txt': s.d + ' ' + s.s }",
    });
    const p = wire(root);
    await p.pipeline.fetchAll();
    await p.pipeline.write(await p.pipeline.plan(p.pipeline.templates));
    const out = join(root, 'tconfd.d/out/n.txt');
    expect(readFileSync(out, 'utf8')).toBe('1 1\n');
    for (const n of [2, 3]) {
      const { failures } = await p.pipeline.render(p.pipeline.templates);
      expect(failures).toEqual([]);
      expect(readFileSync(out, 'utf8')).toBe(`${n} 1\n`);
    }
  });
});

describe('registry', () => {
  it('fetchSecret dispatches on the backend; an unconfigured backend is an error naming the path', async () => {
    const registry = { env: new EnvSource({ A: 'a' }, clock) };
    expect((await fetchSecret(registry, env('env:str:A'))).value).toBe('a');
    await expect(fetchSecret(registry, parseSecretPath('file:str:/etc/hostname'))).rejects.toThrow(
      'secret "file:str:/etc/hostname": the file backend is not configured',
    );
  });
});
