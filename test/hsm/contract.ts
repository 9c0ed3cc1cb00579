// The contract every L1 provider passes (DESIGN.md §2, §6.6). The software provider runs it
// in software.test.ts; PKCS#11 (SoftHSM2) and AWS KMS providers call it with their factory.
import { afterEach, describe, expect, it } from 'vitest';
import { L1_PROVIDERS } from '../../src/hsm/index.ts';
import type { L1Provider } from '../../src/hsm/types.ts';

export interface L1ContractSubject {
  provider: L1Provider;
  dispose?: () => Promise<void>;
  /**
   * Optional hooks acting on the key behind the provider's back, as the customer would in
   * their own HSM or KMS console. Each is tested only when the subject offers it.
   */
  revokeKey?: () => Promise<void>;
  disableKey?: () => Promise<void>;
  /** Undoes disableKey. */
  enableKey?: () => Promise<void>;
}

/** Which optional hooks the subjects of a provider offer; the matching tests are skipped otherwise. */
export interface L1ContractCapabilities {
  revoke?: boolean;
  disable?: boolean;
}

export function runL1ProviderContract(label: string, factory: () => Promise<L1ContractSubject>, caps: L1ContractCapabilities = {}): void {
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

    it.skipIf(!caps.revoke)('revoking the key behind the provider: status revoked, unwrap and wrap refused', async () => {
      const l1 = await open();
      if (subject!.revokeKey === undefined) throw new Error('capability revoke declared but the subject has no revokeKey hook');
      const blob = await l1.wrap(Buffer.alloc(32, 3), 'ctx');
      await subject!.revokeKey();
      const st = await l1.status();
      expect(st.state).toBe('revoked');
      expect(st.state !== 'active' && st.detail.length).toBeGreaterThan(0);
      await expect(l1.unwrap(blob, 'ctx')).rejects.toThrow();
      await expect(l1.wrap(Buffer.alloc(32, 3), 'ctx')).rejects.toThrow();
    });

    it.skipIf(!caps.disable)('disabling the key: status disabled and unwrap refused; enabling it again restores both', async () => {
      const l1 = await open();
      if (subject!.disableKey === undefined || subject!.enableKey === undefined) {
        throw new Error('capability disable declared but the subject lacks disableKey/enableKey hooks');
      }
      const blob = await l1.wrap(Buffer.alloc(32, 4), 'ctx');
      await subject!.disableKey();
      const st = await l1.status();
      expect(st.state).toBe('disabled');
      expect(st.state !== 'active' && st.detail.length).toBeGreaterThan(0);
      await expect(l1.unwrap(blob, 'ctx')).rejects.toThrow();
      await subject!.enableKey();
      expect(await l1.status()).toEqual({ state: 'active' });
      expect(await l1.unwrap(blob, 'ctx')).toEqual(Buffer.alloc(32, 4));
    });

    it('reports active status and describes itself', async () => {
      const l1 = await open();
      expect(await l1.status()).toEqual({ state: 'active' });
      const d = l1.describe();
      expect(L1_PROVIDERS).toContain(d.provider);
      expect(d.keyRef.length).toBeGreaterThan(0);
      expect(typeof d.developmentOnly).toBe('boolean');
    });
  });
}
