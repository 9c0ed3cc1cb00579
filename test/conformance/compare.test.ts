import { describe, expect, it } from 'vitest';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, PaddingMethod, ResultReason, ResultStatus, State,
} from '../../src/ttlv/generated/enumerations.ts';
import { byteString, dateTime, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import { compareResponse, formatMismatch, RandomnessTracker, type RandomnessFlags } from '../../conformance/compare.ts';
import { Bindings } from '../../conformance/placeholders.ts';

const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);
const bindings = (nowMs = T0 + 2000) => new Bindings({ baseMs: T0, clock: () => nowMs });
const ph = <I extends TtlvItem>(item: I, raw: string): I => ({ ...item, placeholder: raw });
const sec = (ms: number) => BigInt(Math.floor(ms / 1000));

function header(extra: TtlvItem[] = []) {
  return structure(Tag.ResponseHeader, [
    structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 2), integer(Tag.ProtocolVersionMinor, 1)]),
    ...extra,
    integer(Tag.BatchCount, 1),
  ]);
}
function response(items: TtlvItem[], headerExtra: TtlvItem[] = []) {
  return structure(Tag.ResponseMessage, [header(headerExtra), ...items]);
}
function ok(op: number, payload: TtlvItem[], extra: TtlvItem[] = []) {
  return structure(Tag.BatchItem, [
    enumeration(Tag.Operation, op),
    enumeration(Tag.ResultStatus, ResultStatus.Success),
    ...extra,
    structure(Tag.ResponsePayload, payload),
  ]);
}
function failed(op: number, reason: number, message = 'text') {
  return structure(Tag.BatchItem, [
    enumeration(Tag.Operation, op),
    enumeration(Tag.ResultStatus, ResultStatus.OperationFailed),
    enumeration(Tag.ResultReason, reason),
    textString(Tag.ResultMessage, message),
  ]);
}
const cmp = (e: TtlvItem, a: TtlvItem, b = bindings(), flags: RandomnessFlags[] = []) => {
  const m = compareResponse(e, a, b, flags);
  return m && formatMismatch(m);
};
const attrs = (...c: TtlvItem[]) => structure(Tag.Attributes, c);
const getAttrs = (uid: TtlvItem, ...c: TtlvItem[]) => response([ok(Operation.GetAttributes, [uid, attrs(...c)])]);
const uid = (v: string) => textString(Tag.UniqueIdentifier, v);

