// The gateway's pure parts: the L4 cache (LRU, TTL, zeroized on every exit), the envelope
// format (self-describing, bound to its context), the token file.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { L4Cache } from '../../src/gateway/cache.ts';
import { EnvelopeSealer, GatewayError, NonceSource, NONCES_PER_DRAW, openEnvelope, parseEnvelope, sealEnvelope, wrappedKeyDefect } from '../../src/gateway/envelope.ts';
import { buildBinaryResponse, buildDataKeysResponse } from '../../src/gateway/binary.ts';
import { applicationOf, parseTokenFile, TokenFileError } from '../../src/gateway/tokens.ts';

describe('L4Cache', () => {
  it('is LRU-bounded, expires at its TTL and zeroizes every key that leaves', () => {
    let now = 0;
    const c = new L4Cache({ maxEntries: 2, ttlMs: 100, now: () => now });
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)];
    c.set('a', keys[0]!);
    c.set('b', keys[1]!);
    // Internal copies: grab them through a spy on fill.
    const zeroized: Buffer[] = [];
    const origFill = Buffer.prototype.fill;
    Buffer.prototype.fill = function (this: Buffer, ...args: Parameters<Buffer['fill']>) { zeroized.push(this); return origFill.apply(this, args); } as Buffer['fill'];
    try {
      expect(c.get('a')?.equals(keys[0]!)).toBe(true); // a is now most recent
      c.set('c', keys[2]!); // evicts b
      expect(c.get('b')).toBeUndefined();
      expect(zeroized.some((z) => z.length === 32 && z.every((x) => x === 0))).toBe(true);
      now = 150;
      expect(c.get('a')).toBeUndefined();
      expect(c.size).toBe(1);
      expect(c.purge()).toBe(1);
      expect(c.size).toBe(0);
    } finally {
      Buffer.prototype.fill = origFill;
    }
    // The caller's buffers were never the cache's.
    expect(keys[0]!.every((x) => x === 1)).toBe(true);
  });

  it('second chance: a hit spares an entry from the next eviction; getBase64 answers without a copy', () => {
    const c = new L4Cache({ maxEntries: 3, ttlMs: 1000 });
    for (const [id, v] of [['a', 1], ['b', 2], ['c', 3]] as const) c.set(id, Buffer.alloc(16, v));
    expect(c.getBase64('a')).toBe(Buffer.alloc(16, 1).toString('base64'));
    expect(c.getBase64('zz')).toBeUndefined();
    c.set('d', Buffer.alloc(16, 4)); // a was used: b goes
    expect([c.getBase64('b'), c.get('a')?.[0], c.get('c')?.[0], c.get('d')?.[0]]).toEqual([undefined, 1, 3, 4]);
    // c, d and a were all used: each gets its chance, the new entry is never its own victim,
    // then the oldest (c) goes.
    c.set('e', Buffer.alloc(16, 5));
    expect(c.size).toBe(3);
    expect([c.get('c'), c.get('d')?.[0], c.get('a')?.[0], c.get('e')?.[0]]).toEqual([undefined, 4, 1, 5]);
  });

  it('hands out copies: a purge does not zero what a request is still using, and vice versa', () => {
    const c = new L4Cache({ maxEntries: 10, ttlMs: 1000 });
    c.set('k', Buffer.alloc(16, 9));
    const got = c.get('k')!;
    got.fill(0);
    expect(c.get('k')!.every((x) => x === 9)).toBe(true);
    const again = c.get('k')!;
    c.purge();
    expect(again.every((x) => x === 9)).toBe(true);
  });

  it('a full cache keeps its bound and its order through many evictions, expiries and replacements', () => {
    // The eviction order lives in a queue of its own (not the Map's insertion order): stale
    // items (expired, replaced) are skipped, and a used entry still gets its second chance.
    let now = 0;
    const c = new L4Cache({ maxEntries: 1000, ttlMs: 10_000, now: () => now });
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, Buffer.alloc(16, i & 0xff));
    c.set('k5', Buffer.alloc(16, 0xee)); // replaced: its old queue item is stale
    expect(c.get('k7')?.[0]).toBe(7); // used: spared once
    now = 5_000;
    for (let i = 1000; i < 50_000; i++) {
      c.set(`k${i}`, Buffer.alloc(16, i & 0xff));
      expect(c.size).toBeLessThanOrEqual(1000);
    }
    expect(c.size).toBe(1000);
    // The newest 1000 are the ones left (k7's second chance was spent long ago).
    expect(c.get('k49999')?.[0]).toBe(49999 & 0xff);
    expect(c.get('k49000')?.[0]).toBe(49000 & 0xff);
    expect(c.get('k48999')).toBeUndefined();
    expect(c.get('k7')).toBeUndefined();
    expect(c.get('k5')).toBeUndefined();
    now = 20_000;
    expect(c.sweep()).toBe(1000);
    c.set('again', Buffer.alloc(16, 1));
    expect(c.size).toBe(1);
  });
});

