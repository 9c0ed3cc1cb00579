// Unique Identifiers are per tenant (issue 16 §2, DESIGN.md §3): an identifier another
// tenant holds must answer exactly as one nobody holds, in every operation that lets a
// client name an identifier — Import, Register with a Unique Identifier attribute, Locate,
// Get / Get Attributes / crypto, and the ID Placeholder and its 2.x references — over KMIP
// 1.4 and 2.1. "Exactly" is byte for byte: each response message is re-encoded with the
// header's Time Stamp zeroed and the probed identifier (and any identifier the server
// generated) replaced by a marker, and the two encodings must be equal. A tenant may also
// import an identifier another tenant holds; the two objects then live apart.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  BatchErrorContinuationOption, BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, NameType, ObjectType, Operation, ResultReason, ResultStatus,
  UniqueIdentifier,
} from '../../src/ttlv/generated/enumerations.ts';
import { encode } from '../../src/ttlv/encode.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { boolean, byteString, child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { buildRequestMessage, parseResponseMessage, type ResponseBatchItem } from '../../src/kmip/message.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import type { ClientIdentity } from '../../src/operations/types.ts';
import { operationName } from '../../src/server/executor.ts';
import { ALPHA, BETA, V14, V21, createKey, message, openWorld, type World } from './world.ts';

let w: World;
beforeAll(async () => { w = await openWorld(); });
afterAll(async () => { await w.close(); });

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * The response message with what legitimately differs between two runs normalised: the
 * header's Time Stamp, the probed identifier, and identifiers the server generated (numbered
 * in order of appearance). Everything else — result status, reason, message, payload, every
 * length field — stays as the server encoded it.
 */
function normalised(resp: TtlvItem, probe: string): Buffer {
  const generated = new Map<string, string>();
  const text = (s: string) => s.split(probe).join('<probe>').replace(UUID, (u) => {
    if (!generated.has(u)) generated.set(u, `<server-uid-${generated.size}>`);
    return generated.get(u)!;
  });
  const walk = (item: TtlvItem): TtlvItem => {
    if (item.type === 'Structure') return { ...item, value: item.value.map(walk) };
    if (item.tag === Tag.TimeStamp && item.type === 'DateTime') return { ...item, value: 0n };
    if (item.type === 'TextString') return { ...item, value: text(item.value) };
    return item;
  };
  return encode(walk(resp));
}

async function send(who: ClientIdentity, version: ProtocolVersion, items: Array<{ operation: number; payload: TtlvItem[] }>) {
  const resp = await w.rt.engine.handleMessage(message(version, items), who);
  return { resp, items: parseResponseMessage(resp).batchItems };
}

/**
 * Sends `build(held)` and `build(unused)` and expects the two responses identical after
 * normalisation. Returns the held run's batch items for further checks.
 */
async function sameAnswer(
  who: ClientIdentity, version: ProtocolVersion, held: string, unused: string,
  build: (uid: string) => Array<{ operation: number; payload: TtlvItem[] }>,
): Promise<{ held: ResponseBatchItem[]; unused: ResponseBatchItem[] }> {
  const a = await send(who, version, build(held));
  const b = await send(who, version, build(unused));
  const label = `${build(held).map((i) => operationName(i.operation)).join(', ')} v${version.major}.${version.minor}`;
  expect(normalised(a.resp, held).toString('hex'), label).toBe(normalised(b.resp, unused).toString('hex'));
  return { held: a.items, unused: b.items };
}

const uidItem = (uid: string) => textString(Tag.UniqueIdentifier, uid);
const aesAttrs = (): TtlvItem[] => [
  enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  integer(Tag.CryptographicLength, 256),
  integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
];
const symmetricKey = (material: Buffer): Struct => structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
  enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
  structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, material)]),
  enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  integer(Tag.CryptographicLength, 256),
])]);
/** Import (2.1 s.6.1.24) of an AES key under `uid`. */
const importPayload = (uid: string, material: Buffer, replace?: boolean): TtlvItem[] => [
  uidItem(uid),
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
  ...(replace === undefined ? [] : [boolean(Tag.ReplaceExisting, replace)]),
  structure(Tag.Attributes, aesAttrs()),
  symmetricKey(material),
];
/** 1.x attribute (1.4 s.2.1.1). */
const attr14 = (name: string, value: TtlvItem): Struct =>
  structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem]);

