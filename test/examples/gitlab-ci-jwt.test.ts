/**
 * examples/gitlab-ci-jwt: the exact command line of its .gitlab-ci.yml, `tconfd --once -T CI_JOB_JWT -l
 * auth/jwt/login --auth jwt`, through the real CLI against the Vault stand-in configured as the example's README says
 * (a local key instead of GitLab's JWKS), with GitLab-shaped job tokens. Needs `npm run build` first.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { configureGitlabJwt, signJobJwt, type JobClaims } from '../../examples/gitlab-ci-jwt/vault-config.js';
import { assertBuilt, killAll, ROOT, startTconfd } from '../support/tconfd.js';

/** The command line of examples/gitlab-ci-jwt/.gitlab-ci.yml, verbatim. */
const COMMAND = 'tconfd --once -T CI_JOB_JWT -l auth/jwt/login --auth jwt';

describe('examples/gitlab-ci-jwt', () => {
  let standin: VaultStandin;
  let key: KeyObject;
  let tmp: string;

  beforeAll(async () => {
    assertBuilt();
    expect(readFileSync(join(ROOT, 'examples/gitlab-ci-jwt/.gitlab-ci.yml'), 'utf8')).toContain(`- ${COMMAND}\n`);
    standin = await startVaultStandin();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    key = privateKey;
    await configureGitlabJwt(standin, String(publicKey.export({ type: 'spki', format: 'pem' })));
    tmp = mkdtempSync(join(tmpdir(), 'tconfd-ex-gitlab-'));
  });
  afterAll(async () => {
    await killAll();
    await standin?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Run the job's command with a job token carrying `claims`, in a fresh $CI_PROJECT_DIR. */
  async function job(name: string, claims: JobClaims) {
    const jwt = await signJobJwt(key, claims);
    const projectDir = join(tmp, name);
    mkdirSync(projectDir);
    // What GitLab gives the job: VAULT_ADDR (a CI/CD variable), CI_JOB_JWT (id_tokens), CI_PROJECT_DIR/PATH; what the
    // image has: tconfd and its config (TCONFD_DIR stands for /etc/tconfd). No VAULT_TOKEN.
    const p = startTconfd(COMMAND.split(' ').slice(1), {
      rawArgs: true,
      env: {
        VAULT_ADDR: standin.addr,
        CI_JOB_JWT: jwt,
        CI_PROJECT_DIR: projectDir,
        CI_PROJECT_PATH: 'alpine/tconfd-app',
        TCONFD_DIR: join(ROOT, 'examples/gitlab-ci-jwt/tconfd.d'),
      },
    });
    const exit = await p.waitForExit();
    return { p, exit, jwt, projectDir };
  }

  it('a job for a protected tag of the alpine group logs in with its JWT and renders secrets.mk and .npmrc', async () => {
    const before = standin.count({ method: 'POST', path: 'auth/jwt/login' });
    const { p, exit, jwt, projectDir } = await job('tag', {});
    expect(exit, p.tail()).toEqual({ code: 0, signal: null });
    expect(standin.count({ method: 'POST', path: 'auth/jwt/login' })).toBe(before + 1);

    const mk = readFileSync(join(projectDir, 'secrets.mk'), 'utf8');
    expect(mk).toContain('DEPLOY_USER := ci-deployer\n');
    expect(mk).toContain('DEPLOY_PASSWORD := correct horse battery staple\n');
    expect(mk).toContain('for alpine/tconfd-app');
    expect(readFileSync(join(projectDir, '.npmrc'), 'utf8')).toBe(
      '@alpine:registry=https://npm.example.com/\n//npm.example.com/:_authToken=npm_0123456789abcdefghijklmnopqrstuvwxyz\n',
    );
    for (const f of ['secrets.mk', '.npmrc']) expect(statSync(join(projectDir, f)).mode & 0o777).toBe(0o600);

    // The token came from the JWT login: the ci-deploy policy, at most 60 s (token_explicit_max_ttl), and --once
    // leaves it to expire (nothing is revoked: the files must stay usable).
    const tokens = standin.tokens().filter((t) => t.path === 'auth/jwt/login');
    const last = tokens[tokens.length - 1]!;
    expect(last.policies).toEqual(['ci-deploy', 'default']);
    expect(last.expiresAt! - last.issuedAt).toBeLessThanOrEqual(60_000);

    expect(p.output).not.toContain(jwt);
    expect(p.output).not.toContain(jwt.split('.')[2]!); // not even its signature
    expect(p.output).not.toContain('correct horse');
  });

  it('a job for an unprotected ref is refused: exit 1, naming the role and the login path, nothing written', async () => {
    const { p, exit, jwt, projectDir } = await job('branch', { ref: 'feature/x', ref_type: 'branch', ref_protected: 'false' });
    expect(exit.code, p.tail()).toBe(1);
    expect(p.stderr).toMatch(/tconfd: .*role "myrole".*auth\/jwt\/login.*claim "ref_protected" does not match/);
    expect(readdirSync(projectDir)).toEqual([]);
    expect(p.output).not.toContain(jwt);
    expect(p.output).not.toContain(jwt.split('.')[2]!);
  });

  it('a protected tag of another group is refused too (namespace_path)', async () => {
    const { p, exit, projectDir } = await job('other-group', { namespace_path: 'someone-else' });
    expect(exit.code, p.tail()).toBe(1);
    expect(p.stderr).toMatch(/role "myrole".*auth\/jwt\/login.*claim "namespace_path" does not match/);
    expect(existsSync(join(projectDir, 'secrets.mk'))).toBe(false);
  });
});
