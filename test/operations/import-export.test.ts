// Export with a Key Wrapping Specification and Import of the wrapped result (KMIP 2.1
// s.6.1.18, s.6.1.24): Key Wrap Type Not Wrapped unwraps on the server, As Registered (or
// absent) keeps the key wrapped — then the server refuses to use it until a Get with Key
// Wrap Type Not Wrapped, which unwraps with the managed wrapping key.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';
import { exportObject } from '../../src/operations/export.ts';
import { importObject } from '../../src/operations/import.ts';
import { get } from '../../src/operations/get.ts';
import { encrypt } from '../../src/operations/encrypt.ts';
import { boolean, byteString, child, enumeration, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  BlockCipherMode, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, KeyWrapType, ObjectType, ResultReason, WrappingMethod,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { call, params, reasonOf, registerSymmetric, uidField } from './crypto-helpers.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const wrapSpec = (kek: string) => structure(Tag.KeyWrappingSpecification, [
  enumeration(Tag.WrappingMethod, WrappingMethod.Encrypt),
  structure(Tag.EncryptionKeyInformation, [uidField(kek), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.NISTKeyWrap))]),
]);
const keyBlock = (r: Struct): Struct => child(child(r, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
const material = (r: Struct): Buffer => (child(child(keyBlock(r), Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;

/** An Import request rebuilt from an Export response, under a new identifier. */
function importRequest(exported: Struct, uid: string, wrapType?: number): TtlvItem[] {
  const attrs = child(exported, Tag.Attributes) as Struct;
  const fields: TtlvItem[] = [
    textString(Tag.UniqueIdentifier, uid),
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, attrs.value.filter((a) => a.tag !== Tag.UniqueIdentifier)),
    child(exported, Tag.SymmetricKey)!,
  ];
  if (wrapType !== undefined) fields.splice(2, 0, enumeration(Tag.KeyWrapType, wrapType));
  return fields;
}

describe('Export with wrapping, then Import', () => {
  it('Not Wrapped: the server unwraps with the managed key and stores usable material', async () => {
    const kek = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.WrapKey | CUM.UnwrapKey });
    const key = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt | CUM.Decrypt, extra: [boolean(Tag.Sensitive, true)] });
    // Sensitive: Export in the clear is refused, wrapped is allowed (s.4.52).
    expect(await reasonOf(call(t.ctx, exportObject, [uidField(uid)]))).toBe(ResultReason.Sensitive);
    const exported = await call(t.ctx, exportObject, [uidField(uid), wrapSpec(kek)]);
    expect(child(keyBlock(exported), Tag.KeyWrappingData)).toBeDefined();
    expect(child(keyBlock(exported), Tag.KeyValue)?.type).toBe('ByteString');

    await call(t.ctx, importObject, importRequest(exported, 'restored-1', KeyWrapType.NotWrapped));
    const stored = (await t.repo.load('restored-1'))!;
    expect(child(keyBlock(structure(Tag.ResponsePayload, [stored.value!])), Tag.KeyWrappingData)).toBeUndefined();
    expect(material(structure(Tag.ResponsePayload, [stored.value!]))).toEqual(key);
    // The imported attributes include the exported state (Active) and Sensitive: usable, not readable.
    const enc = await call(t.ctx, encrypt, [uidField('restored-1'), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), byteString(Tag.Data, Buffer.alloc(16))]);
    expect(child(enc, Tag.Data)).toBeDefined();
    expect(await reasonOf(call(t.ctx, get, [uidField('restored-1')]))).toBe(ResultReason.Sensitive);
  });

  it('As Registered keeps the key wrapped: not usable until a Get with Key Wrap Type Not Wrapped unwraps it', async () => {
    const kek = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.WrapKey | CUM.UnwrapKey });
    const key = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, key, { mask: CUM.Encrypt | CUM.Decrypt });
    const exported = await call(t.ctx, exportObject, [uidField(uid), wrapSpec(kek)]);
    await call(t.ctx, importObject, importRequest(exported, 'kept-wrapped', KeyWrapType.AsRegistered));
    const asRegistered = await call(t.ctx, get, [uidField('kept-wrapped')]);
    expect(child(keyBlock(asRegistered), Tag.KeyWrappingData)).toBeDefined();
    expect(await reasonOf(call(t.ctx, encrypt, [uidField('kept-wrapped'), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), byteString(Tag.Data, Buffer.alloc(16))])))
      .toBe(ResultReason.FeatureNotSupported);
    const unwrapped = await call(t.ctx, get, [uidField('kept-wrapped'), enumeration(Tag.KeyWrapType, KeyWrapType.NotWrapped)]);
    expect(child(keyBlock(unwrapped), Tag.KeyWrappingData)).toBeUndefined();
    expect(material(unwrapped)).toEqual(key);
    // Wrapping an already wrapped key again is refused.
    expect(await reasonOf(call(t.ctx, get, [uidField('kept-wrapped'), wrapSpec(kek)]))).toBe(ResultReason.KeyWrapTypeNotSupported);
  });

  it('Not Wrapped fails when the wrapping key is missing or may not unwrap', async () => {
    const wrapOnly = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.WrapKey });
    const uid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt });
    const exported = await call(t.ctx, exportObject, [uidField(uid), wrapSpec(wrapOnly)]);
    expect(await reasonOf(call(t.ctx, importObject, importRequest(exported, 'x-1', KeyWrapType.NotWrapped)))).toBe(ResultReason.IncompatibleCryptographicUsageMask);
    expect(await t.repo.load('x-1')).toBeUndefined();

    const other = await makeTestContext();
    try {
      // Another tenant's server state: the wrapping key does not exist there.
      expect(await reasonOf(call(other.ctx, importObject, importRequest(exported, 'x-2', KeyWrapType.NotWrapped)))).toBe(ResultReason.WrappingObjectNotFound);
    } finally {
      await other.close();
    }
  });
});

