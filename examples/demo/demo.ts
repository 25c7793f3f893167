/**
 * `npm run demo`: the whole tconfd flow, a lease cycle every ~8 s, with nothing installed by hand.
 *
 *   1. A Vault: the test suite's Vault stand-in, in-process; or the one at VAULT_ADDR (+ VAULT_TOKEN): the demo then
 *      checks it can reach it, says exactly what it would configure there and leave in place, and goes ahead only
 *      with --configure-vault.
 *   2. Configured through Vault's HTTP API: a database role with a short lease (default_ttl 6s, max_ttl 12s), a KV v2
 *      secret, a policy, and JWT auth with a key pair generated here (a JWT signed by it plays the workload identity).
 *   3. tconfd (node dist/cli.js) logs in with that JWT (-T DEMO_JWT -l auth/jwt/login --auth jwt), renders
 *      examples/demo/tconfd.d/demo.jsonnet into a temp dir and supervises examples/demo/app.mjs.
 *   4. You watch: the lease renewed, then rotated at its max TTL (a new database user), the app reloaded (SIGHUP), the
 *      old lease revoked after --revoke-grace (or left to run out when it has less than that left: tconfd says so).
 *      Lines marked VAULT are what Vault itself reports (sys/leases/lookup).
 *   5. Ctrl-C (or --duration SECONDS): the app stops, tconfd revokes its leases and its token, and the demo checks
 *      from Vault's side that nothing is left.
 *
 * Run: npm run demo [-- --duration SECONDS] [-- --configure-vault]
 *      (npm run build, then node scripts/run-ts.mjs examples/demo/demo.ts)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVaultStandin, type VaultStandin } from '../../test/vault/standin/index.js';
import {
  createDbRole,
  createJwtRole,
  enableDatabase,
  enableJwtAuth,
  enableKv2,
  generateRsaKeyPair,
  putKv2,
  signJwt,
  VaultSetupError,
  writePolicy,
} from '../../test/vault/setup.js';
import { vaultApi, type VaultApi } from '../../test/vault/target.js';

// ---------------------------------------------------------------------------------------------------- settings

const DB_ROLE = 'demo';
/**
 * A whole cycle in ~9 s: tconfd renews first at 7–73 % of the TTL, then at 60–73 % of what remains; the first renewal
 * after 6 s is capped by max_ttl (Vault grants less than the 6 s asked), so tconfd obtains a new lease (a new user),
 * renders, reloads the app, and revokes the old lease REVOKE_GRACE later. It replaces the old lease at once when at
 * most 5 s are left, else at 60–73 % of what is left: either way the old lease has at least ~1.35 s left when the new
 * one is rendered (2.9 s typically). A grace of 0.5 s leaves ~0.85 s for the new lease's request, rendering and a busy
 * machine; when it is not enough, tconfd says so and lets the old lease run out by itself (never left alive).
 */
const DEFAULT_TTL = 6;
const MAX_TTL = 12;
/** Short timings for a person watching (defaults: --revoke-grace 30s, --wait 2s:10s). */
const REVOKE_GRACE = '500ms';
const WAIT = '500ms:2s';
const POLL_MS = 200;
/** The issuer of the demo's JWTs (any name: Vault checks it against the auth method's bound_issuer). */
const ISSUER = 'https://tconfd-demo.local';

function usage(): never {
  process.stdout.write(
    'usage: node scripts/run-ts.mjs examples/demo/demo.ts [--duration SECONDS] [--configure-vault]\n' +
      '  --duration SECONDS  stop by itself after SECONDS (as Ctrl-C would); default: run until Ctrl-C\n' +
      '  --configure-vault   with VAULT_ADDR: configure that Vault (without it, the demo only says what it would do)\n' +
      'Starts the Vault stand-in in-process, or uses the Vault at VAULT_ADDR (with an admin VAULT_TOKEN) when set.\n',
  );
  process.exit(0);
}

function parseArgs(argv: string[]): { durationSec: number | undefined; configureVault: boolean } {
  let durationSec: number | undefined;
  let configureVault = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') usage();
    if (a === '--configure-vault') {
      configureVault = true;
      continue;
    }
    const m = /^--duration(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[1] ?? argv[++i];
      durationSec = Number(v);
      if (!Number.isFinite(durationSec) || durationSec <= 0) fail(`--duration: expected a number of seconds, got ${v}`);
      continue;
    }
    fail(`unknown argument ${a} (try --help)`);
  }
  return { durationSec, configureVault };
}

