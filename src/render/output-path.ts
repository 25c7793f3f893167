/**
 * Where a template's output key goes. Keys come from the template's evaluation, which may compute them from secret
 * values: they are hostile input. Pure.
 *
 * - A relative key is resolved against the template's dir and must stay inside it after normalisation (`a/../b` is
 *   fine, `../b` is not).
 * - An absolute key is allowed, as rconfd allows it (its README writes /etc/ssl/cert.crt from a template whose dir is
 *   /etc/test), unless the template is confined ("confine": true, or the --confine default).
 * - A NUL character, an empty key, empty segments (`a//b`, `a/`) and names longer than 255 bytes are refused.
 */
import { isAbsolute, relative, resolve } from 'node:path';

/** Longest file name, in bytes (NAME_MAX of Linux file systems). */
const NAME_MAX = 255;

/** An output the render stage refuses: names the config file, the template and the output key or path. */
export class OutputError extends Error {
  override readonly name = 'OutputError';
  constructor(
    readonly configFile: string,
    readonly template: string,
    /** The key as the template gave it, or the resolved output path. */
    readonly output: string,
    readonly detail: string,
  ) {
    super(`${configFile}: template "${template}": output ${JSON.stringify(output)}: ${detail}`);
  }
}

export interface OutputOwner {
  readonly configFile: string;
  readonly template: string;
  /** Absolute base directory for relative outputs. */
  readonly dir: string | undefined;
}

export interface ResolvedOutput {
  readonly path: string;
  readonly absolute: boolean;
}

/** `shownKey`: the key as messages name it (not the key when it was computed from a secret value). */
export function resolveOutputPath(tmpl: OutputOwner, key: string, confine: boolean, shownKey = key): ResolvedOutput {
  const refuse = (detail: string): OutputError => new OutputError(tmpl.configFile, tmpl.template, shownKey, detail);
  if (key.includes('\0')) throw refuse('contains a NUL character');
  if (key === '') throw refuse('is empty');
  const segments = key.split('/');
  if (segments.slice(isAbsolute(key) ? 1 : 0).some((s) => s === '')) {
    throw refuse('has an empty path segment ("//" or a trailing "/")');
  }
  const long = segments.find((s) => Buffer.byteLength(s) > NAME_MAX);
  if (long !== undefined) {
    throw refuse(`has a file or directory name of ${Buffer.byteLength(long)} bytes: file systems allow at most ${NAME_MAX}`);
  }
  if (isAbsolute(key)) {
    if (confine) {
      throw refuse(`is an absolute path, and the template is confined to its dir ("confine": true or --confine)`);
    }
    return { path: resolve(key), absolute: true };
  }
  if (tmpl.dir === undefined) throw refuse('is a relative path and the template has no "dir"');
  const path = resolve(tmpl.dir, key);
  const rel = relative(tmpl.dir, path);
  if (rel === '') throw refuse(`names the template's dir ${tmpl.dir} itself, not a file in it`);
  if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
    throw refuse(shownKey === key ? `resolves to ${path}, outside the template's dir ${tmpl.dir}` : `resolves outside the template's dir ${tmpl.dir}`);
  }
  return { path, absolute: false };
}
