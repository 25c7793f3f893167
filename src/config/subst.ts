/**
 * `${NAME}` and `${NAME:-default}` substitution from the environment, as in rconfd but stricter: an unset variable
 * without a default is an error naming it (rconfd silently substitutes nothing). `${NAME:-default}` uses the default
 * when NAME is unset or empty, like a POSIX shell. `$$` is a literal `$`. Pure.
 */
export class SubstitutionError extends Error {
  override readonly name = 'SubstitutionError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

const PATTERN = /\$\$|\$\{([^}]*)\}/g;

export function substitute(text: string, env: Readonly<Record<string, string | undefined>>): string {
  return text.replace(PATTERN, (match, inner: string | undefined) => {
    if (match === '$$') return '$';
    const body = inner ?? '';
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new SubstitutionError(name, `"${match}" is not a variable reference (expected \${NAME} or \${NAME:-default})`);
    }
    const value = env[name];
    if (sep >= 0) return value === undefined || value === '' ? body.slice(sep + 2) : value;
    if (value === undefined) {
      throw new SubstitutionError(name, `uses \${${name}}, which is not set in the environment (use \${${name}:-default} for a default)`);
    }
    return value;
  });
}