// ---------------------------------------------------------------------------------------------------- output

const color = process.stdout.isTTY === true && !process.env['NO_COLOR'];
const paint = (code: number, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const LABELS = { DEMO: 36, VAULT: 35, ERROR: 31 } as const;

function hhmmss(ms: number, millis = true): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const base = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return millis ? `${base}.${p(d.getMilliseconds(), 3)}` : base;
}

/** One line in pino-pretty's shape, so that the demo's lines read like tconfd's: `[12:00:00.000] DEMO: text`. */
function say(label: keyof typeof LABELS, text: string): void {
  process.stdout.write(`${paint(2, `[${hhmmss(Date.now())}]`)} ${paint(LABELS[label], `${label}:`)} ${text}\n`);
}
const indent = (text: string): void => void process.stdout.write(`    ${text}\n`);

class DemoError extends Error {}
function fail(message: string): never {
  throw new DemoError(message);
}

/** The repository root: the nearest directory above this module with tconfd's package.json (works bundled in .tmp/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tconfd') return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

// ---------------------------------------------------------------------------------------------------- Vault

interface Target {
  kind: 'standin' | 'real';
  addr: string;
  rootToken: string;
  standin?: VaultStandin;
}

/** Why a request to Vault did not get an answer, in a few words (fetch's own message is "fetch failed"). */
function unreachable(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    default:
      if ((err as Error).name === 'TimeoutError') return 'no answer within 10 s';
      if (cause?.message === 'bad port') return 'a port fetch() refuses to connect to (bad port)';
      return cause?.message ?? cause?.code ?? (err as Error).message;
  }
}

class VaultUnreachable extends DemoError {}

/** The Vault in use, for error messages. */
let vaultAddr = '(none yet)';

/** A call to Vault whose failure to get an answer is one line naming the address. */
function reachableApi(t: { addr: string; rootToken: string }): VaultApi {
  const api = vaultApi(t);
  return async (...args) => {
    try {
      return await api(...args);
    } catch (err) {
      throw new VaultUnreachable(`cannot reach Vault at ${t.addr}: ${unreachable(err)}`);
    }
  };
}

async function vaultTarget(): Promise<Target> {
  const raw = process.env['VAULT_ADDR'];
  if (raw) {
    const token = process.env['VAULT_TOKEN'];
    if (!token) fail('VAULT_ADDR is set but VAULT_TOKEN is not: the demo configures Vault with that token (unset VAULT_ADDR to use the stand-in)');
    const addr = raw.replace(/\/+$/, '').replace(/\/v1$/, '');
    if (!/^https?:\/\/[^/]+/.test(addr)) fail(`VAULT_ADDR=${raw} is not an http:// or https:// address`);
    // Reachable, and the token accepted, before anything else.
    let health: Response;
    try {
      health = await fetch(`${addr}/v1/sys/health?standbyok=true&perfstandbyok=true`, { signal: AbortSignal.timeout(10_000) });
      await health.text();
    } catch (err) {
      fail(`cannot reach Vault at ${addr} (VAULT_ADDR): ${unreachable(err)}`);
    }
    if (health.status >= 500) fail(`the Vault at ${addr} (VAULT_ADDR) is not ready: sys/health answered ${health.status} (sealed or not initialised?)`);
    const self = await reachableApi({ addr, rootToken: token })('GET', 'auth/token/lookup-self');
    if (self.status !== 200) {
      const errors = (self.body?.errors as string[] | undefined)?.join('; ') ?? `status ${self.status}`;
      fail(`the Vault at ${addr} does not accept VAULT_TOKEN: ${errors}`);
    }
    vaultAddr = addr;
    return { kind: 'real', addr, rootToken: token };
  }
  const standin = await startVaultStandin();
  vaultAddr = standin.addr;
  say('DEMO', `VAULT_ADDR is not set: started the Vault stand-in in-process at ${standin.addr}`);
  indent('(test/vault/standin: Vault\'s HTTP API in memory, database users kept in memory; set VAULT_ADDR and VAULT_TOKEN to use a real Vault)');
  return { kind: 'standin', addr: standin.addr, rootToken: standin.rootToken, standin };
}

