/**
 * The command line (yargs) and the environment -> Settings. Keeps rconfd's short flags and their meaning
 * (-d -u -l -j -c -T -t -v -r -D) so that rconfd command lines keep working. Pure: no I/O besides reading `env`.
 *
 * yargs, and its option table, are the reference. A start does not pay for them (building yargs' table and running
 * its parser: ~15 ms of a ~100 ms start): the plain forms of a valid command line are read from the same table here
 * (validArgv), and yargs, loaded then only, reads everything else: --help, --version, whatever it has something to
 * say about, the forms validArgv leaves to it. test/cli/parse-fast.test.ts holds both to the same Settings.
 */
import type { Argv, Options as YargsOption } from 'yargs';
import { formatDuration, parseDuration, parseWait } from '../duration.js';
import { formatSize, parseSize } from '../size.js';
import type { LogFormat, LogLevel } from '../log.js';
import type { AuthKind, OnChangeAction, RestartPolicy, Settings } from './settings.js';
import { closestName } from './suggest.js';

export type CliResult =
  | { readonly kind: 'run'; readonly settings: Settings }
  /** --help or --version: print text on stdout, exit 0. */
  | { readonly kind: 'print'; readonly text: string }
  /** Bad usage: one line on stderr, exit 2. */
  | { readonly kind: 'usage-error'; readonly message: string };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL'] as const;

const EPILOG = `Secret paths: vault:ROLE[,GET|POST|PUT|LIST][,key=value]*:PATH, env:str|js:NAME, file:str|js:PATH,
exe:str|js[,static|dynamic]:/absolute/cmd args. Documentation: README.md.`;

const PARSER_CONFIGURATION = { 'populate--': true, 'strip-aliased': true, 'boolean-negation': true } as const;

