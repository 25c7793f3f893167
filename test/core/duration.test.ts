import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseWait } from '../../src/duration.js';

describe('parseDuration / parseWait', () => {
  it('accepts Go-style durations and bare seconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration('0')).toBe(0);
  });

  it('names the bad value', () => {
    for (const bad of ['', '2x', 'abc', '-1s', '1s2', 's']) {
      expect(() => parseDuration(bad)).toThrow(`invalid duration "${bad}"`);
    }
  });

  it('parses MIN:MAX, with MAX = 4 × MIN by default', () => {
    expect(parseWait('2s:10s')).toEqual({ minMs: 2_000, maxMs: 10_000 });
    expect(parseWait('500ms')).toEqual({ minMs: 500, maxMs: 2_000 });
    expect(parseWait('0')).toEqual({ minMs: 0, maxMs: 0 });
    expect(() => parseWait('10s:2s')).toThrow(/invalid wait "10s:2s".*shorter/);
    expect(() => parseWait('2s:zz')).toThrow(/invalid wait "2s:zz".*"zz"/);
    expect(() => parseWait('1:2:3')).toThrow(/invalid wait "1:2:3"/);
  });
});

describe('formatDuration', () => {
  it('prints the largest whole unit', () => {
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(16_000)).toBe('16s');
    expect(formatDuration(250)).toBe('250ms');
  });
});