/** What configureVault() finds on a real Vault, read before anything is changed. */
interface RealVaultState {
  kvMounted: boolean;
  databaseMounted: boolean;
  /** database/roles/demo exists: used as it is. */
  dbRole: boolean;
  policyExists: boolean;
  /** The JWT auth mount the demo uses: jwt, or tconfd-demo-jwt when auth/jwt/ serves something else. */
  jwtMount: string;
  jwtMountExists: boolean;
}

async function inspectRealVault(t: Target, api: VaultApi): Promise<RealVaultState> {
  const mounts = (await api('GET', 'sys/mounts')).body?.data ?? {};
  const kv = mounts['secret/'];
  if (kv && !(kv.type === 'kv' && kv.options?.version === '2')) {
    fail(`secret/ on ${t.addr} is a ${kv.type} ${kv.options?.version ? `version ${kv.options.version} ` : ''}mount, not KV version 2: the demo reads secret/data/demo`);
  }
  const dbRole = (await api('GET', `database/roles/${DB_ROLE}`)).status === 200;
  if (!dbRole && !process.env['DEMO_PG_URL']) fail(`no database role database/roles/${DB_ROLE} on ${t.addr}.\n${REAL_DB_HELP}`);
  const auths = (await api('GET', 'sys/auth')).body?.data ?? {};
  // A real Vault may already have auth/jwt/ configured for something else: do not overwrite it (a previous run of
  // the demo is recognised by its issuer).
  const ours = auths['jwt/'] !== undefined && (await api('GET', 'auth/jwt/config')).body?.data?.bound_issuer === ISSUER;
  const jwtMount = auths['jwt/'] && !ours ? 'tconfd-demo-jwt' : 'jwt';
  return {
    kvMounted: kv !== undefined,
    databaseMounted: mounts['database/'] !== undefined,
    dbRole,
    policyExists: (await api('GET', 'sys/policies/acl/tconfd-demo')).status === 200,
    jwtMount,
    jwtMountExists: auths[`${jwtMount}/`] !== undefined,
  };
}

/** Everything the demo would change in a real Vault, what it leaves there afterwards, and how to remove it. */
function describePlan(t: Target, v: RealVaultState): void {
  say('DEMO', `VAULT_ADDR is set: the demo configures the Vault at ${t.addr} with VAULT_TOKEN, and leaves it configured:`);
  indent(`- KV version 2 at secret/: ${v.kvMounted ? 'already there' : 'enabled'}; secret/data/demo written ({greeting}, a new version if it exists)`);
  indent(`- policy tconfd-demo: ${v.policyExists ? 'replaced (it exists)' : 'created'} (read database/creds/${DB_ROLE} and secret/data/demo, update sys/leases/revoke)`);
  indent(
    `- JWT auth at auth/${v.jwtMount}/: ${v.jwtMountExists ? 'already there' : 'enabled'}; its config (a public key the demo generates, ` +
      `bound_issuer ${ISSUER}) and its role "demo" written${v.jwtMount === 'jwt' ? '' : ' (auth/jwt/ serves something else: left alone)'}`,
  );
  if (v.dbRole) indent(`- database: the existing role database/roles/${DB_ROLE} is used as it is`);
  else {
    indent(
      `- database: ${v.databaseMounted ? 'database/ already there' : 'database/ enabled'}; database/config/tconfd-demo (PostgreSQL from DEMO_PG_URL) ` +
        `and database/roles/${DB_ROLE} written`,
    );
  }
  indent('Removed at the end: the database leases and the login token tconfd obtains (it revokes them). The rest stays; to remove it:');
  indent(
    `  vault auth disable ${v.jwtMount}; vault policy delete tconfd-demo; vault kv metadata delete secret/demo` +
      (v.dbRole ? '' : `; vault delete database/roles/${DB_ROLE}; vault delete database/config/tconfd-demo`),
  );
}

