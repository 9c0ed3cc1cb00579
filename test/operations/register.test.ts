import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { register } from '../../src/operations/register.ts';
import { get } from '../../src/operations/get.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { bigInteger, boolean, byteString, child, dateTime, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CertificateType, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, DigitalSignatureAlgorithm, KeyFormatType as KFT,
  ObjectType, RecommendedCurve, ResultReason, SecretDataType, State, UniqueIdentifier,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { VECTORS } from '../helpers/vectors.ts';

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

const reasonOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; } catch (e) { if (e instanceof KmipError) return e.reason; throw e; }
  return undefined;
};
const attr = (o: { attributes: TtlvItem[] }, tag: number) => o.attributes.find((a) => a.tag === tag);
const uidOf = (r: Struct) => (child(r, Tag.UniqueIdentifier) as { value: string }).value;
const keyBlock = (format: number, material: TtlvItem, alg?: number, len?: number): Struct => structure(Tag.KeyBlock, [
  enumeration(Tag.KeyFormatType, format), structure(Tag.KeyValue, [material]),
  ...(alg !== undefined ? [enumeration(Tag.CryptographicAlgorithm, alg)] : []),
  ...(len !== undefined ? [integer(Tag.CryptographicLength, len)] : []),
]);
const req = (objectType: number, attrs: TtlvItem[], object: TtlvItem): Struct =>
  structure(Tag.RequestPayload, [enumeration(Tag.ObjectType, objectType), structure(Tag.Attributes, attrs), object]);
