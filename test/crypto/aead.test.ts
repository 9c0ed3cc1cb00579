import { describe, expect, it } from 'vitest';
import { aes256GcmOpen, aes256GcmSeal, gcmNonce, randomNonce, GCM_NONCE_BYTES } from '../../src/crypto/aead.ts';

const key = Buffer.alloc(32, 7);

describe('AES-256-GCM key blobs', () => {
  it('round-trips with the same associated data and refuses any other', () => {
    const { nonce, tag, ct } = aes256GcmSeal(key, 'l2|acme|1', Buffer.from('secret'));
    expect(aes256GcmOpen(key, 'l2|acme|1', nonce, tag, ct)?.toString()).toBe('secret');
    expect(aes256GcmOpen(key, 'l2|acme|2', nonce, tag, ct)).toBeUndefined();
    expect(aes256GcmOpen(Buffer.alloc(32, 8), 'l2|acme|1', nonce, tag, ct)).toBeUndefined();
    const bad = Buffer.from(ct);
    bad[0]! ^= 1;
    expect(aes256GcmOpen(key, 'l2|acme|1', nonce, tag, bad)).toBeUndefined();
  });

  it('draws distinct 96-bit nonces across pool refills, each owned by the caller', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const n = gcmNonce();
      expect(n.length).toBe(GCM_NONCE_BYTES);
      seen.add(n.toString('hex'));
    }
    expect(seen.size).toBe(1000);
    const a = gcmNonce();
    const copy = Buffer.from(a);
    gcmNonce();
    expect(a).toEqual(copy);
  });

  it('IVs of any length from the pool (issue 12 §2): distinct across refills, large ones straight from the CSPRNG', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const n = randomNonce(i % 2 === 0 ? 12 : 16); // GCM, CBC: ~20 pool refills
      expect(n.length).toBe(i % 2 === 0 ? 12 : 16);
      seen.add(n.toString('hex'));
    }
    expect(seen.size).toBe(3000);
    const big = randomNonce(1000);
    expect(big.length).toBe(1000);
    expect(big.equals(Buffer.alloc(1000))).toBe(false);
  });
});
