import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from '../../src/size.js';

describe('sizes (--max-secret-size)', () => {
  it('parses bytes and binary or decimal units', () => {
    expect(parseSize('65536')).toBe(65536);
    expect(parseSize('4MiB')).toBe(4 * 1024 * 1024);
    expect(parseSize('512 KiB')).toBe(512 * 1024);
    expect(parseSize('1MB')).toBe(1_000_000);
    expect(parseSize('1.5m')).toBe(1.5 * 1024 * 1024);
    for (const bad of ['lots', '4 MiBs', '-1', '0', '']) expect(() => parseSize(bad), bad).toThrow();
  });

  it('shows limits the way they are usually written', () => {
    expect(formatSize(4 * 1024 * 1024)).toBe('4 MiB');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(1000)).toBe('1000 bytes');
  });
});