/** Every option, as given to yargs' .options(). */
const OPTIONS = {
  dir: { alias: 'd', type: 'string', requiresArg: true, describe: 'Directory of *.json config files [env TCONFD_DIR]', default: undefined, defaultDescription: '/etc/tconfd', group: 'Templates:' },
  jpath: { alias: 'j', type: 'string', requiresArg: true, array: true, describe: 'Jsonnet library directories (comma list, repeatable) [env TCONFD_JPATH]', group: 'Templates:' },
  once: { type: 'boolean', describe: 'Render every template once, then exit (init containers, CI)', group: 'Templates:' },
  check: { type: 'boolean', describe: 'Fetch secrets and evaluate templates, write nothing; print each file with new, changed or unchanged and its size', group: 'Templates:' },
  'render-timeout': { type: 'string', requiresArg: true, describe: 'Time limit of one template evaluation: a runaway template fails, naming it, and the others go on', default: '10s', group: 'Templates:' },
  daemon: { alias: 'D', type: 'boolean', describe: 'Daemon mode without a command: stay in the foreground and keep secrets fresh (exits 0 if there is nothing to keep fresh)', group: 'Templates:' },
  confine: { type: 'boolean', describe: 'Refuse absolute output paths: every file under its template\'s dir (per template: "confine")', default: false, group: 'Templates:' },
  'max-secret-size': { type: 'string', requiresArg: true, describe: 'Largest secret: a Vault answer, a file, an exe\'s output (B, KiB, MiB)', default: '4MiB', group: 'Templates:' },
  'exe-user': { type: 'string', requiresArg: true, describe: 'User (name or uid[:gid]) that exe secret commands run as when tconfd runs as root', default: 'nobody', group: 'Templates:' },

  'vault-addr': { alias: ['u', 'url'], type: 'string', requiresArg: true, describe: 'Vault address [env VAULT_ADDR, or rconfd\'s VAULT_URL ending in /v1]', group: 'Vault:' },
  'vault-cacert': { alias: 'c', type: 'string', requiresArg: true, describe: 'CA certificate file for Vault\'s TLS [env VAULT_CACERT]', defaultDescription: 'the service-account ca.crt for https, when present', group: 'Vault:' },
  'vault-namespace': { type: 'string', requiresArg: true, describe: 'Vault Enterprise namespace [env VAULT_NAMESPACE]', group: 'Vault:' },
  'vault-timeout': { type: 'string', requiresArg: true, describe: 'Timeout of each Vault request', default: '30s', group: 'Vault:' },
  'vault-retry-min': { type: 'string', requiresArg: true, describe: 'First retry delay (exponential backoff, full jitter)', default: '250ms', group: 'Vault:' },
  'vault-retry-max': { type: 'string', requiresArg: true, describe: 'Longest retry delay', default: '30s', group: 'Vault:' },
  'vault-retry-attempts': { type: 'number', requiresArg: true, describe: 'Attempts per request before giving up (network errors, 412, 429, 5xx)', default: 6, group: 'Vault:' },
  auth: { type: 'string', requiresArg: true, choices: ['kubernetes', 'jwt', 'approle', 'token'], describe: 'Auth method', defaultDescription: 'jwt/kubernetes with -T or -l, else token with VAULT_TOKEN, else kubernetes', group: 'Vault auth:' },
  'login-path': { alias: 'l', type: 'string', requiresArg: true, describe: 'Login path of the auth method', defaultDescription: 'auth/kubernetes/login (jwt: auth/jwt/login, approle: auth/approle/login)', group: 'Vault auth:' },
  token: { alias: 'T', type: 'string', requiresArg: true, describe: 'JWT from the environment variable of this name (or this value itself if there is no such variable)', group: 'Vault auth:' },
  'token-path': { alias: 't', type: 'string', requiresArg: true, describe: 'JWT file, re-read at every login', default: '/var/run/secrets/kubernetes.io/serviceaccount/token', group: 'Vault auth:' },
  'approle-role-id-file': { type: 'string', requiresArg: true, describe: 'AppRole role_id file', group: 'Vault auth:' },
  'approle-secret-id-file': { type: 'string', requiresArg: true, describe: 'AppRole secret_id file', group: 'Vault auth:' },
  'vault-token-file': { type: 'string', requiresArg: true, describe: 'Vault token file for --auth token (else VAULT_TOKEN)', group: 'Vault auth:' },

  'static-refresh': { type: 'string', requiresArg: true, describe: 'Read secrets without a lease (KV, transit...) again this often', default: '5m', group: 'Leases:' },
  'revoke-on-exit': { type: 'boolean', describe: 'Revoke the leases and tokens this process created when it exits (--no-revoke-on-exit keeps them)', default: true, group: 'Leases:' },
  'revoke-grace': { type: 'string', requiresArg: true, describe: 'How long a replaced lease lives on after the new one was rendered', default: '30s', group: 'Leases:' },

  'ready-fd': { alias: 'r', type: 'number', requiresArg: true, describe: 'Write a newline to this fd after the first complete rendering, then close it (s6 notification-fd)', group: 'Supervisor:' },
  'on-change': { type: 'string', requiresArg: true, choices: ['signal', 'restart', 'none'], describe: 'What the command gets when its files change (per template: "on_change")', default: 'signal', group: 'Supervisor:' },
  'reload-signal': { type: 'string', requiresArg: true, describe: 'Signal for on_change "signal"', default: 'SIGHUP', group: 'Supervisor:' },
  'reload-grace': { type: 'string', requiresArg: true, describe: 'Hold a reload signal until the command has run this long (one signal then; 0: send at once)', default: '5s', group: 'Supervisor:' },
  'kill-signal': { type: 'string', requiresArg: true, describe: 'Signal that stops the command (restart, shutdown)', default: 'SIGTERM', group: 'Supervisor:' },
  'kill-timeout': { type: 'string', requiresArg: true, describe: 'Wait this long after the kill signal, then SIGKILL', default: '10s', group: 'Supervisor:' },
  wait: { type: 'string', requiresArg: true, describe: 'Coalesce changes: act after MIN of quiet, no later than MAX after the first change', default: '2s:10s', group: 'Supervisor:' },
  splay: { type: 'string', requiresArg: true, describe: 'Random extra delay before a reload or restart (fleets)', default: '0s', group: 'Supervisor:' },
  restart: { type: 'string', requiresArg: true, choices: ['never', 'on-failure', 'always'], describe: 'Restart the command when it exits on its own', default: 'never', group: 'Supervisor:' },
  'max-restarts': { type: 'number', requiresArg: true, describe: 'Give up after this many restarts within --restart-window', default: 5, group: 'Supervisor:' },
  'restart-window': { type: 'string', requiresArg: true, describe: 'Window for --max-restarts', default: '5m', group: 'Supervisor:' },
  'env-keep': { type: 'string', requiresArg: true, array: true, describe: 'Pass this Vault credential variable to the command anyway (repeatable)', group: 'Supervisor:' },
  'health-listen': { type: 'string', requiresArg: true, describe: 'Serve /healthz, /readyz and /metrics on HOST:PORT', group: 'Supervisor:' },

  verbose: { alias: 'v', type: 'boolean', describe: 'Verbose mode (--log-level debug)', group: 'Logging:' },
  'log-level': { type: 'string', requiresArg: true, choices: LOG_LEVELS as string[], describe: 'Log level [env TCONFD_LOG_LEVEL]', defaultDescription: 'info', group: 'Logging:' },
  'log-format': { type: 'string', requiresArg: true, choices: ['json', 'pretty'], describe: 'Log format [env TCONFD_LOG_FORMAT]', defaultDescription: 'pretty on a terminal, else json', group: 'Logging:' },
} satisfies Record<string, YargsOption>;

