/** Turning the text a source read into the value Jsonnet sees. */
import type { Format } from '../config/secret-path.js';
import { SecretFetchError } from './types.js';

/**
 * `str` keeps the text; `js` parses it as JSON. A parse error names the secret path and the position only: the text
 * is a secret and never appears in the message (Node's own JSON.parse messages quote the input).
 */
export function decode(raw: string, text: string, format: Format): unknown {
  if (format === 'str') return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    const where = m ? ` (syntax error at offset ${m[1]})` : text.trim() === '' ? ' (it is empty)' : '';
    throw new SecretFetchError(raw, `value is not valid JSON${where}; use str instead of js for plain text`);
  }
}
