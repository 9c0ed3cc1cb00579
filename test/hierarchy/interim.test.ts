import { createDecipheriv } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { createInterimProtector, INTERIM_DEK_CONTEXT, INTERIM_DEK_NAME, KeyProtectionError } from '../../src/hierarchy/interim.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'openkcm-interim-'));
  dirs.push(d);
  return d;
};
const stores: SqliteStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const dir = tempDir();
  const store = await openSqliteStore(':memory:');
  stores.push(store);
  const keyPath = join(dir, 'l1.key');
  const l1 = await SoftwareL1Provider.open(keyPath);
  return { dir, store, l1, keyPath };
}

const place = { tenant: 'acme', service: 'billing', uid: 'uid-1' };
const secret = Buffer.from('the value of a managed object, in TTLV');

describe('interim key protector', () => {
  it('round-trips a value and the blob hides it', async () => {
    const { store, l1 } = await setup();
    const p = await createInterimProtector(l1, store);
    const blob = await p.protect(place, secret);
    expect(blob.includes(secret)).toBe(false);
    expect(blob.length).toBe(1 + 12 + 16 + secret.length);
    expect(await p.unprotect(place, blob)).toEqual(secret);
  });

  it('a blob opens only at its own tenant, service and uid', async () => {
    const { store, l1 } = await setup();
    const p = await createInterimProtector(l1, store);
    const blob = await p.protect(place, secret);
    for (const other of [
      { ...place, uid: 'uid-2' },
      { ...place, tenant: 'other' },
      { ...place, service: 'other' },
    ]) {
      await expect(p.unprotect(other, blob), JSON.stringify(other)).rejects.toBeInstanceOf(KeyProtectionError);
    }
    // Length-prefixed associated data: shifting characters between fields is another place.
    const ab = await p.protect({ tenant: 'ab', service: 'c', uid: 'u' }, secret);
    await expect(p.unprotect({ tenant: 'a', service: 'bc', uid: 'u' }, ab)).rejects.toBeInstanceOf(KeyProtectionError);
  });

  it('an altered or foreign blob fails with a clear error', async () => {
    const { store, l1 } = await setup();
    const p = await createInterimProtector(l1, store);
    const blob = await p.protect(place, secret);
    const flipped = Buffer.from(blob);
    flipped[blob.length - 1] = flipped[blob.length - 1]! ^ 0x80;
    await expect(p.unprotect(place, flipped)).rejects.toThrow(/fails authentication/);
    await expect(p.unprotect(place, Buffer.from('plaintext'))).rejects.toThrow(/not an interim-protected blob/);
  });

  it('generates the data key once, stores it only wrapped by L1, and reuses it', async () => {
    const { store, l1 } = await setup();
    const p1 = await createInterimProtector(l1, store);
    const blob = await p1.protect(place, secret);
    const stored = await store.getSystemBlob(INTERIM_DEK_NAME);
    expect(stored).toBeDefined();
    // The stored blob is the L1 wrapping of the DEK: unwrap it and decrypt our blob by hand.
    const dek = await l1.unwrap(stored!, INTERIM_DEK_CONTEXT);
    expect(dek.length).toBe(32);
    expect(stored!.includes(dek)).toBe(false);
    const p2 = await createInterimProtector(l1, store);
    expect(await p2.unprotect(place, blob)).toEqual(secret);
    expect((await store.getSystemBlob(INTERIM_DEK_NAME))!.equals(stored!)).toBe(true);
    // Independent check of the blob layout (v1 | nonce | tag | ct) with the raw key.
    const d = createDecipheriv('aes-256-gcm', dek, blob.subarray(1, 13));
    d.setAuthTag(blob.subarray(13, 29));
    const aad = Buffer.concat(['openkcm/object/v1', place.tenant, place.service, place.uid].flatMap((s) => {
      const b = Buffer.from(s);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return [len, b];
    }));
    d.setAAD(aad);
    expect(Buffer.concat([d.update(blob.subarray(29)), d.final()])).toEqual(secret);
  });

  it('another L1 key cannot open the stored data key (no backdoor)', async () => {
    const { store, l1 } = await setup();
    await createInterimProtector(l1, store);
    const foreignL1 = await SoftwareL1Provider.open(join(tempDir(), 'other.key'));
    await expect(createInterimProtector(foreignL1, store)).rejects.toThrow(/unwrap failed/);
  });

  it('starting with the L1 key file gone fails: the kill switch of the development provider', async () => {
    const { store, l1, keyPath } = await setup();
    await createInterimProtector(l1, store);
    unlinkSync(keyPath);
    await expect(createInterimProtector(l1, store)).rejects.toThrow(/is gone/);
  });

  it('close zeroizes the key: protect and unprotect fail afterwards', async () => {
    const { store, l1 } = await setup();
    const p = await createInterimProtector(l1, store);
    const blob = await p.protect(place, secret);
    p.close();
    await expect(p.protect(place, secret)).rejects.toThrow(/closed/);
    await expect(p.unprotect(place, blob)).rejects.toThrow(/closed/);
  });
});