type OptionSpec = YargsOption & { alias?: string | string[]; choices?: readonly string[] };

/** The yargs instance: for --help, --version and the messages of what is not valid (loaded then only). */
export async function yargsFor(version: string): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  return yargs()
    .scriptName('tconfd')
    .usage(
      '$0 [options] [-- command args...]\n\nRender Jsonnet templates with secrets from Vault, env, files and commands; keep them fresh; supervise the command that reads them.',
    )
    .parserConfiguration(PARSER_CONFIGURATION)
    .strict()
    .version(version)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .options(OPTIONS)
    .example('$0 -d examples/quickstart/tconfd.d --once', 'render every template once and exit')
    .example('$0 -d /etc/tconfd --check', 'show what would be written: new, changed or unchanged, and sizes (never content)')
    .example('$0 -d /etc/tconfd -u https://vault:8200 -- myapp --flag', 'render, start myapp, keep secrets fresh, reload myapp on change')
    .example('$0 -T CI_JOB_JWT -l auth/jwt/login --once', 'GitLab CI: log in with the job JWT, render, exit')
    .example('$0 -D -r 3', 's6 service: daemon mode with readiness on fd 3')
    .epilog(EPILOG);
}

interface FastOption {
  readonly key: string;
  readonly type: 'string' | 'number' | 'boolean';
  readonly array: boolean;
  readonly choices: readonly string[] | undefined;
}

let fastTable: Map<string, FastOption> | undefined;