describe('envelope', () => {
  const wrapped = Buffer.concat([Buffer.of(2, 0, 0, 0, 3), randomBytes(28 + 32)]);
  it('round-trips and names the wrapped key and its L3 version', () => {
    const l4 = randomBytes(32);
    const ct = sealEnvelope(l4, wrapped, Buffer.from('ctx'), Buffer.from('hello'));
    const env = parseEnvelope(ct);
    expect(env.wrapped.equals(wrapped)).toBe(true);
    expect(env.wrapped.readUInt32BE(1)).toBe(3);
    expect(openEnvelope(l4, env, Buffer.from('ctx'))?.toString()).toBe('hello');
    expect(openEnvelope(l4, env, Buffer.from('other'))).toBeUndefined();
    for (let at = 0; at < ct.length; at += 7) {
      const f = Buffer.from(ct);
      f[at]! ^= 1;
      let out: Buffer | undefined;
      try { out = openEnvelope(l4, parseEnvelope(f), Buffer.from('ctx')); } catch (e) { expect(e).toBeInstanceOf(GatewayError); }
      expect(out).toBeUndefined();
    }
  });
  it('a sealer reuses its header and associated data, never a nonce, and opens like a single seal', () => {
    const l4 = randomBytes(16);
    const sealer = new EnvelopeSealer(l4, wrapped, Buffer.from('ctx'));
    const nonces = new Set<string>();
    for (let i = 0; i < 3 * NONCES_PER_DRAW; i++) {
      const env = parseEnvelope(sealer.seal(Buffer.from(`m${i}`)));
      nonces.add(env.nonce.toString('hex'));
      if (i % 97 === 0) {
        expect(openEnvelope(l4, env, Buffer.from('ctx'))?.toString()).toBe(`m${i}`);
        expect(openEnvelope(l4, env, Buffer.from('ctx2'))).toBeUndefined();
      }
    }
    expect(nonces.size).toBe(3 * NONCES_PER_DRAW);
    // Nonces from one draw are consecutive slices of it, each handed out once.
    const src = new NonceSource();
    const a = src.next(), b = src.next();
    expect(a.length).toBe(12);
    expect(a.buffer === b.buffer && b.byteOffset === a.byteOffset + 12).toBe(true);
    // Same format as before: an envelope of the old one-shot function opens with a sealer's key.
    expect(openEnvelope(l4, parseEnvelope(sealEnvelope(l4, wrapped, Buffer.from('ctx'), Buffer.from('x'))), Buffer.from('ctx'))?.toString()).toBe('x');
  });
  it('sealInto writes the same envelope format at an offset of a shared buffer, and says where it ends', () => {
    const l4 = randomBytes(32);
    const sealer = new EnvelopeSealer(l4, wrapped, Buffer.from('ctx'));
    const msgs = [Buffer.from('first'), Buffer.alloc(0), randomBytes(1024)];
    const out = Buffer.alloc(3 + msgs.reduce((n, m) => n + sealer.sizeOf(m.length), 0), 0xee);
    let at = 3;
    const starts: number[] = [];
    for (const m of msgs) { starts.push(at); at = sealer.sealInto(out, at, m); }
    expect(at).toBe(out.length);
    expect(out.subarray(0, 3).equals(Buffer.alloc(3, 0xee))).toBe(true);
    msgs.forEach((m, i) => {
      const env = parseEnvelope(out.subarray(starts[i], i + 1 < starts.length ? starts[i + 1] : out.length));
      expect(sealer.headerBytes).toBe(env.header.length);
      expect(openEnvelope(l4, env, Buffer.from('ctx'))?.equals(m)).toBe(true);
    });
  });
  it('says where a wrapped key is malformed', () => {
    expect(wrappedKeyDefect(wrapped)).toBeUndefined();
    expect(wrappedKeyDefect(wrapped.subarray(0, 3))).toBe('wrapped key is malformed at byte 3: truncated inside the L3 version');
    expect(wrappedKeyDefect(Buffer.of(9, 1, 2))).toMatch(/^wrapped key is malformed at byte 0/);
    expect(() => parseEnvelope(Buffer.of(1, 0))).toThrow(/ciphertext is malformed at byte 2/);
  });
});

describe('binary data-keys answer', () => {
  it('is byte for byte the general binary response of the same keys', () => {
    const pool = randomBytes(16 * 5);
    const keys = Array.from({ length: 5 }, (_, i) => pool.subarray(16 * i, 16 * i + 16));
    const wrapped = keys.map(() => randomBytes(49));
    const general = buildBinaryResponse(7, keys.map((k, i) => ({ ok: true, fields: [k, wrapped[i]!] })));
    expect(buildDataKeysResponse(7, keys, wrapped).equals(general)).toBe(true);
  });
});

describe('token file', () => {
  it('maps tokens to applications and refuses short or duplicate tokens with the line', () => {
    const t = 'a'.repeat(40);
    const m = parseTokenFile(`# c\n\napp1 ${t}\n`, 'f');
    expect(applicationOf(m, `Bearer ${t}`)).toBe('app1');
    expect(applicationOf(m, 'Bearer nope')).toBeUndefined();
    expect(applicationOf(m, undefined)).toBeUndefined();
    expect(() => parseTokenFile('app1 short', 'f')).toThrow(TokenFileError);
    expect(() => parseTokenFile(`a ${t}\nb ${t}`, 'f')).toThrow(/line 2: the token of b is used twice/);
    expect(() => parseTokenFile('', 'f')).toThrow(/holds no token/);
  });
});