const REAL_DB_HELP = `The demo needs Vault's database secrets engine with a role "${DB_ROLE}" at database/roles/${DB_ROLE}.
Either create it yourself (any plugin; short TTLs make the demo lively):
    vault secrets enable database
    vault write database/config/tconfd-demo plugin_name=postgresql-database-plugin allowed_roles=${DB_ROLE} \\
        connection_url='postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable' \\
        username=postgres password=...
    vault write database/roles/${DB_ROLE} db_name=tconfd-demo default_ttl=${DEFAULT_TTL}s max_ttl=${MAX_TTL}s \\
        creation_statements="CREATE ROLE \\"{{name}}\\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
or set DEMO_PG_URL=postgres://USER:PASSWORD@HOST:PORT/DB (a PostgreSQL superuser) and the demo configures it,
or unset VAULT_ADDR to run the demo against the in-process Vault stand-in.`;

async function configureDatabase(t: Target, api: VaultApi): Promise<void> {
  if (t.kind === 'standin') {
    await enableDatabase(t); // connection_url memory://db: the stand-in keeps the users in memory
    await createDbRole(t, { name: DB_ROLE, defaultTtl: `${DEFAULT_TTL}s`, maxTtl: `${MAX_TTL}s` });
    say('DEMO', `database engine: role "${DB_ROLE}" on a memory:// connection, default_ttl ${DEFAULT_TTL}s, max_ttl ${MAX_TTL}s`);
    return;
  }
  const existing = await api('GET', `database/roles/${DB_ROLE}`);
  if (existing.status === 200) {
    const d = existing.body?.data ?? {};
    say('DEMO', `database engine: using the existing role database/roles/${DB_ROLE} (default_ttl ${d.default_ttl}s, max_ttl ${d.max_ttl}s)`);
    return;
  }
  const pg = process.env['DEMO_PG_URL']!; // checked by inspectRealVault
  await enableDatabase(t, { name: 'tconfd-demo', pgConnectionUrl: pg, allowedRoles: [DB_ROLE] });
  await createDbRole(t, { name: DB_ROLE, dbName: 'tconfd-demo', defaultTtl: `${DEFAULT_TTL}s`, maxTtl: `${MAX_TTL}s` });
  say('DEMO', `database engine: PostgreSQL from DEMO_PG_URL, role "${DB_ROLE}", default_ttl ${DEFAULT_TTL}s, max_ttl ${MAX_TTL}s`);
}

const POLICY = `# what demo.jsonnet reads
path "database/creds/${DB_ROLE}" { capabilities = ["read"] }
path "secret/data/demo"        { capabilities = ["read"] }
# revoke a replaced lease after the grace, and every lease on exit
path "sys/leases/revoke"       { capabilities = ["update"] }
`;

/** Configure everything; returns the JWT and the JWT auth mount. */
async function configureVault(t: Target, api: VaultApi, jwtMount: string): Promise<{ jwt: string; jwtMount: string }> {
  say('DEMO', 'configuring Vault through its HTTP API:');
  await configureDatabase(t, api);

  await enableKv2(t, 'secret');
  await putKv2(t, 'secret', 'demo', { greeting: 'hello from Vault KV v2' });
  say('DEMO', 'KV v2: secret/data/demo = {greeting}');

  await writePolicy(t, 'tconfd-demo', POLICY);
  say('DEMO', 'policy "tconfd-demo": read database/creds/demo and secret/data/demo, update sys/leases/revoke');

  const { privateKey, publicKeyPem } = generateRsaKeyPair();
  await enableJwtAuth(t, { mount: jwtMount, publicKeyPem, boundIssuer: ISSUER });
  await createJwtRole(t, {
    mount: jwtMount,
    name: 'demo',
    boundAudiences: ['tconfd-demo'],
    userClaim: 'sub',
    policies: ['tconfd-demo'],
    ttl: '10m',
    maxTtl: '1h',
  });
  const now = Math.floor(Date.now() / 1000);
  const jwt = await signJwt(privateKey, {
    iss: ISSUER,
    sub: 'demo-app',
    aud: 'tconfd-demo',
    iat: now,
    nbf: now,
    exp: now + 3600,
  });
  say('DEMO', `JWT auth at auth/${jwtMount}/: an RSA key pair generated by the demo; role "demo" (aud tconfd-demo, policy tconfd-demo, token ttl 10m)`);
  indent('a JWT signed with its private key goes to tconfd in DEMO_JWT; tconfd logs in with it and never passes it to the app');
  return { jwt, jwtMount };
}

// ---------------------------------------------------------------------------------------------------- what Vault sees

