/** std.parseYaml (placeholder until the YAML reader lands). */
import { RuntimeError, type Loc } from './errors.js';

export function parseYaml(text: string, loc: Loc | undefined): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RuntimeError('std.parseYaml: not supported yet', loc);
  }
}
