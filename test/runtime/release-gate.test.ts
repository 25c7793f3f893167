/**
 * When a replaced lease may be revoked (src/runtime/release-gate.ts), on the fake clock: never while a file holds it,
 * never before the application was told about the files that replaced it, and --revoke-grace after that tell (not
 * after the lease was accepted).
 */
import { describe, expect, it } from 'vitest';
import { ReleaseGate } from '../../src/runtime/release-gate.js';
import { FakeClock } from '../support/fake-clock.js';

function setup(graceMs = 30_000) {
  const clock = new FakeClock();
  const held = new Set<string>();
  let changes = 0;
  const gate = new ReleaseGate({ clock, graceMs, filesHold: (id) => held.has(id), onChange: () => changes++ });
  return { clock, held, gate, changes: () => changes };
}

describe('ReleaseGate', () => {
  it('a lease held by a file is kept, whatever was told', () => {
    const { held, gate } = setup();
    held.add('L1');
    gate.told(gate.rendered());
    expect(gate.holds('L1')).toBe('a rendered file still holds its credentials');
  });

  it('dropped by a rendering: kept until the application is told (--wait, --splay), then --revoke-grace from the tell', async () => {
    const { clock, held, gate, changes } = setup(30_000);
    held.add('L1');
    // The lease is replaced; the new rendering drops L1 from the files; the session asks (the scheduler's grace ended).
    held.delete('L1');
    const n = gate.rendered();
    expect(gate.holds('L1')).toMatch(/not been told/);
    await clock.advance(25_000); // --wait 2s:10s and a splay: long after the lease was accepted
    expect(gate.holds('L1')).toMatch(/not been told/);
    const toldAt = clock.now();
    gate.told(n);
    expect(changes()).toBe(1);
    expect(gate.holds('L1')).toMatch(/less than --revoke-grace ago/);
    await clock.advance(29_999);
    expect(gate.holds('L1')).toMatch(/less than --revoke-grace ago/);
    const before = changes();
    await clock.advance(1);
    expect(clock.now()).toBe(toldAt + 30_000);
    expect(changes()).toBe(before + 1); // the session is asked to look again
    expect(gate.holds('L1')).toBeUndefined();
  });

  it('a tell about an earlier rendering does not release a lease dropped by a later one', async () => {
    const { clock, gate } = setup(1_000);
    const first = gate.rendered();
    gate.rendered(); // a second burst, not yet told
    expect(gate.holds('L2')).toMatch(/not been told/);
    gate.told(first);
    await clock.advance(5_000);
    expect(gate.holds('L2')).toMatch(/not been told/);
    gate.told(gate.latest);
    await clock.advance(1_000);
    expect(gate.holds('L2')).toBeUndefined();
  });

  it('first asked long after the tell: the grace counts from the tell, not from the question', async () => {
    const { clock, gate } = setup(10_000);
    gate.told(gate.rendered());
    await clock.advance(4_000);
    expect(gate.holds('L3')).toMatch(/less than --revoke-grace ago/);
    await clock.advance(6_000);
    expect(gate.holds('L3')).toBeUndefined();
    await clock.advance(60_000);
    expect(gate.holds('L4')).toBeUndefined();
  });
});