// Unique Identifiers are per tenant (issue 16 §2): Import lets the client choose the
// identifier, so the identifier another tenant holds must be free for this one — refusing it
// would tell the importer that the identifier exists elsewhere — and the two objects must
// never meet: not in Get, not in crypto, not as the key a Key Wrapping Data names.
describe('Import across tenants', () => {
  /** The exported key with its material replaced (same algorithm and length). */
  function withMaterial(exported: Struct, key: Buffer): Struct {
    const kb = keyBlock(exported);
    const newKb = structure(Tag.KeyBlock, kb.value.map((c) => (c.tag === Tag.KeyValue ? structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]) : c)));
    return structure(Tag.ResponsePayload, exported.value.map((c) => (c.tag === Tag.SymmetricKey ? structure(Tag.SymmetricKey, [newKb]) : c)));
  }
  const ecb = (uid: string) => [uidField(uid), params(enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)), byteString(Tag.Data, Buffer.alloc(16))];

  it('tenant B imports the identifier tenant A holds: two objects, each tenant sees and uses its own', async () => {
    const keyA = randomBytes(32);
    const keyB = randomBytes(32);
    const uid = await registerSymmetric(t.ctx, Alg.AES, keyA, { mask: CUM.Encrypt | CUM.Decrypt });
    const exported = await call(t.ctx, exportObject, [uidField(uid)]);
    const b = await makeContextFor(t.store, t.protector, 'other-tenant', 'other-service');
    // Without and with Replace Existing: for B the identifier is simply free.
    expect((await call(b.ctx, importObject, importRequest(withMaterial(exported, keyB), uid))).value).toEqual([uidField(uid)]);
    expect(material(await call(t.ctx, get, [uidField(uid)]))).toEqual(keyA);
    expect(material(await call(b.ctx, get, [uidField(uid)]))).toEqual(keyB);
    const cipherA = child(await call(t.ctx, encrypt, ecb(uid)), Tag.Data);
    const cipherB = child(await call(b.ctx, encrypt, ecb(uid)), Tag.Data);
    expect(cipherA).not.toEqual(cipherB);
    // Each tenant's identifier is taken in that tenant alone.
    expect(await reasonOf(call(t.ctx, importObject, importRequest(exported, uid)))).toBe(ResultReason.ObjectAlreadyExists);
    expect(await reasonOf(call(b.ctx, importObject, importRequest(exported, uid)))).toBe(ResultReason.ObjectAlreadyExists);
    // Replacing B's object leaves A's as it was.
    const flipped = Buffer.from(keyA.map((x) => x ^ 0xff));
    await call(b.ctx, importObject, [...importRequest(withMaterial(exported, flipped), uid), boolean(Tag.ReplaceExisting, true)]);
    expect(material(await call(b.ctx, get, [uidField(uid)]))).toEqual(flipped);
    expect(material(await call(t.ctx, get, [uidField(uid)]))).toEqual(keyA);
    expect((await t.store.get('other-tenant', uid))?.service).toBe('other-service');
    expect((await t.store.get('test-tenant', uid))?.service).toBe('test-service');
  });

  it('a Key Wrapping Data names a wrapping key of the importer\'s tenant, never the same identifier in another tenant', async () => {
    const kekUid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.WrapKey | CUM.UnwrapKey });
    const uid = await registerSymmetric(t.ctx, Alg.AES, randomBytes(32), { mask: CUM.Encrypt });
    const exported = await call(t.ctx, exportObject, [uidField(uid), wrapSpec(kekUid)]);
    const b = await makeContextFor(t.store, t.protector, 'other-tenant', 'other-service');
    // A's wrapping key does not exist for B: the same answer as for an identifier nobody holds.
    expect(await reasonOf(call(b.ctx, importObject, importRequest(exported, 'wrapped-1', KeyWrapType.NotWrapped)))).toBe(ResultReason.WrappingObjectNotFound);
    // B takes the wrapping key's identifier for a key of its own: the unwrap uses B's key and fails its integrity check.
    const kekExport = await call(t.ctx, exportObject, [uidField(kekUid)]);
    await call(b.ctx, importObject, importRequest(withMaterial(kekExport, randomBytes(32)), kekUid));
    // RFC 3394's integrity check fails under the wrong key (Cryptographic Failure).
    expect(await reasonOf(call(b.ctx, importObject, importRequest(exported, 'wrapped-2', KeyWrapType.NotWrapped)))).toBe(ResultReason.CryptographicFailure);
    expect(await b.repo.load('wrapped-2')).toBeUndefined();
    // A, holding the right key, unwraps as before.
    await call(t.ctx, importObject, importRequest(exported, 'wrapped-3', KeyWrapType.NotWrapped));
    expect((await t.repo.load('wrapped-3'))?.value).toBeDefined();
  });
});