describe('comparator: permitted variations', () => {
  it('ignores TimeStamp, ServerCorrelationValue and ResultMessage', () => {
    const e = response([failed(Operation.Get, ResultReason.ItemNotFound, 'expected text')],
      [dateTime(Tag.TimeStamp, 1n), textString(Tag.ServerCorrelationValue, 'A5E8')]);
    const a = response([failed(Operation.Get, ResultReason.ItemNotFound, 'our own words')], [dateTime(Tag.TimeStamp, sec(T0))]);
    expect(cmp(e, a)).toBeUndefined();
  });

  it('tolerates a ClientCorrelationValue the vector does not show, but compares one it does', () => {
    const e = response([ok(Operation.Activate, [uid('u')])]);
    const a = response([ok(Operation.Activate, [uid('u')])], [textString(Tag.ClientCorrelationValue, 'step=1')]);
    expect(cmp(e, a)).toBeUndefined();
    const e2 = response([ok(Operation.Activate, [uid('u')])], [textString(Tag.ClientCorrelationValue, 'step=0')]);
    expect(cmp(e2, a)).toBe('ResponseHeader/ClientCorrelationValue: expected "step=0", got "step=1"');
  });

  it('tolerates extra attributes and another order in Get Attributes', () => {
    const e = getAttrs(uid('k'), enumeration(Tag.State, State.Active), enumeration(Tag.ObjectType, ObjectType.SymmetricKey));
    const a = getAttrs(uid('k'), enumeration(Tag.ObjectType, ObjectType.SymmetricKey), integer(Tag.CryptographicLength, 256),
      enumeration(Tag.State, State.Active));
    expect(cmp(e, a)).toBeUndefined();
  });

  it('takes a 1.x Attribute Index 0 for the omitted index (1.4 s.2.1.1), but compares any other index', () => {
    const v1 = (index: number | undefined) => structure(Tag.Attribute, [
      textString(Tag.AttributeName, 'Name'), ...(index === undefined ? [] : [integer(Tag.AttributeIndex, index)]),
      structure(Tag.AttributeValue, [textString(Tag.NameValue, 'n'), enumeration(Tag.NameType, 1)]),
    ]);
    const get = (a: TtlvItem) => response([ok(Operation.GetAttributes, [uid('k'), a])]);
    expect(cmp(get(v1(undefined)), get(v1(0)))).toBeUndefined();
    expect(cmp(get(v1(undefined)), get(v1(1)))).toMatch(/AttributeIndex/);
    expect(cmp(get(v1(0)), get(v1(undefined)))).toMatch(/AttributeIndex|missing/);
  });

  it('tolerates a longer Query answer in any order', () => {
    const e = response([ok(Operation.Query, [enumeration(Tag.Operation, Operation.Get), enumeration(Tag.Operation, Operation.Query)])]);
    const a = response([ok(Operation.Query, [enumeration(Tag.Operation, Operation.Query), enumeration(Tag.Operation, Operation.Create),
      enumeration(Tag.Operation, Operation.Get)])]);
    expect(cmp(e, a)).toBeUndefined();
  });

  it('tolerates LocatedItems on either side', () => {
    const e = response([ok(Operation.Locate, [integer(Tag.LocatedItems, 1), uid('a')])]);
    const a = response([ok(Operation.Locate, [uid('a')])]);
    expect(cmp(e, a)).toBeUndefined();
    expect(cmp(a, response([ok(Operation.Locate, [integer(Tag.LocatedItems, 7), uid('a')])]))).toBeUndefined();
  });

  it('accepts server times inside the $NOW window and rejects those outside', () => {
    const e = getAttrs(uid('k'), ph(dateTime(Tag.InitialDate, 0n), '$NOW'), ph(dateTime(Tag.ActivationDate, 0n), '$NOW-3600'));
    const good = getAttrs(uid('k'), dateTime(Tag.InitialDate, sec(T0) + 1n), dateTime(Tag.ActivationDate, sec(T0) - 3600n));
    expect(cmp(e, good)).toBeUndefined();
    const late = getAttrs(uid('k'), dateTime(Tag.InitialDate, sec(T0) + 1n), dateTime(Tag.ActivationDate, sec(T0)));
    expect(cmp(e, late)).toMatch(/^BatchItem\[0\]\/ResponsePayload\/Attributes\/ActivationDate: expected \$NOW-3600 \(between/);
  });

  it('does not compare key material of a server-generated key, but still its length', () => {
    const keyBlock = (hex: string) => response([ok(Operation.Get, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uid('k'),
      structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, Buffer.from(hex, 'hex'))])])])])]);
    const flags = [{ keyMaterial: true, cryptoOutput: false, decryptedData: false }];
    expect(cmp(keyBlock('00112233'), keyBlock('deadbeef'), bindings(), flags)).toBeUndefined();
    expect(cmp(keyBlock('00112233'), keyBlock('deadbeefff'), bindings(), flags)).toMatch(/KeyMaterial: expected 4 bytes, got 5/);
    // A registered key must come back exactly.
    expect(cmp(keyBlock('00112233'), keyBlock('deadbeef'))).toBe(
      'BatchItem[0]/ResponsePayload/SymmetricKey/KeyBlock/KeyValue/KeyMaterial: expected 00112233, got deadbeef');
  });

  it('never compares a CorrelationValue value (server-chosen)', () => {
    const e = response([ok(Operation.Encrypt, [uid('k'), byteString(Tag.CorrelationValue, Buffer.from('01', 'hex'))])]);
    const a = response([ok(Operation.Encrypt, [uid('k'), byteString(Tag.CorrelationValue, Buffer.from('02', 'hex'))])]);
    expect(cmp(e, a)).toBeUndefined();
  });
});

