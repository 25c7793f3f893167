/** Turning the bytes or text a source read into the value Jsonnet sees. */
import type { Format } from '../config/secret-path.js';
import { formatSize } from '../size.js';
import { SecretFetchError } from './types.js';

/**
 * `str` keeps the text; `js` parses it as JSON. A parse error names the secret path and the position only: the text
 * is a secret and never appears in the message (Node's own JSON.parse messages quote the input).
 */
export function decode(raw: string, text: string, format: Format): unknown {
  if (format === 'str' || format === 'b64') return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    const where = m ? ` (syntax error at offset ${m[1]})` : text.trim() === '' ? ' (it is empty)' : '';
    throw new SecretFetchError(raw, `value is not valid JSON${where}; use str instead of js for plain text`);
  }
}

/**
 * Bytes (a file, a command's output) -> the Jsonnet value. `b64` is the bytes as base64, untouched; `str` and `js`
 * need UTF-8 text: other bytes are an error, never silently replaced by U+FFFD. `trim` trims the text (exe output).
 */
export function decodeBytes(raw: string, bytes: Uint8Array, format: Format, opts: { trim?: boolean } = {}): unknown {
  if (format === 'b64') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const backend = raw.slice(0, raw.indexOf(':'));
    throw new SecretFetchError(
      raw,
      `value is not UTF-8 text; use ${backend}:b64:... to get binary content as base64`,
    );
  }
  return decode(raw, opts.trim === true ? text.trim() : text, format);
}

/** The size limit error of a secret: names the secret and the limit, never a byte of the value. */
export function tooLarge(raw: string, limit: number, what = 'value'): SecretFetchError {
  return new SecretFetchError(raw, `${what} is larger than the limit of ${formatSize(limit)} (--max-secret-size)`);
}