interface SeenLease {
  id: string;
  issued: number;
  expires: number;
  lastRenewal: string | null;
  gone: boolean;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
const shortId = (id: string): string => `…${id.slice(-6)}`;
const inSec = (ms: number): string => `${Math.max(0, (ms - Date.now()) / 1000).toFixed(1)}s`;

/**
 * Polls Vault (sys/leases/lookup, auth/token/accessors) with the admin token and reports what tconfd does from Vault's
 * side: leases created, renewed, revoked; login tokens issued and revoked. Works against the stand-in and a real Vault.
 */
class VaultWatcher {
  readonly leases = new Map<string, SeenLease>();
  /** accessor -> still alive */
  readonly tokens = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private ticks = 0;

  constructor(
    private readonly api: VaultApi,
    private readonly prefix: string,
    private readonly loginPath: string,
    /**
     * How a lease ended, when Vault can say (the stand-in records it): revoked (with the time left) or expired. A real
     * Vault forgets a lease once it is gone: the time left when it was last seen decides.
     */
    private readonly ending: (id: string) => { revokedAt: number; expiresAt: number } | undefined = () => undefined,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), POLL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    // Vault revokes a revoked token's leases in the background, moments after the token: the final word waits a few
    // seconds for what is still listed to go.
    const deadline = Date.now() + 5000;
    for (;;) {
      await this.poll(true);
      const left = [...this.leases.values()].some((l) => !l.gone) || [...this.tokens.values()].some(Boolean);
      if (!left || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.poll(false);
    } catch {
      // Vault busy or gone for a moment: next tick.
    } finally {
      this.busy = false;
    }
  }

  async poll(final: boolean): Promise<void> {
    const list = await this.api('LIST', `sys/leases/lookup/${this.prefix}`);
    const keys: string[] = list.status === 200 ? (list.body?.data?.keys ?? []) : [];
    const live = new Set(keys.map((k) => this.prefix + k));
    // Known leases first (a renewal, then the replacement it triggered, reads in that order).
    const ordered = [...live].sort((a, b) => Number(this.leases.has(b)) - Number(this.leases.has(a)));
    for (const id of ordered) {
      const res = await this.api('PUT', 'sys/leases/lookup', { lease_id: id });
      if (res.status !== 200) continue;
      const d = res.body.data as { issue_time: string; expire_time: string; last_renewal: string | null };
      const expires = Date.parse(d.expire_time);
      const seen = this.leases.get(id);
      if (!seen) {
        this.leases.set(id, { id, issued: Date.parse(d.issue_time), expires, lastRenewal: d.last_renewal, gone: false });
        if (!final) say('VAULT', `new lease ${this.prefix}${shortId(id)}: a new database user, expires ${hhmmss(expires, false)} (in ${inSec(expires)})`);
      } else if (d.last_renewal !== seen.lastRenewal) {
        const asked = DEFAULT_TTL * 1000;
        const granted = expires - Date.parse(d.last_renewal ?? d.issue_time);
        const capped = granted < asked - 500;
        seen.lastRenewal = d.last_renewal;
        seen.expires = expires;
        say(
          'VAULT',
          `lease ${shortId(id)} renewed: expires ${hhmmss(expires, false)} (in ${inSec(expires)})` +
            (capped ? `, capped by max_ttl ${MAX_TTL}s: it cannot be renewed any more` : ''),
        );
      }
    }
    for (const l of this.leases.values()) {
      if (l.gone || live.has(l.id)) continue;
      l.gone = true;
      say('VAULT', this.describeEnd(l));
    }
    // Tokens: at every tick until tconfd has logged in, then every second.
    if (final || this.tokens.size === 0 || this.ticks++ % 5 === 0) await this.pollTokens(final);
  }

  /** One line on how a lease ended (the states are explained in examples/demo/README.md, "Reading the output"). */
  private describeEnd(l: SeenLease): string {
    const known = this.ending(l.id);
    const left = known ? known.expiresAt - known.revokedAt : l.expires - Date.now();
    if (left > 0) return `lease ${shortId(l.id)} revoked, ${(left / 1000).toFixed(1)}s before it would have expired`;
    const replaced = [...this.leases.values()].some((o) => o.issued > l.issued);
    return replaced
      ? `lease ${shortId(l.id)} ran out: tconfd replaced it and let it expire`
      : `lease ${shortId(l.id)} expired before tconfd replaced it`;
  }