const getReq = (uid: string, format?: number) => structure(Tag.RequestPayload, [
  textString(Tag.UniqueIdentifier, uid), ...(format !== undefined ? [enumeration(Tag.KeyFormatType, format)] : []),
]);
const materialOf = (getResponse: Struct, objTag: number): TtlvItem =>
  child(child(child(child(getResponse, objTag) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct, Tag.KeyMaterial)!;

describe('Register keys', () => {
  it('registers a Transparent symmetric key with a past Activation Date: Active, returned as registered (BL-M-3)', async () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const r = await register.run(t.ctx, req(ObjectType.SymmetricKey,
      [integer(Tag.CryptographicUsageMask, CUM.Decrypt), dateTime(Tag.ActivationDate, new Date('2000-02-01T00:00:00+10:00'))],
      structure(Tag.SymmetricKey, [keyBlock(KFT.TransparentSymmetricKey, structure(Tag.KeyMaterial, [byteString(Tag.Key, key)]), Alg.AES, 128)])));
    const uid = uidOf(r);
    expect(t.ctx.batch.idPlaceholder).toBe(uid);
    expect(t.ctx.batch.lastByOperation.get(UniqueIdentifier.Register)).toEqual([uid]);
    const o = (await t.repo.load(uid))!;
    expect(o.state).toBe(State.Active);
    expect(attr(o, Tag.KeyFormatType)).toMatchObject({ value: KFT.TransparentSymmetricKey });
    // the Digest is over the Raw bytes whatever the registered format
    const d = attr(o, Tag.Digest) as Struct;
    expect((child(d, Tag.DigestValue) as { value: Buffer }).value.equals(createHash('sha256').update(key).digest())).toBe(true);
    expect(child(d, Tag.KeyFormatType)).toMatchObject({ value: KFT.Raw });
    const g = await get.run(t.ctx, getReq(uid));
    expect(materialOf(g, Tag.SymmetricKey).type).toBe('Structure');
    const raw = materialOf(await get.run(t.ctx, getReq(uid, KFT.Raw)), Tag.SymmetricKey);
    expect(raw.type === 'ByteString' && raw.value.equals(key)).toBe(true);
    expect(await reasonOf(get.run(t.ctx, getReq(uid, KFT.PKCS_8)))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });

  it('derives the length of a symmetric key and checks it against the material', async () => {
    const o = (await t.repo.load(uidOf(await register.run(t.ctx, req(ObjectType.SymmetricKey, [],
      structure(Tag.SymmetricKey, [keyBlock(KFT.Raw, byteString(Tag.KeyMaterial, Buffer.alloc(24, 7)), Alg.DES3)]))))))!;
    expect(attr(o, Tag.CryptographicLength)).toMatchObject({ value: 168 });
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.SymmetricKey, [],
      structure(Tag.SymmetricKey, [keyBlock(KFT.Raw, byteString(Tag.KeyMaterial, Buffer.alloc(16)), Alg.AES, 256)]))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.SymmetricKey, [integer(Tag.CryptographicLength, 192)],
      structure(Tag.SymmetricKey, [keyBlock(KFT.Raw, byteString(Tag.KeyMaterial, Buffer.alloc(16)), Alg.AES, 128)]))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.SymmetricKey, [],
      structure(Tag.SymmetricKey, [keyBlock(KFT.Raw, byteString(Tag.KeyMaterial, Buffer.alloc(16)))]))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.SymmetricKey, [],
      structure(Tag.SymmetricKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, Buffer.alloc(16)), Alg.AES)]))))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });

  it('registers EC keys, derives algorithm, length and curve, refuses mismatches', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    const o = (await t.repo.load(uidOf(await register.run(t.ctx, req(ObjectType.PrivateKey, [],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, der))]))))))!;
    expect(attr(o, Tag.CryptographicAlgorithm)).toMatchObject({ value: Alg.EC });
    expect(attr(o, Tag.CryptographicLength)).toMatchObject({ value: 256 });
    const dp = attr(o, Tag.CryptographicDomainParameters) as Struct;
    expect(child(dp, Tag.RecommendedCurve)).toMatchObject({ value: RecommendedCurve.P_256 });
    expect(attr(o, Tag.CryptographicUsageMask)).toMatchObject({ value: CUM.Sign });
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.PrivateKey, [],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, der), Alg.RSA)]))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.PrivateKey, [],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, der), Alg.EC, 384)]))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.PrivateKey, [],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, der.subarray(0, 20)), Alg.EC)]))))).toBe(ResultReason.InvalidField);
    // Get converts the registered PKCS#8 to SEC 1 and Transparent
    const sec1 = materialOf(await get.run(t.ctx, getReq(o.uid, KFT.ECPrivateKey)), Tag.PrivateKey);
    expect(sec1.type === 'ByteString' && sec1.value.equals(privateKey.export({ type: 'sec1', format: 'der' }))).toBe(true);
    expect(await reasonOf(get.run(t.ctx, getReq(o.uid, KFT.PKCS_1)))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });

  it('refuses an object that does not match the Object Type, and unregistrable types', async () => {
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.PublicKey, [],
      structure(Tag.SymmetricKey, [keyBlock(KFT.Raw, byteString(Tag.KeyMaterial, Buffer.alloc(16)), Alg.AES)]))))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.Template, [], structure(Tag.SymmetricKey, []))))).toBe(ResultReason.InvalidObjectType);
  });
});

describe('Register other objects', () => {
  it('Secret Data (libmongocrypt: Seed, usage mask 0), Digest over the bytes, Get returns it', async () => {
    const seed = Buffer.alloc(96, 5);
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.SecretData, [integer(Tag.CryptographicUsageMask, 0)],
      structure(Tag.SecretData, [enumeration(Tag.SecretDataType, SecretDataType.Seed), keyBlock(KFT.Opaque, byteString(Tag.KeyMaterial, seed))]))));
    const o = (await t.repo.load(uid))!;
    expect(attr(o, Tag.CryptographicUsageMask)).toMatchObject({ value: 0 });
    const d = attr(o, Tag.Digest) as Struct;
    expect((child(d, Tag.DigestValue) as { value: Buffer }).value.equals(createHash('sha256').update(seed).digest())).toBe(true);
    const km = materialOf(await get.run(t.ctx, getReq(uid)), Tag.SecretData);
    expect(km.type === 'ByteString' && km.value.equals(seed)).toBe(true);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.SecretData, [],
      structure(Tag.SecretData, [keyBlock(KFT.Raw, byteString(Tag.KeyMaterial, seed))]))))).toBe(ResultReason.InvalidField);
  });

  it('Opaque Object', async () => {
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.OpaqueObject, [],
      structure(Tag.OpaqueObject, [enumeration(Tag.OpaqueDataType, 0x80000001), byteString(Tag.OpaqueDataValue, Buffer.from('blob'))]))));
    const g = await get.run(t.ctx, getReq(uid));
    expect(child(child(g, Tag.OpaqueObject) as Struct, Tag.OpaqueDataValue)).toMatchObject({ value: Buffer.from('blob') });
    expect(await reasonOf(get.run(t.ctx, getReq(uid, KFT.Raw)))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });
});