describe('comparator: mismatches', () => {
  it('reports a wrong attribute value as a path', () => {
    const e = getAttrs(uid('k'), enumeration(Tag.State, State.Active));
    const a = getAttrs(uid('k'), enumeration(Tag.State, State.PreActive));
    expect(cmp(e, a)).toBe('BatchItem[0]/ResponsePayload/Attributes/State: expected Active, got PreActive');
  });

  it('reports a wrong ResultStatus with the server reason and message', () => {
    const e = response([ok(Operation.Activate, [uid('k')])]);
    const a = response([failed(Operation.Activate, ResultReason.WrongKeyLifecycleState, 'not pre-active')]);
    expect(cmp(e, a)).toBe('BatchItem[0]/ResultStatus: expected Success, got OperationFailed (WrongKeyLifecycleState: not pre-active)');
  });

  it('reports a wrong ResultReason even when the status agrees', () => {
    const e = response([failed(Operation.Get, ResultReason.ItemNotFound)]);
    const a = response([failed(Operation.Get, ResultReason.PermissionDenied)]);
    expect(cmp(e, a)).toMatch(/^BatchItem\[0\]\/ResultReason: expected ItemNotFound, got PermissionDenied/);
  });

  it('reports a missing attribute, a missing item, an unexpected item and a type change', () => {
    const e = getAttrs(uid('k'), enumeration(Tag.State, State.Active), integer(Tag.CryptographicLength, 128));
    expect(cmp(e, getAttrs(uid('k'), enumeration(Tag.State, State.Active)))).toBe(
      'BatchItem[0]/ResponsePayload/Attributes/CryptographicLength: missing');
    const create = (p: TtlvItem[]) => response([ok(Operation.Create, p)]);
    const ot = enumeration(Tag.ObjectType, ObjectType.SymmetricKey);
    expect(cmp(create([ot, uid('k')]), create([uid('k')]))).toBe('BatchItem[0]/ResponsePayload/ObjectType: missing (got UniqueIdentifier="k" instead)');
    expect(cmp(create([uid('k')]), create([ot, uid('k')]))).toMatch(/^BatchItem\[0\]\/ResponsePayload\/ObjectType: unexpected ObjectType=SymmetricKey/);
    expect(cmp(create([uid('k')]), create([uid('k'), ot]))).toMatch(/ResponsePayload\/ObjectType: unexpected ObjectType=SymmetricKey$/);
    expect(cmp(create([uid('k')]), create([integer(Tag.UniqueIdentifier, 1)]))).toBe(
      'BatchItem[0]/ResponsePayload/UniqueIdentifier: expected a TextString, got a Integer (1)');
  });

  it('reports masks by name and batch-count differences', () => {
    const e = getAttrs(uid('k'), integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt));
    const a = getAttrs(uid('k'), integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt));
    expect(cmp(e, a)).toMatch(/CryptographicUsageMask: expected .*Encrypt.*Decrypt.*, got Encrypt \(4\)/);
    const two = response([ok(Operation.Activate, [uid('a')]), ok(Operation.Activate, [uid('b')])]);
    expect(cmp(two, response([ok(Operation.Activate, [uid('a')])]))).toMatch(/^BatchItem\[1\]: missing/);
    expect(cmp(response([ok(Operation.Activate, [uid('a')])]), two)).toMatch(/^BatchItem\[1\]: unexpected extra batch item/);
  });

  it('indexes repeated siblings in the path', () => {
    const e = response([ok(Operation.Locate, [uid('a'), uid('b')])]);
    const a = response([ok(Operation.Locate, [uid('a'), uid('c')])]);
    expect(cmp(e, a)).toBe('BatchItem[0]/ResponsePayload/UniqueIdentifier[1]: expected "b", got "c"');
  });

  it('compares ciphertext of a registered key with a client IV', () => {
    const enc = (hex: string) => response([ok(Operation.Encrypt, [uid('k'), byteString(Tag.Data, Buffer.from(hex, 'hex'))])]);
    expect(cmp(enc('aa'), enc('bb'))).toBe('BatchItem[0]/ResponsePayload/Data: expected aa, got bb');
  });
});

describe('comparator: placeholder binding', () => {
  it('binds an unbound variable, then holds the server to it', () => {
    const b = bindings();
    const e = response([ok(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ph(textString(Tag.UniqueIdentifier, ''), '$UNIQUE_IDENTIFIER_0')])]);
    const a = response([ok(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uid('srv-1')])]);
    expect(cmp(e, a, b)).toBeUndefined();
    expect(b.get('UNIQUE_IDENTIFIER_0')).toMatchObject({ type: 'TextString', value: 'srv-1' });
    const e2 = response([ok(Operation.Activate, [ph(textString(Tag.UniqueIdentifier, ''), '$UNIQUE_IDENTIFIER_0')])]);
    expect(cmp(e2, response([ok(Operation.Activate, [uid('srv-1')])]), b)).toBeUndefined();
    expect(cmp(e2, response([ok(Operation.Activate, [uid('srv-2')])]), b)).toBe(
      'BatchItem[0]/ResponsePayload/UniqueIdentifier: expected $UNIQUE_IDENTIFIER_0 = "srv-1", got "srv-2"');
  });

  it('undoes a tentative binding when a set candidate fails', () => {
    const b = bindings();
    // Two Name attributes; the first actual one fails on NameType, so $X must bind to the second only.
    const name = (v: TtlvItem, t: number) => structure(Tag.Name, [v, enumeration(Tag.NameType, t)]);
    const e = getAttrs(uid('k'), name(ph(textString(Tag.NameValue, ''), '$X'), 1));
    const a = getAttrs(uid('k'), name(textString(Tag.NameValue, 'wrong'), 2), name(textString(Tag.NameValue, 'right'), 1));
    expect(cmp(e, a, b)).toBeUndefined();
    expect(b.get('X')).toMatchObject({ value: 'right' });
  });
});