  private async pollTokens(final: boolean): Promise<void> {
    const list = await this.api('LIST', 'auth/token/accessors');
    const accessors: string[] = list.status === 200 ? (list.body?.data?.keys ?? []) : [];
    const alive = new Set(accessors);
    for (const a of accessors) {
      if (this.tokens.has(a)) continue;
      const res = await this.api('POST', 'auth/token/lookup-accessor', { accessor: a });
      const d = res.body?.data;
      if (res.status !== 200 || d?.path !== this.loginPath) continue;
      this.tokens.set(a, true);
      if (!final) say('VAULT', `login at ${this.loginPath}: token ${shortId(a)} (accessor) for "${d.display_name}", policies ${(d.policies as string[]).join(', ')}, ttl ${d.ttl}s`);
    }
    for (const [a, was] of this.tokens) {
      if (was && !alive.has(a)) {
        this.tokens.set(a, false);
        say('VAULT', `login token ${shortId(a)} revoked`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const { durationSec, configureVault: mayConfigure } = parseArgs(process.argv.slice(2));
  const root = repoRoot();
  const cli = join(root, 'dist', 'cli.js');
  if (!existsSync(cli)) fail(`${relative(process.cwd(), cli)} is missing: run \`npm run build\` (npm run demo does)`);

  say('DEMO', 'tconfd demo: Vault login, a short database lease renewed and rotated, the app reloaded, everything revoked on exit');
  const target = await vaultTarget();
  const api = reachableApi(target);
  let jwtMount = 'jwt';
  if (target.kind === 'real') {
    const state = await inspectRealVault(target, api);
    describePlan(target, state);
    if (!mayConfigure) {
      say('DEMO', 'nothing was changed. Run again with --configure-vault to go ahead (npm run demo -- --configure-vault),');
      indent('or unset VAULT_ADDR to run the demo against the in-process Vault stand-in.');
      return 2;
    }
    jwtMount = state.jwtMount;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tconfd-demo-'));
  let tconfd: ChildProcess | undefined;
  const cleanup = (): void => {
    if (tconfd && tconfd.exitCode === null && tconfd.signalCode === null) tconfd.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  try {
    const { jwt } = await configureVault(target, api, jwtMount);

    // The config and template, copied where tconfd reads them; the rendered file goes to <tmp>/run.
    const confDir = join(tmp, 'tconfd.d');
    const outDir = join(tmp, 'run');
    mkdirSync(confDir);
    mkdirSync(outDir);
    for (const f of ['demo.json', 'demo.jsonnet']) copyFileSync(join(root, 'examples', 'demo', 'tconfd.d', f), join(confDir, f));
    const appConfig = join(outDir, 'app.json');
    say('DEMO', `config: ${confDir}/demo.json + demo.jsonnet (copied from examples/demo/tconfd.d) → ${appConfig}`);

    const loginPath = `auth/${jwtMount}/login`;
    const args = [
      '--dir', confDir,
      '--vault-addr', target.addr,
      '--auth', 'jwt', '-T', 'DEMO_JWT', '-l', loginPath,
      '--log-format', 'pretty',
      '--revoke-grace', REVOKE_GRACE,
      '--wait', WAIT,
      '--', process.execPath, join(root, 'examples', 'demo', 'app.mjs'), appConfig,
    ];
    say('DEMO', 'starting tconfd:');
    indent(`node dist/cli.js ${args.slice(0, -3).join(' ')} node examples/demo/app.mjs ${appConfig}`);
    indent(
      `watch: the lease renewed at ~2/3 of its TTL, replaced at max_ttl ${MAX_TTL}s by a new user, the app reloaded (SIGHUP), ` +
        `the old lease revoked ${REVOKE_GRACE} later (examples/demo/README.md explains every line).`,
    );
    indent(durationSec !== undefined ? `stopping by itself after ${durationSec}s (--duration)` : 'press Ctrl-C to stop: the app stops, tconfd revokes its leases and its token');

    // tconfd gets the JWT, not the admin token: it must log in like a workload would.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'VAULT_TOKEN' && k !== 'VAULT_ADDR') env[k] = v;
    env['DEMO_JWT'] = jwt;
    env['DEMO_OUT'] = outDir;

    const watcher = new VaultWatcher(api, `database/creds/${DB_ROLE}/`, loginPath, (id) => {
      const l = target.standin?.leases().find((x) => x.id === id);
      return l?.revokedAt !== undefined ? { revokedAt: l.revokedAt, expiresAt: l.expiresAt } : undefined;
    });
    // Its own process group: Ctrl-C reaches the demo only, which hands it to tconfd exactly once (a second Ctrl-C
    // is passed on too: tconfd then kills the app at once).
    tconfd = spawn(process.execPath, [cli, ...args], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      tconfd!.once('exit', (code, signal) => resolve({ code, signal })),
    );
    watcher.start();

    let stopping = false;
    let stoppedAt = 0;
    const stop = (why: string): void => {
      if (tconfd!.exitCode !== null || tconfd!.signalCode !== null) return;
      // One Ctrl-C can arrive twice: from the terminal and forwarded by npm. Only a later one is a second Ctrl-C.
      if (stopping && Date.now() - stoppedAt < 1000) return;
      stoppedAt = Date.now();
      say('DEMO', stopping ? `${why} again: passing it on (tconfd kills the app at once)` : `${why}: sending SIGINT to tconfd (pid ${tconfd!.pid})`);
      stopping = true;
      tconfd!.kill('SIGINT');
    };
    process.on('SIGINT', () => stop('Ctrl-C'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    const timer = durationSec !== undefined ? setTimeout(() => stop(`${durationSec}s elapsed`), durationSec * 1000) : undefined;

    const result = await exited;
    clearTimeout(timer);
    await watcher.stop();
    const how = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.code}`;
    say(result.code === 0 ? 'DEMO' : 'ERROR', `tconfd ${how}${stopping ? '' : ' by itself'}`);

    // The final word from Vault's side.
    let issued: number;
    let active: number;
    let tokens: number;
    let liveTokens: number;
    if (target.standin) {
      // The stand-in knows everything it issued, including what the watcher may have missed between two polls.
      const all = target.standin.leases().filter((l) => l.path === `database/creds/${DB_ROLE}`);
      const early = all.filter((l) => l.revoked && l.revokedAt !== undefined && l.revokedAt < l.expiresAt).length;
      const users = target.standin.databaseUsers().filter((u) => u.role === DB_ROLE);
      const logins = target.standin.tokens().filter((t) => t.path === loginPath);
      [issued, active] = [all.length, all.filter((l) => !l.revoked).length];
      [tokens, liveTokens] = [logins.length, logins.filter((t) => !t.revoked).length];
      say(
        'VAULT',
        `stand-in's view: ${plural(issued, 'lease')} issued, ${issued - active} revoked (${early} before they expired), ${active} still active; ` +
          `${plural(users.length, 'database user')} created, ${users.filter((u) => u.dropped).length} dropped; ` +
          `${plural(tokens, 'login token')} issued, ${tokens - liveTokens} revoked`,
      );
    } else {
      const leases = [...watcher.leases.values()];
      [issued, active] = [leases.length, leases.filter((l) => !l.gone).length];
      [tokens, liveTokens] = [watcher.tokens.size, [...watcher.tokens.values()].filter(Boolean).length];
      say(
        'VAULT',
        `Vault's view: ${plural(issued, 'lease')} seen, ${issued - active} revoked, ${active} still active; ` +
          `${plural(tokens, 'login token')} seen, ${tokens - liveTokens} revoked`,
      );
    }
    const clean = issued > 0 && active === 0 && liveTokens === 0;
    if (clean) say('DEMO', 'all leases revoked, all login tokens revoked: nothing left behind in Vault');
    else say('ERROR', `left behind in Vault: ${plural(active, 'active lease')}, ${plural(liveTokens, 'login token')}`);
    return result.code === 0 && clean ? 0 : 1;
  } finally {
    await target.standin?.stop();
    cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // The demo's own failures (Vault unreachable, a set-up request refused) are one line; anything else is a bug
    // of the demo: its stack helps.
    if (err instanceof DemoError || err instanceof VaultSetupError) say('ERROR', err.message);
    else if (err instanceof TypeError && err.message === 'fetch failed') say('ERROR', `cannot reach Vault at ${vaultAddr}: ${unreachable(err)}`);
    else say('ERROR', err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