/** Every name an option can be typed by (long name, aliases; without dashes) -> the option. */
export function optionTable(): ReadonlyMap<string, FastOption> {
  if (fastTable !== undefined) return fastTable;
  fastTable = new Map();
  for (const [key, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    const o: FastOption = { key, type: spec.type as FastOption['type'], array: spec.array === true, choices: spec.choices };
    for (const name of [key, ...([] as string[]).concat(spec.alias ?? [])]) fastTable.set(name, o);
  }
  return fastTable;
}

/**
 * The arguments as yargs would give them after its checks, or undefined when yargs has something to say or when the
 * command line uses a form this reading leaves to yargs. Read here: `--name value`, `--name=value`, `-n value` for
 * the options that take a value (a number only as digits; a value starting with "-" is left to yargs), `--flag`,
 * `--no-flag` and `-f` for the booleans, an array option given again, `--` and the command after it. Left to yargs:
 * --help, -h, --version, an option yargs does not know (strict) or spells otherwise (camelCase), an option without
 * its value, a value not among its choices, an argument outside an option, grouped short flags, `--flag=true`, an
 * array option given several values at once, any other option given twice.
 */
export function validArgv(args: readonly string[]): Record<string, unknown> | undefined {
  const table = optionTable();
  const argv: Record<string, unknown> = { _: [] };
  /** false: an option given twice, left to yargs (whose parser has its own ways with some of those) */
  const set = (o: FastOption, value: unknown): boolean => {
    const prev = argv[o.key];
    if (prev !== undefined && !o.array) return false;
    argv[o.key] = prev === undefined ? (o.array ? [value] : value) : ([] as unknown[]).concat(prev, value);
    return true;
  };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
    } else if (/^-[A-Za-z]$/.test(a)) {
      name = a.slice(1);
    } else {
      return undefined;
    }
    let o = table.get(name);
    if (o === undefined && name.startsWith('no-')) {
      o = table.get(name.slice(3));
      // --no-FLAG of a long name only (yargs' boolean-negation; --no-D and the like are left to yargs)
      if (o?.type !== 'boolean' || inline !== undefined || name.length < 5 || !set(o, false)) return undefined;
      continue;
    }
    if (o === undefined) return undefined;
    if (o.type === 'boolean') {
      if (inline !== undefined || !set(o, true)) return undefined;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = args[i + 1];
      if (value === undefined || value.startsWith('-')) return undefined;
      i++;
    }
    if (o.choices !== undefined && !o.choices.includes(value)) return undefined;
    if (o.type === 'number' && !/^[0-9]+$/.test(value)) return undefined;
    if (!set(o, o.type === 'number' ? Number(value) : value)) return undefined;
  }
  if (i < args.length) argv['--'] = args.slice(i + 1);
  for (const [key, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    if (argv[key] === undefined && spec.default !== undefined) argv[key] = spec.default;
  }
  return argv;
}

type Env = Readonly<Record<string, string | undefined>>;

export async function parseCli(args: readonly string[], env: Env, version: string, isTTY = false): Promise<CliResult> {
  let argv: Record<string, unknown> | undefined = validArgv(args);
  let y: Argv | undefined;
  if (argv === undefined) {
    // yargs' turn: --help, --version, or what it has to say about the command line
    let failure: string | undefined;
    let output = '';
    y = (await yargsFor(version)).exitProcess(false).fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    });
    try {
      argv = y.parseSync([...args], {}, (_err: unknown, _argv: unknown, out: string) => {
        output = out;
      }) as Record<string, unknown>;
    } catch (err) {
      failure ??= (err as Error).message;
    }
    if (failure !== undefined) return { kind: 'usage-error', message: usageMessage(failure, args, optionNames(y as unknown as OptionTable)) };
    if (argv === undefined) return { kind: 'usage-error', message: 'invalid arguments' };
    if (argv.help === true || argv.version === true) return { kind: 'print', text: output };
    // The command after the first --, as typed: yargs-parser turns what looks like a number there into one (0x10 -> 16,
    // 1e3 -> 1000, 1.50 -> 1.5), which would change the supervised command's arguments.
    const sep = args.indexOf('--');
    if (sep >= 0) argv = { ...argv, '--': args.slice(sep + 1) };
  }
  try {
    return { kind: 'run', settings: toSettings(argv, env, isTTY) };
  } catch (err) {
    if (err instanceof UsageError) return { kind: 'usage-error', message: err.message };
    throw err;
  }
}

function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('; ');
}

/** yargs' option table: getOptions() exists on every yargs instance; @types/yargs does not declare it. */
interface OptionTable {
  getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]>; boolean: string[] };
}