describe('Register with the OASIS Baseline material', () => {
  const read = (n: string) => readFileSync(resolve(VECTORS, '2.1/mandatory', n), 'utf8');
  const hex = (xml: string, el: string) => Buffer.from(new RegExp(`<${el} type="(?:BigInteger|ByteString)" value="([0-9a-f]+)"`).exec(xml)![1]!, 'hex');
  const big = (tag: number, b: Buffer) => bigInteger(tag, BigInt('0x' + b.toString('hex')));

  it('BL-M-10: an X.509 certificate (with the client-sent Certificate Type) gets its Certificate attributes', async () => {
    const der = hex(read('BL-M-10-21.xml'), 'CertificateValue');
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.Certificate, [enumeration(Tag.CertificateType, CertificateType.X_509)],
      structure(Tag.Certificate, [enumeration(Tag.CertificateType, CertificateType.X_509), byteString(Tag.CertificateValue, der)]))));
    const o = (await t.repo.load(uid))!;
    expect(attr(o, Tag.CertificateLength)).toMatchObject({ value: 1043 });
    expect(attr(o, Tag.CertificateSubjectCN)).toMatchObject({ value: 'CN' });
    expect(attr(o, Tag.DigitalSignatureAlgorithm)).toMatchObject({ value: DigitalSignatureAlgorithm.SHA_256WithRSAEncryption });
    expect(attr(o, Tag.CryptographicAlgorithm)).toMatchObject({ value: Alg.RSA });
    const { X509Certificate } = await import('node:crypto');
    const x = new X509Certificate(der);
    const id = attr(o, Tag.X_509CertificateIdentifier) as Struct;
    expect((child(id, Tag.CertificateSerialNumber) as { value: Buffer }).value.toString('hex').replace(/^00/, '').toUpperCase()).toBe(x.serialNumber.toUpperCase());
    expect(attr(o, Tag.CertificateIssuerCN)?.value).toBe(/CN=([^\n]+)/.exec(x.issuer)![1]);
    // a corrupt certificate is refused
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.Certificate, [],
      structure(Tag.Certificate, [enumeration(Tag.CertificateType, CertificateType.X_509), byteString(Tag.CertificateValue, der.subarray(0, 100))]))))).toBe(ResultReason.InvalidField);
  });

  it('BL-M-8 Transparent RSA public key; Get as PKCS#1 equals BL-M-6', async () => {
    const x = read('BL-M-8-21.xml');
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.PublicKey, [integer(Tag.CryptographicUsageMask, CUM.Encrypt)],
      structure(Tag.PublicKey, [keyBlock(KFT.TransparentRSAPublicKey, structure(Tag.KeyMaterial, [big(Tag.Modulus, hex(x, 'Modulus')), big(Tag.PublicExponent, hex(x, 'PublicExponent'))]), Alg.RSA, 2048)]))));
    const km = materialOf(await get.run(t.ctx, getReq(uid, KFT.PKCS_1)), Tag.PublicKey);
    expect(km.type === 'ByteString' && km.value.equals(hex(read('BL-M-6-21.xml'), 'KeyMaterial'))).toBe(true);
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.PublicKey, [],
      structure(Tag.PublicKey, [keyBlock(KFT.TransparentRSAPublicKey, structure(Tag.KeyMaterial, [big(Tag.Modulus, hex(x, 'Modulus')), big(Tag.PublicExponent, hex(x, 'PublicExponent'))]), Alg.RSA, 1024)]))))).toBe(ResultReason.InvalidField);
  });

  it('BL-M-12: a Sensitive Transparent DSA public key registers, Get answers Sensitive, Always Sensitive is true', async () => {
    const x = read('BL-M-12-21.xml');
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.PublicKey, [integer(Tag.CryptographicUsageMask, CUM.Verify), boolean(Tag.Sensitive, true)],
      structure(Tag.PublicKey, [keyBlock(KFT.TransparentDSAPublicKey, structure(Tag.KeyMaterial, [big(Tag.Q, hex(x, 'Q'))]), Alg.DSA, 512)]))));
    expect(await reasonOf(get.run(t.ctx, getReq(uid)))).toBe(ResultReason.Sensitive);
    expect(attr((await t.repo.load(uid))!, Tag.AlwaysSensitive)).toMatchObject({ value: true });
  });

  it('BL-M-13: Fresh given at Register is kept until the first Get; a DSA key is returned as registered', async () => {
    const x = read('BL-M-13-21.xml');
    const material = structure(Tag.KeyMaterial, (['P', 'Q', 'G', 'X'] as const).map((n) => big(Tag[n], hex(x, n))));
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.PrivateKey, [integer(Tag.CryptographicUsageMask, CUM.Sign), boolean(Tag.Fresh, true)],
      structure(Tag.PrivateKey, [keyBlock(KFT.TransparentDSAPrivateKey, material, Alg.DSA, 512)]))));
    expect(attr((await t.repo.load(uid))!, Tag.Fresh)).toMatchObject({ value: true });
    const km = materialOf(await get.run(t.ctx, getReq(uid)), Tag.PrivateKey) as Struct;
    expect(km.value.map((c) => c.tag)).toEqual([Tag.P, Tag.Q, Tag.G, Tag.X]);
    expect(attr((await t.repo.load(uid))!, Tag.Fresh)).toMatchObject({ value: false });
    expect(await reasonOf(get.run(t.ctx, getReq(uid, KFT.PKCS_8)))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });
});

