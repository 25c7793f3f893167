/**
 * The supervised command's environment: tconfd's own, minus the Vault credentials tconfd used to log in. Paths (CA
 * bundle, client certificate and key files...) and addresses stay: they are not secrets and the application may need
 * them. Pure.
 */

/** Variables that hold credentials and are always removed unless kept explicitly. */
export const CREDENTIAL_ENV_NAMES: readonly string[] = ['VAULT_TOKEN', 'TCONFD_APPROLE_SECRET_ID', 'VAULT_SECRET_ID'];

export interface ChildEnvOptions {
  /** Further variables to remove, e.g. the one named by -T (rconfd's token variable). */
  readonly removeNames?: readonly string[];
  /** Variables to pass through even though they would be removed (--env-keep NAME). */
  readonly keep?: readonly string[];
}

export interface ChildEnv {
  /** The environment for the child. */
  readonly env: Record<string, string>;
  /** Names removed (present in the parent, not given to the child), sorted; for a debug log (names only). */
  readonly removed: string[];
}

export function childEnv(
  parentEnv: Readonly<Record<string, string | undefined>>,
  opts: ChildEnvOptions = {},
): ChildEnv {
  const keep = new Set(opts.keep ?? []);
  const remove = new Set([...CREDENTIAL_ENV_NAMES, ...(opts.removeNames ?? [])].filter((n) => n && !keep.has(n)));
  const env: Record<string, string> = {};
  const removed: string[] = [];
  for (const [name, value] of Object.entries(parentEnv)) {
    if (value === undefined) continue;
    if (remove.has(name)) removed.push(name);
    else env[name] = value;
  }
  return { env, removed: removed.sort() };
}
