/**
 * Native functions available to every template through std.native(NAME):
 *   sha256(text)           -> lowercase hex SHA-256 of the UTF-8 text
 */
import { createHash } from 'node:crypto';
import type { Jsonnet } from '@hanazuki/node-jsonnet';

export function registerNatives(vm: Jsonnet): void {
  vm.nativeCallback('sha256', (text) => createHash('sha256').update(String(text ?? '')).digest('hex'), 'text');
}