describe('Register: a PKCS#1 RSAPrivateKey labelled PKCS#8 (PyKMIP test data, issue 13 §5)', () => {
  it('is accepted and kept as PKCS#1, the format its bytes have; Get converts it like any key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'der' });
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.PrivateKey, [integer(Tag.CryptographicUsageMask, CUM.Sign)],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, pkcs1), Alg.RSA, 2048)]))));
    const o = (await t.repo.load(uid))!;
    expect(attr(o, Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_1 });
    const asRegistered = await get.run(t.ctx, getReq(uid));
    const kb = child(child(asRegistered, Tag.PrivateKey) as Struct, Tag.KeyBlock) as Struct;
    expect(child(kb, Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_1 });
    expect((materialOf(asRegistered, Tag.PrivateKey) as { value: Buffer }).value.equals(pkcs1)).toBe(true);
    // Asked for PKCS#8, the client gets a real PrivateKeyInfo.
    const p8 = materialOf(await get.run(t.ctx, getReq(uid, KFT.PKCS_8)), Tag.PrivateKey) as { value: Buffer };
    expect(p8.value.equals(privateKey.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
  });

  it('a real PKCS#8 stays PKCS#8, and bytes that are neither are still Invalid Field', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const uid = uidOf(await register.run(t.ctx, req(ObjectType.PrivateKey, [integer(Tag.CryptographicUsageMask, CUM.Sign)],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, privateKey.export({ type: 'pkcs8', format: 'der' })), Alg.RSA, 2048)]))));
    expect(attr((await t.repo.load(uid))!, Tag.KeyFormatType)).toMatchObject({ value: KFT.PKCS_8 });
    expect(await reasonOf(register.run(t.ctx, req(ObjectType.PrivateKey, [integer(Tag.CryptographicUsageMask, CUM.Sign)],
      structure(Tag.PrivateKey, [keyBlock(KFT.PKCS_8, byteString(Tag.KeyMaterial, Buffer.from('3003020100', 'hex')), Alg.RSA, 2048)]))))).toBe(ResultReason.InvalidField);
  });
});
