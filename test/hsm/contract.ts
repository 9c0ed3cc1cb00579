// The contract every L1 provider passes (DESIGN.md §2, §6.6). The software provider runs it
// in software.test.ts; PKCS#11 (SoftHSM2) and AWS KMS providers call it with their factory.
import { afterEach, describe, expect, it } from 'vitest';
import type { L1Provider } from '../../src/hsm/types.ts';

export interface L1ContractSubject {
  provider: L1Provider;
  dispose?: () => Promise<void>;
}

export function runL1ProviderContract(label: string, factory: () => Promise<L1ContractSubject>): void {
  describe(`L1 provider contract: ${label}`, () => {
    let subject: L1ContractSubject | undefined;
    const open = async () => {
      subject = await factory();
      return subject.provider;
    };
    afterEach(async () => {
      if (subject === undefined) return;
      await subject.provider.close();
      await subject.dispose?.();
      subject = undefined;
    });

    it('wraps and unwraps a 256-bit key under the same context', async () => {
      const l1 = await open();
      const dek = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
      const blob = await l1.wrap(dek, 'tenant:acme/l2/v1');
      expect(blob.includes(dek)).toBe(false);
      expect(await l1.unwrap(blob, 'tenant:acme/l2/v1')).toEqual(dek);
    });

    it('two wraps of the same plaintext differ (fresh randomness each time)', async () => {
      const l1 = await open();
      const p = Buffer.alloc(32, 7);
      const [a, b] = [await l1.wrap(p, 'c'), await l1.wrap(p, 'c')];
      expect(a.equals(b)).toBe(false);
      expect(await l1.unwrap(a, 'c')).toEqual(p);
      expect(await l1.unwrap(b, 'c')).toEqual(p);
    });

    it('unwrap under another context fails', async () => {
      const l1 = await open();
      const blob = await l1.wrap(Buffer.alloc(32, 1), 'tenant:acme');
      await expect(l1.unwrap(blob, 'tenant:other')).rejects.toThrow();
      await expect(l1.unwrap(blob, '')).rejects.toThrow();
    });

    it('unwrap of an altered or truncated blob fails', async () => {
      const l1 = await open();
      const blob = await l1.wrap(Buffer.alloc(32, 2), 'ctx');
      for (const i of [0, 1, Math.floor(blob.length / 2), blob.length - 1]) {
        const bad = Buffer.from(blob);
        bad[i] = bad[i]! ^ 0x01;
        await expect(l1.unwrap(bad, 'ctx'), `byte ${i} flipped`).rejects.toThrow();
      }
      await expect(l1.unwrap(blob.subarray(0, blob.length - 1), 'ctx')).rejects.toThrow();
      await expect(l1.unwrap(Buffer.alloc(0), 'ctx')).rejects.toThrow();
    });

    it('reports active status and describes itself', async () => {
      const l1 = await open();
      expect(await l1.status()).toEqual({ state: 'active' });
      const d = l1.describe();
      expect(['software', 'pkcs11', 'aws-kms']).toContain(d.provider);
      expect(d.keyRef.length).toBeGreaterThan(0);
      expect(typeof d.developmentOnly).toBe('boolean');
    });
  });
}
