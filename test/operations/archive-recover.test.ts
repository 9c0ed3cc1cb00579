// Archive and Recover (KMIP 2.1 s.6.1 Archive, s.6.1 Recover) through a real store: the Archive Date is
// the storage status, the key material is off-line (Object Archived) until Recover, Locate's
// Storage Status Mask finds archived objects, and the attributes stay readable.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BlockCipherMode, CryptographicAlgorithm, ObjectType, ResultReason, StorageStatusMask,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { byteString, child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { create } from '../../src/operations/create.ts';
import { activate } from '../../src/operations/activate.ts';
import { archive } from '../../src/operations/archive.ts';
import { recover } from '../../src/operations/recover.ts';
import { get } from '../../src/operations/get.ts';
import { getAttributes } from '../../src/operations/get-attributes.ts';
import { encrypt } from '../../src/operations/encrypt.ts';
import { locate } from '../../src/operations/locate.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const uids = (s: Struct) => children(s, Tag.UniqueIdentifier).map((c) => (c as { value: string }).value);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

async function newKey(name: string): Promise<string> {
  const res = await create.run(t.ctx, P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128), integer(Tag.CryptographicUsageMask, 12),
      structure(Tag.Name, [textString(Tag.NameValue, name), enumeration(Tag.NameType, 1)]),
    ]),
  ));
  return (child(res, Tag.UniqueIdentifier) as { value: string }).value;
}

async function failsWith(h: OperationHandler, payload: Struct, r: number): Promise<void> {
  const err = await h.run(t.ctx, payload).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KmipError);
  expect((err as KmipError).reason).toBe(r);
}

const locateWith = async (mask: number | undefined) => uids(await locate.run(t.ctx, P(
  ...(mask === undefined ? [] : [integer(Tag.StorageStatusMask, mask)]), structure(Tag.Attributes, []),
)));

const encryptPayload = (uid: string) => P(UID(uid), structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC)]),
  byteString(Tag.Data, Buffer.alloc(16, 1)), byteString(Tag.IVCounterNonce, Buffer.alloc(16, 2)));

describe('Archive / Recover', () => {
  it('takes the key material off-line until Recover, keeping the attributes readable', async () => {
    const uid = await newKey('arch-1');
    await activate.run(t.ctx, P(UID(uid)));
    await encrypt.run(t.ctx, encryptPayload(uid));

    const res = await archive.run(t.ctx, P(UID(uid)));
    expect(uids(res)).toEqual([uid]);
    const archived = (await t.repo.load(uid))!;
    expect(archived.attributes.some((a) => a.tag === Tag.ArchiveDate)).toBe(true);

    await failsWith(get, P(UID(uid)), ResultReason.ObjectArchived);
    await failsWith(encrypt, encryptPayload(uid), ResultReason.ObjectArchived);
    const attrs = await getAttributes.run(t.ctx, P(UID(uid), enumeration(Tag.AttributeReference, Tag.ArchiveDate)));
    expect(child(child(attrs, Tag.Attributes) as Struct, Tag.ArchiveDate)?.type).toBe('DateTime');

    const rec = await recover.run(t.ctx, P(UID(uid)));
    expect(uids(rec)).toEqual([uid]);
    expect(t.ctx.batch.idPlaceholder).toBe(uid); // s.6.1: Recover sets the ID Placeholder
    expect((await t.repo.load(uid))!.attributes.some((a) => a.tag === Tag.ArchiveDate)).toBe(false);
    const got = await get.run(t.ctx, P(UID(uid)));
    expect(child(got, Tag.SymmetricKey)).toBeDefined();
    await encrypt.run(t.ctx, encryptPayload(uid));
  });

  it('Locate finds archived objects only under Archival Storage', async () => {
    const online = await newKey('loc-online');
    const arch = await newKey('loc-archived');
    await archive.run(t.ctx, P(UID(arch)));
    expect(await locateWith(undefined)).toEqual([online]);
    expect(await locateWith(StorageStatusMask.OnLineStorage)).toEqual([online]);
    expect(await locateWith(StorageStatusMask.ArchivalStorage)).toEqual([arch]);
    expect((await locateWith(StorageStatusMask.OnLineStorage | StorageStatusMask.ArchivalStorage)).sort()).toEqual([online, arch].sort());
    await recover.run(t.ctx, P(UID(arch)));
    expect(await locateWith(StorageStatusMask.ArchivalStorage)).toEqual([]);
  });

  it('Archive twice keeps the first Archive Date; Recover of an on-line object changes nothing', async () => {
    const uid = await newKey('twice');
    await archive.run(t.ctx, P(UID(uid)));
    const first = (await t.repo.load(uid))!.attributes.find((a) => a.tag === Tag.ArchiveDate);
    await archive.run(t.ctx, P(UID(uid)));
    expect((await t.repo.load(uid))!.attributes.find((a) => a.tag === Tag.ArchiveDate)).toEqual(first);
    await recover.run(t.ctx, P(UID(uid)));
    const rev = (await t.repo.load(uid))!.revision;
    await recover.run(t.ctx, P(UID(uid)));
    expect((await t.repo.load(uid))!.revision).toBe(rev);
  });

  it('answers a missing object as Object Not Found (Item Not Found for 1.x) and uses the ID Placeholder', async () => {
    await failsWith(archive, P(UID('nope')), ResultReason.ObjectNotFound);
    await failsWith(recover, P(UID('nope')), ResultReason.ObjectNotFound);
    await failsWith(archive, P(), ResultReason.MissingData);
    const uid = await newKey('placeholder');
    expect(uids(await archive.run(t.ctx, P()))).toEqual([uid]);
  });
});