describe('RandomnessTracker', () => {
  const req = (op: number, payload: TtlvItem[]) =>
    structure(Tag.RequestMessage, [structure(Tag.RequestHeader, [integer(Tag.BatchCount, 1)]),
      structure(Tag.BatchItem, [enumeration(Tag.Operation, op), structure(Tag.RequestPayload, payload)])]);

  it('marks objects from Create as server-generated and their Encrypt output as random', () => {
    const t = new RandomnessTracker();
    const create = req(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey)]);
    const created = response([ok(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uid('gen')])]);
    expect(t.flagsFor(create, created)).toEqual([{ keyMaterial: false, cryptoOutput: false, decryptedData: false }]);
    t.note(create, created);
    const enc = req(Operation.Encrypt, [uid('gen'), byteString(Tag.Data, Buffer.alloc(16))]);
    expect(t.flagsFor(enc, response([ok(Operation.Encrypt, [uid('gen')])]))).toEqual([{ keyMaterial: true, cryptoOutput: true, decryptedData: false }]);
    // The ID placeholder: no UID in the request means the last object.
    expect(t.flagsFor(req(Operation.Get, []), undefined)[0]!.keyMaterial).toBe(true);
  });

  it('treats a registered key as deterministic unless the nonce or the padding is random', () => {
    const t = new RandomnessTracker();
    const reg = req(Operation.Register, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      attrs(enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES))]);
    t.note(reg, response([ok(Operation.Register, [uid('reg')])]));
    const enc = req(Operation.Encrypt, [uid('reg'), byteString(Tag.Data, Buffer.alloc(16))]);
    expect(t.flagsFor(enc, response([ok(Operation.Encrypt, [uid('reg')])]))).toEqual([{ keyMaterial: false, cryptoOutput: false, decryptedData: false }]);
    const serverIv = response([ok(Operation.Encrypt, [uid('reg'), byteString(Tag.IVCounterNonce, Buffer.alloc(16))])]);
    expect(t.flagsFor(enc, serverIv)[0]!.cryptoOutput).toBe(true);
    const oaep = req(Operation.Encrypt, [uid('reg'), structure(Tag.CryptographicParameters, [enumeration(Tag.PaddingMethod, PaddingMethod.OAEP)])]);
    expect(t.flagsFor(oaep, undefined)[0]!.cryptoOutput).toBe(true);
    // Decrypt output is never random.
    expect(t.flagsFor(req(Operation.Decrypt, [uid('reg')]), undefined)[0]!.cryptoOutput).toBe(false);
    expect(t.flagsFor(req(Operation.Decrypt, [uid('reg'), byteString(Tag.Data, Buffer.alloc(16, 9))]), undefined)[0]!.decryptedData).toBe(false);
  });

  // CS-BC-M-2 / CS-BC-M-3: Create AES, then Decrypt the reference server's literal ciphertext.
  describe('Decrypt under a key this server generated', () => {
    const plain = Buffer.from('01020304050607080910111213141516', 'hex');
    const theirs = Buffer.from('fd912d102dbb482f6f6e91bd57119095', 'hex');
    const ours = Buffer.from('9f4a6bfb8435760e87ed0ed93069935c', 'hex');
    const decrypted = (data: Buffer) => response([ok(Operation.Decrypt, [uid('gen'), byteString(Tag.Data, data)])]);
    const scenario = () => {
      const t = new RandomnessTracker();
      const create = req(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey)]);
      t.note(create, response([ok(Operation.Create, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uid('gen')])]));
      const enc = req(Operation.Encrypt, [uid('gen'), byteString(Tag.Data, plain)]);
      t.note(enc, response([ok(Operation.Encrypt, [uid('gen'), byteString(Tag.Data, ours)])]));
      return t;
    };

    it('does not compare the plaintext of a foreign ciphertext, but still its length', () => {
      const t = scenario();
      const dec = req(Operation.Decrypt, [uid('gen'), byteString(Tag.Data, theirs)]);
      const garbage = Buffer.from('c9adaee190a01fc7b8b47ca2c44fc290', 'hex');
      const flags = t.flagsFor(dec, decrypted(garbage));
      expect(flags).toEqual([{ keyMaterial: true, cryptoOutput: false, decryptedData: true }]);
      expect(cmp(decrypted(plain), decrypted(garbage), bindings(), flags)).toBeUndefined();
      expect(cmp(decrypted(plain), decrypted(Buffer.alloc(15)), bindings(), flags)).toMatch(/Data: expected 16 bytes, got 15/);
    });

    it('still compares the plaintext when the ciphertext is this server\'s own', () => {
      const t = scenario();
      const dec = req(Operation.Decrypt, [uid('gen'), byteString(Tag.Data, ours)]);
      const flags = t.flagsFor(dec, decrypted(Buffer.alloc(16)));
      expect(flags[0]!.decryptedData).toBe(false);
      expect(cmp(decrypted(plain), decrypted(Buffer.alloc(16)), bindings(), flags)).toBe(
        'BatchItem[0]/ResponsePayload/Data: expected 01020304050607080910111213141516, got 00000000000000000000000000000000');
    });

    it('only relaxes Data, and only in Decrypt answers', () => {
      const t = scenario();
      const dec = req(Operation.Decrypt, [uid('gen'), byteString(Tag.Data, theirs)]);
      const withUid = (u: string) => response([ok(Operation.Decrypt, [uid(u), byteString(Tag.Data, plain)])]);
      const flags = t.flagsFor(dec, withUid('gen'));
      expect(cmp(withUid('gen'), withUid('other'), bindings(), flags)).toBe('BatchItem[0]/ResponsePayload/UniqueIdentifier: expected "gen", got "other"');
      // A Hash of the same bytes under the same tracker is still compared.
      const hashed = (d: Buffer) => response([ok(Operation.Hash, [byteString(Tag.Data, d)])]);
      const hflags = t.flagsFor(req(Operation.Hash, [byteString(Tag.Data, theirs)]), hashed(plain));
      expect(cmp(hashed(plain), hashed(Buffer.alloc(16)), bindings(), hflags)).toMatch(/Data: expected 0102/);
    });
  });
});

