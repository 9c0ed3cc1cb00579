// Connection budgets as bookkeeping (src/server/admission.ts), and the source key.
import { describe, it, expect } from 'vitest';
import { Admission, sourceKey } from '../../src/server/admission.ts';

describe('Admission', () => {
  it('refuses a source over its pre-auth limit, whatever room is left', () => {
    const a = new Admission<string>({ maxConnections: 10, maxPreAuthConnections: 8, maxPreAuthPerSource: 2 });
    expect(a.admit('a1', 'A')).toEqual({ admitted: true });
    expect(a.admit('a2', 'A')).toEqual({ admitted: true });
    expect(a.admit('a3', 'A')).toEqual({ admitted: false, limit: 'maxPreAuthPerSource' });
    expect(a.admit('b1', 'B')).toEqual({ admitted: true });
    // Authenticated connections no longer count against their source's pre-auth limit.
    expect(a.authenticated('a1')).toBe(true);
    expect(a.admit('a3', 'A')).toEqual({ admitted: true });
  });

  it('a full pre-auth budget evicts the oldest connection of the busiest source', () => {
    const a = new Admission<string>({ maxConnections: 100, maxPreAuthConnections: 5, maxPreAuthPerSource: 3 });
    for (const c of ['b1', 'a1', 'a2', 'a3', 'c1']) expect(a.admit(c, c[0]!.toUpperCase())).toEqual({ admitted: true });
    expect(a.admit('d1', 'D')).toEqual({ admitted: true, evict: 'a1', evictedBecause: 'maxPreAuthConnections' });
    expect(a.admit('d2', 'D')).toEqual({ admitted: true, evict: 'a2', evictedBecause: 'maxPreAuthConnections' });
    expect(a.preAuthCount).toBe(5);
    expect(a.preAuthOf('A')).toBe(1);
  });

  it('a full server evicts pre-auth connections, never authenticated ones; all authenticated → refused', () => {
    const a = new Admission<string>({ maxConnections: 3, maxPreAuthConnections: 3, maxPreAuthPerSource: 3 });
    a.admit('x', 'X'); a.admit('y', 'Y'); a.admit('z', 'Z');
    a.authenticated('x'); a.authenticated('y');
    expect(a.admit('n', 'N')).toEqual({ admitted: true, evict: 'z', evictedBecause: 'maxConnections' });
    a.authenticated('n');
    expect(a.admit('m', 'M')).toEqual({ admitted: false, limit: 'maxConnections' });
    a.release('x');
    expect(a.admit('m', 'M')).toEqual({ admitted: true });
    expect(a.open).toBe(3);
  });

  it('release frees the slot in the right budget; releasing twice is harmless', () => {
    const a = new Admission<string>({ maxConnections: 2, maxPreAuthConnections: 1, maxPreAuthPerSource: 1 });
    a.admit('p', 'S');
    a.release('p');
    a.release('p');
    expect(a.open).toBe(0);
    expect(a.authenticated('p')).toBe(false);
    expect(a.admit('q', 'S')).toEqual({ admitted: true });
  });
});

describe('sourceKey', () => {
  it('IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', () => {
    expect(sourceKey('192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(sourceKey(undefined)).toBe('unknown');
  });
});