/** Every option name of the table as it can be typed, without dashes: long names, aliases, --no-X of booleans. */
function optionNames(y: OptionTable): string[] {
  const o = y.getOptions();
  const names = [...Object.keys(o.key), ...Object.keys(o.alias), ...Object.values(o.alias).flat(), ...o.boolean.map((b) => `no-${b}`)];
  return [...new Set(names)].filter((n) => n.length > 1 && !/[A-Z]/.test(n));
}

/** yargs' messages, reworded as one line naming the option. */
function usageMessage(text: string, args: readonly string[], known: readonly string[]): string {
  const line = oneLine(text);
  const choice = /Invalid values:;? Argument: ([\w-]+), Given: (.*), Choices: (.*)$/.exec(line);
  if (choice) return `--${choice[1]}: ${choice[2]} is not one of ${choice[3]}`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(line);
  if (unknown) {
    const reported = unknown[1]!.split(', ');
    const positional = reported.find((u) => args.includes(u));
    if (positional !== undefined) return `unexpected argument "${positional}" (put the command to run after --)`;
    // yargs also reports the camelCase spelling of each name, and --no-X as X: name what was typed, once.
    const typed = reported
      .filter((u) => !(/[A-Z]/.test(u) && reported.includes(u.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))))
      .map((u) => (args.some((a) => a === `--no-${u}` || a.startsWith(`--no-${u}=`)) ? `no-${u}` : u));
    let suggested = false;
    const items = typed.map((u) => {
      if (u.length === 1) return `-${u}`;
      const near = closestName(u, known);
      if (near === undefined) return `--${u}`;
      suggested = true;
      return `--${u} (did you mean --${near}?)`;
    });
    return `unknown option${items.length > 1 ? 's' : ''}: ${items.join(', ')}${suggested ? '' : ' (see --help)'}`;
  }
  const missing = /^Not enough arguments following: ([\w-]+)$/.exec(line);
  if (missing) return `--${missing[1]} needs a value`;
  return line;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

const SECOND = 1_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The range of every duration option. A value outside it is a usage error (exit 2) before anything is fetched: a 0
 * refresh or timeout would spin or fail every request, and Node's timers cannot hold more than 24.8 days.
 */
const DURATIONS: Readonly<Record<string, { readonly min: number; readonly max: number }>> = {
  'render-timeout': { min: 1, max: HOUR },
  'vault-timeout': { min: 100, max: DAY },
  'vault-retry-min': { min: 1, max: HOUR },
  'vault-retry-max': { min: 1, max: DAY },
  'static-refresh': { min: 100, max: 20 * DAY },
  'revoke-grace': { min: 0, max: 20 * DAY },
  'kill-timeout': { min: 0, max: DAY },
  'reload-grace': { min: 0, max: HOUR },
  wait: { min: 0, max: DAY },
  splay: { min: 0, max: DAY },
  'restart-window': { min: SECOND, max: 20 * DAY },
};