describe('comparator: server self-description (rule 4b)', () => {
  it('does not compare the content of the Random Number Generator attribute, 2.x and 1.x forms', () => {
    const rng = (alg: number) => structure(Tag.RandomNumberGenerator, [enumeration(Tag.RNGAlgorithm, alg)]);
    expect(cmp(getAttrs(uid('k'), rng(2)), getAttrs(uid('k'), rng(3)))).toBeUndefined();
    expect(cmp(getAttrs(uid('k'), rng(2)), getAttrs(uid('k')))).toMatch(/RandomNumberGenerator: missing/);
    const attr1x = (name: string, alg: number) => structure(Tag.Attribute, [textString(Tag.AttributeName, name),
      structure(Tag.AttributeValue, [enumeration(Tag.RNGAlgorithm, alg)])]);
    const r1x = (...a: TtlvItem[]) => response([ok(Operation.GetAttributes, [uid('k'), ...a])]);
    expect(cmp(r1x(attr1x('Random Number Generator', 2)), r1x(attr1x('Random Number Generator', 3)))).toBeUndefined();
    expect(cmp(r1x(attr1x('Random Number Generator', 2)), r1x(attr1x('Lease Time', 2)))).toMatch(/Attribute: /);
  });

  it('does not compare Vendor Identification in a Query answer, but requires it', () => {
    const q = (...p: TtlvItem[]) => response([ok(Operation.Query, p)]);
    const vendor = (v: string) => textString(Tag.VendorIdentification, v);
    expect(cmp(q(vendor('server-vendor.com')), q(vendor('OpenKCM')))).toBeUndefined();
    expect(cmp(q(vendor('server-vendor.com')), q())).toMatch(/VendorIdentification: missing/);
    // Outside Query a Vendor Identification is ordinary data (e.g. a 2.x vendor attribute).
    const attr = (v: string) => getAttrs(uid('k'), structure(Tag.Attribute, [vendor(v), textString(Tag.AttributeName, 'ID')]));
    expect(cmp(attr('x'), attr('y'))).toMatch(/VendorIdentification: expected "x", got "y"/);
  });
});