const materialOf = (item: ResponseBatchItem): Buffer => {
  expect(item.resultStatus, item.resultMessage).toBe(ResultStatus.Success);
  const kb = child(child(item.payload!, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
  return (child(child(kb, Tag.KeyValue) as Struct, Tag.KeyMaterial) as { value: Buffer }).value;
};
const uidsIn = (item: ResponseBatchItem): string[] =>
  item.payload!.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value as string);

/** Alpha's key as alpha's admin reads it: material and attributes, to prove nothing of it changed. */
async function alphaView(uid: string): Promise<string> {
  const { items } = await send(w.who.alphaAdmin, V21, [
    { operation: Operation.Get, payload: [uidItem(uid)] },
    { operation: Operation.GetAttributes, payload: [uidItem(uid)] },
  ]);
  for (const i of items) expect(i.resultStatus, i.resultMessage).toBe(ResultStatus.Success);
  return JSON.stringify(items.map((i) => i.payload), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

describe('Unique Identifiers are per tenant: a uid another tenant holds answers as one nobody holds', () => {
  it('Import: Success for both, byte for byte, with and without Replace Existing (2.1); Operation Not Supported alike (1.4)', async () => {
    for (const replace of [undefined, false, true]) {
      const held = await createKey(w, w.who.alphaPayApp, `alpha-import-victim-${String(replace)}`, 'grp-alpha');
      const before = await alphaView(held);
      const betaMaterial = randomBytes(32);
      const r = await sameAnswer(w.who.betaAdmin, V21, held, randomUUID(), (uid) => [{ operation: Operation.Import, payload: importPayload(uid, betaMaterial, replace) }]);
      expect(r.held[0]!.resultStatus, r.held[0]!.resultMessage).toBe(ResultStatus.Success);
      expect(uidsIn(r.held[0]!)).toEqual([held]);
      // Beta now holds its own object under alpha's identifier; alpha's is untouched.
      expect(await alphaView(held)).toBe(before);
      const betaGet = (await send(w.who.betaAdmin, V21, [{ operation: Operation.Get, payload: [uidItem(held)] }])).items[0]!;
      expect(materialOf(betaGet)).toEqual(betaMaterial);
      expect((await w.rt.store.get(BETA.tenant, held))?.service).toBe(BETA.web);
      expect((await w.rt.store.get(ALPHA.tenant, held))?.service).toBe(ALPHA.pay);
    }
    const held = await createKey(w, w.who.alphaPayApp, 'alpha-import-victim-14', 'grp-alpha');
    const r14 = await sameAnswer(w.who.betaAdmin, V14, held, randomUUID(), (uid) => [{ operation: Operation.Import, payload: importPayload(uid, randomBytes(32)) }]);
    expect(r14.held[0]!.resultReason).toBe(ResultReason.OperationNotSupported);
    expect(await w.rt.store.get(BETA.tenant, held)).toBeUndefined();
  });

  it('Import: the tenant that holds the uid is refused without Replace Existing; the other tenant\'s copy then lives apart', async () => {
    const uid = randomUUID();
    const alphaMaterial = randomBytes(32);
    const betaMaterial = randomBytes(32);
    const imp = async (who: ClientIdentity, material: Buffer, replace?: boolean) =>
      (await send(who, V21, [{ operation: Operation.Import, payload: importPayload(uid, material, replace) }])).items[0]!;
    expect((await imp(w.who.alphaAdmin, alphaMaterial)).resultStatus).toBe(ResultStatus.Success);
    expect((await imp(w.who.betaAdmin, betaMaterial)).resultStatus).toBe(ResultStatus.Success);
    // Each tenant's own copy is the one that exists for it.
    expect((await imp(w.who.alphaAdmin, randomBytes(32))).resultReason).toBe(ResultReason.ObjectAlreadyExists);
    expect((await imp(w.who.betaAdmin, randomBytes(32))).resultReason).toBe(ResultReason.ObjectAlreadyExists);
    const get = async (who: ClientIdentity) => materialOf((await send(who, V21, [{ operation: Operation.Get, payload: [uidItem(uid)] }])).items[0]!);
    expect(await get(w.who.alphaAdmin)).toEqual(alphaMaterial);
    expect(await get(w.who.betaAdmin)).toEqual(betaMaterial);
    // Replacing, activating, encrypting and destroying in one tenant leave the other's object as it was.
    const replaced = randomBytes(32);
    expect((await imp(w.who.betaAdmin, replaced, true)).resultStatus).toBe(ResultStatus.Success);
    expect(await get(w.who.betaAdmin)).toEqual(replaced);
    expect(await get(w.who.alphaAdmin)).toEqual(alphaMaterial);
    const alphaBefore = await alphaView(uid);
    const enc = (who: ClientIdentity) => send(who, V21, [{ operation: Operation.Encrypt, payload: [
      uidItem(uid), structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)]), byteString(Tag.Data, Buffer.alloc(16)),
    ] }]);
    expect((await send(w.who.betaAdmin, V21, [{ operation: Operation.Activate, payload: [uidItem(uid)] }])).items[0]!.resultStatus).toBe(ResultStatus.Success);
    const betaCipher = (await enc(w.who.betaAdmin)).items[0]!;
    expect(betaCipher.resultStatus, betaCipher.resultMessage).toBe(ResultStatus.Success);
    // Alpha's copy is still Pre-Active: the Activate reached beta's object only.
    expect((await enc(w.who.alphaAdmin)).items[0]!.resultReason).toBe(ResultReason.WrongKeyLifecycleState);
    expect((await send(w.who.betaAdmin, V21, [{ operation: Operation.Revoke, payload: [uidItem(uid), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, 1)])] }])).items[0]!.resultStatus).toBe(ResultStatus.Success);
    expect((await send(w.who.betaAdmin, V21, [{ operation: Operation.Destroy, payload: [uidItem(uid)] }])).items[0]!.resultStatus).toBe(ResultStatus.Success);
    expect(await alphaView(uid)).toBe(alphaBefore);
    // Locate finds alpha's copy for alpha only, once (beta's is destroyed now, which Locate leaves out).
    for (const [who, tenant] of [[w.who.alphaAdmin, ALPHA.tenant], [w.who.betaAdmin, BETA.tenant]] as const) {
      const loc = (await send(who, V21, [{ operation: Operation.Locate, payload: [structure(Tag.Attributes, [])] }])).items[0]!;
      expect(uidsIn(loc).filter((u) => u === uid), tenant).toHaveLength(tenant === ALPHA.tenant ? 1 : 0);
    }
  });

  it('Register with a Unique Identifier attribute answers the same (2.1 Attributes, 1.4 Template-Attribute) and never touches the holder', async () => {
    const held = await createKey(w, w.who.alphaPayApp, 'alpha-register-victim', 'grp-alpha');
    const before = await alphaView(held);
    const material = randomBytes(32);
    const r21 = await sameAnswer(w.who.betaApp, V21, held, randomUUID(), (uid) => [{ operation: Operation.Register, payload: [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [...aesAttrs(), uidItem(uid)]), symmetricKey(material),
    ] }]);
    const r14 = await sameAnswer(w.who.betaApp, V14, held, randomUUID(), (uid) => [{ operation: Operation.Register, payload: [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        attr14('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
        attr14('Cryptographic Length', integer(0, 256)),
        attr14('Cryptographic Usage Mask', integer(0, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
        attr14('Unique Identifier', textString(0, uid)),
      ]),
      symmetricKey(material),
    ] }]);
    // The identifier is the server's to set (2.1 s.4.58): refused, not obeyed (1.x has no Attribute Read Only).
    expect(r21.held[0]!.resultReason).toBe(ResultReason.AttributeReadOnly);
    expect(r14.held[0]!.resultReason).toBe(ResultReason.PermissionDenied);
    expect(await alphaView(held)).toBe(before);
    expect(await w.rt.store.get(BETA.tenant, held)).toBeUndefined();
  });

  it('Locate by a Unique Identifier another tenant holds answers as for one nobody holds, and sets the ID Placeholder alike', async () => {
    const held = await createKey(w, w.who.alphaPayApp, 'alpha-locate-victim', 'grp-alpha');
    for (const version of [V21, V14]) {
      const filter = (uid: string) => version.major >= 2
        ? [structure(Tag.Attributes, [uidItem(uid)])]
        : [attr14('Unique Identifier', textString(0, uid))];
      const r = await sameAnswer(w.who.betaApp, version, held, randomUUID(), (uid) => [
        { operation: Operation.Locate, payload: filter(uid) },
        // Omitted Unique Identifier: the ID Placeholder Locate left (s.6.1: set only for exactly one match).
        { operation: Operation.GetAttributes, payload: [] },
      ]);
      expect(r.held[0]!.resultStatus, r.held[0]!.resultMessage).toBe(ResultStatus.Success);
      expect(uidsIn(r.held[0]!)).toEqual([]);
      expect(r.held[1]!.resultStatus).toBe(ResultStatus.OperationFailed);
    }
    // By the foreign object's Name as well.
    const byName = (name: string) => [structure(Tag.Attributes, [structure(Tag.Name, [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)])])];
    await sameAnswer(w.who.betaApp, V21, 'alpha-locate-victim', 'nobody-has-this-name', (name) => [
      { operation: Operation.Locate, payload: byName(name) },
      { operation: Operation.Get, payload: [] },
    ]);
  });

  it('Get, Get Attributes, Get Attribute List and Encrypt of a foreign uid: the whole response, byte for byte, as for an unused one (2.1 and 1.4)', async () => {
    const held = await createKey(w, w.who.alphaPayApp, 'alpha-get-victim', 'grp-alpha');
    const ops: Array<[number, (uid: string) => TtlvItem[]]> = [
      [Operation.Get, (uid) => [uidItem(uid)]],
      [Operation.GetAttributes, (uid) => [uidItem(uid)]],
      [Operation.GetAttributeList, (uid) => [uidItem(uid)]],
      [Operation.Encrypt, (uid) => [uidItem(uid), structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)]), byteString(Tag.Data, Buffer.alloc(16))]],
    ];
    for (const version of [V21, V14]) {
      for (const [op, payload] of ops) {
        const r = await sameAnswer(w.who.betaApp, version, held, randomUUID(), (uid) => [{ operation: op, payload: payload(uid) }]);
        expect(r.held[0]!.resultStatus).toBe(ResultStatus.OperationFailed);
        expect(r.held[0]!.resultReason).toBe(version.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
      }
      // Several items in one batch: the foreign identifier never becomes the ID Placeholder.
      await sameAnswer(w.who.betaApp, version, held, randomUUID(), (uid) => [
        { operation: Operation.Get, payload: [uidItem(uid)] },
        { operation: Operation.GetAttributes, payload: [] },
        { operation: Operation.Activate, payload: [] },
      ]);
    }
  });

  it('Undo of a batch that imported a uid another tenant holds removes the importer\'s object only, answering as for an unused uid', async () => {
    const held = await createKey(w, w.who.alphaPayApp, 'alpha-undo-victim', 'grp-alpha');
    const before = await alphaView(held);
    const undoBatch = async (uid: string) => {
      const req = buildRequestMessage({ protocolVersion: V21, batchErrorContinuationOption: BatchErrorContinuationOption.Undo }, [
        { operation: Operation.Import, payload: structure(Tag.RequestPayload, importPayload(uid, randomBytes(32))) },
        { operation: Operation.Get, payload: structure(Tag.RequestPayload, [uidItem(randomUUID())]) },
      ]);
      return w.rt.engine.handleMessage(req, w.who.betaAdmin);
    };
    const unused = randomUUID();
    const a = await undoBatch(held);
    const b = await undoBatch(unused);
    expect(normalised(a, held).toString('hex')).toBe(normalised(b, unused).toString('hex'));
    expect(parseResponseMessage(a).batchItems[0]!.resultStatus).toBe(ResultStatus.OperationUndone);
    expect(await w.rt.store.get(BETA.tenant, held)).toBeUndefined();
    expect(await w.rt.store.get(BETA.tenant, unused)).toBeUndefined();
    expect(await alphaView(held)).toBe(before);
  });

  it('ID Placeholder and 2.x references after Import of a uid another tenant holds resolve to the importer\'s own object', async () => {
    const material = randomBytes(32);
    const build = (uid: string) => [
      { operation: Operation.Import, payload: importPayload(uid, material) },
      // s.11.58: the identifier the Import of this request produced; s.4.58: the first identifier returned.
      { operation: Operation.Get, payload: [{ tag: Tag.UniqueIdentifier, type: 'Enumeration', value: UniqueIdentifier.Import } as TtlvItem] },
      { operation: Operation.GetAttributes, payload: [{ tag: Tag.UniqueIdentifier, type: 'Integer', value: 0 } as TtlvItem] },
      { operation: Operation.Activate, payload: [{ tag: Tag.UniqueIdentifier, type: 'Enumeration', value: UniqueIdentifier.Import } as TtlvItem] },
      { operation: Operation.Get, payload: [] },
    ];
    const held = await createKey(w, w.who.alphaPayApp, 'alpha-placeholder-victim', 'grp-alpha');
    const before = await alphaView(held);
    const r = await sameAnswer(w.who.betaAdmin, V21, held, randomUUID(), build);
    expect(materialOf(r.held[1]!)).toEqual(material);
    expect(r.held[2]!.resultStatus).toBe(ResultStatus.Success);
    expect(r.held[3]!.resultStatus).toBe(ResultStatus.Success);
    // Import leaves the ID Placeholder alone (s.6.1 lists the operations that set it).
    expect(r.held[4]!.resultReason).toBe(ResultReason.MissingData);
    expect(await alphaView(held)).toBe(before);
  });
});