function duration(flag: string, v: unknown): number {
  let ms: number;
  try {
    ms = parseDuration(String(v));
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
  return inRange(flag, String(v), ms);
}

function inRange(flag: string, given: string, ms: number): number {
  const { min, max } = DURATIONS[flag]!;
  if (ms < min) {
    throw new UsageError(min <= 1 ? `--${flag}: "${given}" must be more than 0` : `--${flag}: "${given}" is less than the minimum of ${formatDuration(min)}`);
  }
  if (ms > max) throw new UsageError(`--${flag}: "${given}" is more than the maximum of ${formatDuration(max)}`);
  return ms;
}

/** Largest --max-secret-size: a secret is held in memory, several times over while it is decoded and rendered. */
const MAX_SECRET_SIZE = 1024 ** 3;

function size(flag: string, v: unknown): number {
  let bytes: number;
  try {
    bytes = parseSize(String(v));
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
  if (bytes > MAX_SECRET_SIZE) throw new UsageError(`--${flag}: "${String(v)}" is more than the maximum of ${formatSize(MAX_SECRET_SIZE)}`);
  return bytes;
}

function signal(flag: string, v: unknown): NodeJS.Signals {
  const s = String(v).toUpperCase();
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  if (!(SIGNALS as readonly string[]).includes(name)) {
    throw new UsageError(`--${flag}: "${String(v)}" is not a supported signal (${SIGNALS.join(', ')})`);
  }
  return name as NodeJS.Signals;
}

function positiveInt(flag: string, v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : min > 0 ? ` >= ${min}` : '';
    throw new UsageError(`--${flag}: "${String(v)}" is not a whole number${range}`);
  }
  return v;
}

function commaList(v: unknown): string[] {
  const items = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return items.flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

function exeUser(v: unknown): string {
  const user = String(v).trim();
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(user)) {
    throw new UsageError(`--exe-user: "${String(v)}" is not a user name or uid[:gid]`);
  }
  return user;
}

/** rconfd's VAULT_URL ends in /v1; VAULT_ADDR does not. */
export function normaliseVaultAddr(addr: string): string {
  let a = addr.trim().replace(/\/+$/, '');
  if (a.endsWith('/v1')) a = a.slice(0, -3);
  if (!/^https?:\/\/[^/]+/.test(a)) throw new UsageError(`--vault-addr: "${addr}" is not an http:// or https:// address`);
  return a;
}

const ARRAY_OPTIONS = new Set(['jpath', 'env-keep', '_', '--']);

/** Parsed arguments (yargs' argv) and the environment -> Settings; throws UsageError. */
export function toSettings(raw: Record<string, unknown>, env: Env, isTTY: boolean): Settings {
  // An option given twice: the last one wins, as with most command-line tools.
  const a: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) a[k] = Array.isArray(v) && !ARRAY_OPTIONS.has(k) ? v[v.length - 1] : v;
  const command = (a['--'] as string[] | undefined) ?? [];
  const positional = (a._ as unknown[] | undefined) ?? [];
  if (positional.length > 0) {
    throw new UsageError(`unexpected argument "${String(positional[0])}" (put the command to run after --)`);
  }
  const once = a.once === true;
  const check = a.check === true;
  if (once && check) {
    throw new UsageError('--once and --check cannot be used together: --once writes the files, --check writes nothing (give one)');
  }
  if ((once || check) && command.length > 0) {
    throw new UsageError(`--${check ? 'check' : 'once'} renders and exits: it takes no command after --`);
  }

  const dir = str(a.dir) ?? str(env.TCONFD_DIR) ?? '/etc/tconfd';
  const jpaths = [...commaList(env.TCONFD_JPATH), ...commaList(a.jpath)];
  const renderTimeoutMs = duration('render-timeout', a['render-timeout']);

  const logLevel = (str(a['log-level']) ?? (a.verbose === true ? 'debug' : undefined) ?? str(env.TCONFD_LOG_LEVEL) ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`TCONFD_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = (str(a['log-format']) ?? str(env.TCONFD_LOG_FORMAT) ?? (isTTY ? 'pretty' : 'json')) as LogFormat;
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new UsageError(`TCONFD_LOG_FORMAT: "${logFormat}" is not json or pretty`);

  const rawAddr = str(a['vault-addr']) ?? str(env.VAULT_ADDR) ?? str(env.VAULT_URL);
  const addr = rawAddr === undefined ? undefined : normaliseVaultAddr(rawAddr);
  const tokenFile = str(a['vault-token-file']);
  // Without --auth: rconfd's -T or -l mean a JWT login (named jwt when the login path is a jwt mount); else a given
  // token (VAULT_TOKEN, --vault-token-file); else the Kubernetes service-account login, as rconfd.
  const givenLogin = str(a['login-path']);
  const method = (str(a.auth) ??
    (str(a.token) !== undefined || givenLogin !== undefined
      ? /(^|\/)auth\/jwt[^/]*\/login\/?$/.test(givenLogin ?? '') ? 'jwt' : 'kubernetes'
      : tokenFile !== undefined || str(env.VAULT_TOKEN) !== undefined
        ? 'token'
        : 'kubernetes')) as AuthKind;
  const defaultLogin = method === 'jwt' ? 'auth/jwt/login' : method === 'approle' ? 'auth/approle/login' : 'auth/kubernetes/login';
  const loginPath = (str(a['login-path']) ?? defaultLogin).replace(/^\/+/, '').replace(/^v1\//, '');
  if (method === 'approle' && (str(a['approle-role-id-file']) === undefined || str(a['approle-secret-id-file']) === undefined)) {
    throw new UsageError('--auth approle needs --approle-role-id-file and --approle-secret-id-file');
  }

  const readyFd = a['ready-fd'] === undefined ? undefined : positiveInt('ready-fd', a['ready-fd'], 3);
  const health = str(a['health-listen']);
  const port = health === undefined ? undefined : /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(health)?.[2];
  if (health !== undefined && (port === undefined || Number(port) > 65535)) {
    throw new UsageError(`--health-listen: "${health}" is not HOST:PORT (port 0 to 65535)`);
  }
  let wait: { minMs: number; maxMs: number };
  try {
    wait = parseWait(String(a.wait));
  } catch (err) {
    throw new UsageError(`--wait: ${(err as Error).message}`);
  }
  inRange('wait', String(a.wait), wait.maxMs);
  const attempts = positiveInt('vault-retry-attempts', a['vault-retry-attempts'], 1, 100);
  const retryMin = duration('vault-retry-min', a['vault-retry-min']);
  const retryMax = duration('vault-retry-max', a['vault-retry-max']);
  if (retryMax < retryMin) {
    throw new UsageError(`--vault-retry-max: "${String(a['vault-retry-max'])}" is shorter than --vault-retry-min "${String(a['vault-retry-min'])}"`);
  }

  return {
    dir,
    jpaths,
    renderTimeoutMs,
    once,
    check,
    daemon: a.daemon === true,
    command,
    confine: a.confine === true,
    maxSecretBytes: size('max-secret-size', a['max-secret-size']),
    exeUser: exeUser(a['exe-user']),
    logLevel,
    logFormat,
    vault: {
      addr,
      caCert: str(a['vault-cacert']) ?? str(env.VAULT_CACERT),
      clientCert: str(env.VAULT_CLIENT_CERT),
      clientKey: str(env.VAULT_CLIENT_KEY),
      namespace: str(a['vault-namespace']) ?? str(env.VAULT_NAMESPACE),
      skipVerify: ['1', 'true', 't', 'yes'].includes((env.VAULT_SKIP_VERIFY ?? '').toLowerCase()),
      timeoutMs: duration('vault-timeout', a['vault-timeout']),
      retry: { initialMs: retryMin, maxMs: retryMax, maxAttempts: attempts },
    },
    auth: {
      method,
      loginPath,
      jwtPath: String(a['token-path']),
      jwtEnv: str(a.token),
      approleRoleIdFile: str(a['approle-role-id-file']),
      approleSecretIdFile: str(a['approle-secret-id-file']),
      tokenFile,
    },
    leases: {
      staticRefreshMs: duration('static-refresh', a['static-refresh']),
      revokeOnExit: a['revoke-on-exit'] !== false,
      revokeGraceMs: duration('revoke-grace', a['revoke-grace']),
    },
    supervisor: {
      onChange: String(a['on-change']) as OnChangeAction,
      reloadSignal: signal('reload-signal', a['reload-signal']),
      reloadGraceMs: duration('reload-grace', a['reload-grace']),
      killSignal: signal('kill-signal', a['kill-signal']),
      killTimeoutMs: duration('kill-timeout', a['kill-timeout']),
      wait,
      splayMs: duration('splay', a.splay),
      restart: String(a.restart) as RestartPolicy,
      maxRestarts: positiveInt('max-restarts', a['max-restarts'], 0, 1_000_000),
      restartWindowMs: duration('restart-window', a['restart-window']),
      envKeep: commaList(a['env-keep']),
      readyFd,
      healthListen: health,
    },
  };
}
