import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import {
  canonicalBytes, checkSymmetricMaterial, convertibleFormats, keyFacts, parseKeyMaterial, produceKeyMaterial, type ParsedKey,
} from '../../src/crypto/formats.ts';
import { KeyMaterialError } from '../../src/crypto/keys.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm as Alg, KeyFormatType as KFT, ObjectType as OT, RecommendedCurve, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { VECTORS } from '../helpers/vectors.ts';

const reasonOf = (f: () => unknown): number | undefined => {
  try { f(); } catch (e) { if (e instanceof KeyMaterialError) return e.reason; throw e; }
  return undefined;
};
const bytesOf = (it: TtlvItem): Buffer => { if (it.type !== 'ByteString') throw new Error(`not bytes: ${it.type}`); return it.value; };
const fieldsOf = (it: TtlvItem): TtlvItem[] => { if (it.type !== 'Structure') throw new Error('not a structure'); return it.value; };
const km = (value: TtlvItem[]): TtlvItem => ({ tag: Tag.KeyMaterial, type: 'Structure', value });
const kb = (value: Buffer): TtlvItem => ({ tag: Tag.KeyMaterial, type: 'ByteString', value });
const big = (tag: number, hex: string): TtlvItem => ({ tag, type: 'BigInteger', value: BigInt('0x' + hex) });

function roundTrip(objectType: number, key: ParsedKey, formats: readonly number[]): void {
  // every format parses back to a key that produces the same bytes in every other format
  const reference = canonicalBytes(objectType, key).bytes;
  for (const f of formats) {
    const item = produceKeyMaterial(key, f);
    const back = parseKeyMaterial(objectType, f, item, { algorithm: Alg.Ed25519 });
    expect(canonicalBytes(objectType, back).bytes.equals(reference), `format ${f}`).toBe(true);
  }
}

describe('RSA formats, Node as the reference', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv: ParsedKey = { kind: 'private', key: privateKey };
  const pub: ParsedKey = { kind: 'public', key: publicKey };

  it('PKCS#1 and PKCS#8 equal what OpenSSL writes', () => {
    expect(bytesOf(produceKeyMaterial(priv, KFT.PKCS_1)).equals(privateKey.export({ type: 'pkcs1', format: 'der' }))).toBe(true);
    expect(bytesOf(produceKeyMaterial(priv, KFT.PKCS_8)).equals(privateKey.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
    expect(bytesOf(produceKeyMaterial(pub, KFT.PKCS_1)).equals(publicKey.export({ type: 'pkcs1', format: 'der' }))).toBe(true);
    expect(bytesOf(produceKeyMaterial(pub, KFT.X_509)).equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('Transparent RSA private key holds the JWK numbers in the order of s.2.1.7.4', () => {
    const jwk = privateKey.export({ format: 'jwk' });
    const f = fieldsOf(produceKeyMaterial(priv, KFT.TransparentRSAPrivateKey));
    expect(f.map((x) => x.tag)).toEqual([Tag.Modulus, Tag.PrivateExponent, Tag.PublicExponent, Tag.P, Tag.Q, Tag.PrimeExponentP, Tag.PrimeExponentQ, Tag.CRTCoefficient]);
    expect(f[0]!.value).toBe(BigInt('0x' + Buffer.from(jwk.n!, 'base64url').toString('hex')));
    expect(f[2]!.value).toBe(65537n);
  });

  it('round-trips PKCS#1 ⇄ PKCS#8 ⇄ Transparent', () => {
    roundTrip(OT.PrivateKey, priv, convertibleFormats(OT.PrivateKey, 'rsa'));
    roundTrip(OT.PublicKey, pub, convertibleFormats(OT.PublicKey, 'rsa'));
  });

  it('a key rebuilt from Transparent fields signs what the original verifies', () => {
    const rebuilt = parseKeyMaterial(OT.PrivateKey, KFT.TransparentRSAPrivateKey, produceKeyMaterial(priv, KFT.TransparentRSAPrivateKey)) as { key: KeyObject };
    const sig = sign('sha256', Buffer.from('msg'), rebuilt.key);
    expect(verify('sha256', Buffer.from('msg'), publicKey, sig)).toBe(true);
    expect(keyFacts(priv)).toEqual({ family: 'rsa', length: 2048 });
  });

  it('refuses a Transparent private key whose modulus is not P×Q, or that lacks a field', () => {
    const f = fieldsOf(produceKeyMaterial(priv, KFT.TransparentRSAPrivateKey));
    const bad = f.map((x) => (x.tag === Tag.Modulus ? { ...x, value: (x.value as bigint) + 2n } : x)) as TtlvItem[];
    expect(reasonOf(() => parseKeyMaterial(OT.PrivateKey, KFT.TransparentRSAPrivateKey, km(bad)))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => parseKeyMaterial(OT.PrivateKey, KFT.TransparentRSAPrivateKey, km(f.slice(0, 3))))).toBe(ResultReason.InvalidField);
  });

  it('refuses garbage DER and impossible conversions', () => {
    expect(reasonOf(() => parseKeyMaterial(OT.PrivateKey, KFT.PKCS_1, kb(Buffer.from('3003020101', 'hex'))))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => parseKeyMaterial(OT.PublicKey, KFT.X_509, kb(Buffer.alloc(10))))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => parseKeyMaterial(OT.PublicKey, KFT.PKCS_1, km([])))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => produceKeyMaterial(priv, KFT.ECPrivateKey))).toBe(ResultReason.KeyFormatTypeNotSupported);
    expect(reasonOf(() => produceKeyMaterial(pub, KFT.TransparentRSAPrivateKey))).toBe(ResultReason.KeyFormatTypeNotSupported);
    expect(reasonOf(() => parseKeyMaterial(OT.PrivateKey, KFT.PKCS_12, kb(Buffer.alloc(4))))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });
});

describe('EC formats, Node as the reference', () => {
  it.each([['P-256', 256], ['P-384', 384], ['P-521', 521]] as const)('%s round-trips PKCS#8 ⇄ SEC1 ⇄ Transparent', (crv, bits) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: crv });
    const priv: ParsedKey = { kind: 'private', key: privateKey };
    const pub: ParsedKey = { kind: 'public', key: publicKey };
    expect(bytesOf(produceKeyMaterial(priv, KFT.ECPrivateKey)).equals(privateKey.export({ type: 'sec1', format: 'der' }))).toBe(true);
    roundTrip(OT.PrivateKey, priv, convertibleFormats(OT.PrivateKey, 'ec'));
    roundTrip(OT.PublicKey, pub, convertibleFormats(OT.PublicKey, 'ec'));
    expect(keyFacts(priv)).toMatchObject({ family: 'ec', length: bits });
    // D and the uncompressed Q of the Transparent forms are the JWK numbers
    const jwk = privateKey.export({ format: 'jwk' });
    const tp = fieldsOf(produceKeyMaterial(priv, KFT.TransparentECPrivateKey));
    expect(tp[1]!.value).toBe(BigInt('0x' + Buffer.from(jwk.d!, 'base64url').toString('hex')));
    const q = bytesOf(fieldsOf(produceKeyMaterial(pub, KFT.TransparentECPublicKey))[1]!);
    expect(q.equals(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]))).toBe(true);
  });

  // Curves JWK cannot name (brainpool, P-224) go through SEC 1 / SPKI DER built here: the
  // bytes must equal what OpenSSL writes for the same key, curve OID included.
  it.each([
    ['secp224r1', RecommendedCurve.P_224, 224], ['secp256k1', RecommendedCurve.SECP256K1, 256],
    ['brainpoolP256r1', RecommendedCurve.BRAINPOOLP256R1, 256], ['brainpoolP384r1', RecommendedCurve.BRAINPOOLP384R1, 384],
    ['brainpoolP512r1', RecommendedCurve.BRAINPOOLP512R1, 512],
  ] as const)('%s: Transparent EC ⇄ SEC1 / PKCS#8 / X.509 equal OpenSSL\'s encodings', (name, curve, bits) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: name });
    const priv: ParsedKey = { kind: 'private', key: privateKey };
    const pub: ParsedKey = { kind: 'public', key: publicKey };
    expect(keyFacts(priv)).toEqual({ family: 'ec', length: bits, curve });
    roundTrip(OT.PrivateKey, priv, convertibleFormats(OT.PrivateKey, 'ec'));
    roundTrip(OT.PublicKey, pub, convertibleFormats(OT.PublicKey, 'ec'));
    const tp = produceKeyMaterial(priv, KFT.TransparentECPrivateKey);
    expect(fieldsOf(tp)[0]!.value).toBe(curve);
    const back = parseKeyMaterial(OT.PrivateKey, KFT.TransparentECPrivateKey, tp);
    expect(bytesOf(produceKeyMaterial(back, KFT.PKCS_8)).equals(privateKey.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
    const tq = produceKeyMaterial(pub, KFT.TransparentECPublicKey);
    const backPub = parseKeyMaterial(OT.PublicKey, KFT.TransparentECPublicKey, tq);
    expect(bytesOf(produceKeyMaterial(backPub, KFT.X_509)).equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('accepts a compressed Q String and refuses a point off the curve', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const y = Buffer.from(jwk.y!, 'base64url');
    const compressed = Buffer.concat([Buffer.from([2 + (y[31]! & 1)]), Buffer.from(jwk.x!, 'base64url')]);
    const curve: TtlvItem = { tag: Tag.RecommendedCurve, type: 'Enumeration', value: RecommendedCurve.P_256 };
    const parsed = parseKeyMaterial(OT.PublicKey, KFT.TransparentECPublicKey, km([curve, { tag: Tag.QString, type: 'ByteString', value: compressed }]));
    expect(canonicalBytes(OT.PublicKey, parsed).bytes.equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    const off = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
    expect(reasonOf(() => parseKeyMaterial(OT.PublicKey, KFT.TransparentECPublicKey, km([curve, { tag: Tag.QString, type: 'ByteString', value: off }])))).toBe(ResultReason.InvalidField);
    const k163: TtlvItem = { ...curve, value: RecommendedCurve.K_163 };
    expect(reasonOf(() => parseKeyMaterial(OT.PrivateKey, KFT.TransparentECPrivateKey, km([k163, big(Tag.D, '01')])))).toBe(ResultReason.KeyFormatTypeNotSupported);
    expect(reasonOf(() => parseKeyMaterial(OT.PrivateKey, KFT.TransparentECPrivateKey, km([curve, big(Tag.D, '00')])))).toBe(ResultReason.InvalidField);
  });

  it('EC keys have no PKCS#1 form', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(reasonOf(() => produceKeyMaterial({ kind: 'private', key: privateKey }, KFT.PKCS_1))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });
});

describe('Ed25519 formats', () => {
  it('round-trips PKCS#8 ⇄ Raw and X.509 ⇄ Raw', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    roundTrip(OT.PrivateKey, { kind: 'private', key: privateKey }, convertibleFormats(OT.PrivateKey, 'ed25519'));
    roundTrip(OT.PublicKey, { kind: 'public', key: publicKey }, convertibleFormats(OT.PublicKey, 'ed25519'));
    const raw = bytesOf(produceKeyMaterial({ kind: 'private', key: privateKey }, KFT.Raw));
    expect(raw.length).toBe(32);
    const rebuilt = parseKeyMaterial(OT.PrivateKey, KFT.Raw, kb(raw), { algorithm: Alg.Ed25519 }) as { key: KeyObject };
    expect(verify(null, Buffer.from('m'), publicKey, sign(null, Buffer.from('m'), rebuilt.key))).toBe(true);
  });
});

describe('symmetric formats', () => {
  it('Raw ⇄ TransparentSymmetricKey', () => {
    const bytes = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const k = parseKeyMaterial(OT.SymmetricKey, KFT.TransparentSymmetricKey, km([{ tag: Tag.Key, type: 'ByteString', value: bytes }]));
    expect(bytesOf(produceKeyMaterial(k, KFT.Raw)).equals(bytes)).toBe(true);
    expect(reasonOf(() => produceKeyMaterial(k, KFT.PKCS_8))).toBe(ResultReason.KeyFormatTypeNotSupported);
    expect(reasonOf(() => parseKeyMaterial(OT.SymmetricKey, KFT.Raw, km([])))).toBe(ResultReason.InvalidField);
    expect(reasonOf(() => parseKeyMaterial(OT.SymmetricKey, KFT.Raw, kb(Buffer.alloc(0))))).toBe(ResultReason.InvalidField);
  });
  it('checks length against algorithm', () => {
    expect(() => checkSymmetricMaterial(Alg.AES, 128, Buffer.alloc(16))).not.toThrow();
    expect(reasonOf(() => checkSymmetricMaterial(Alg.AES, 256, Buffer.alloc(16)))).toBe(ResultReason.InvalidField);
    expect(() => checkSymmetricMaterial(Alg.DES3, 168, Buffer.alloc(24))).not.toThrow();
  });
});

// Known answers from the OASIS 2.1 Baseline vectors: the same 1024-bit RSA key appears as
// TransparentRSAPrivateKey (BL-M-9), PKCS#1 (BL-M-7) and PKCS#8 (BL-M-11); the same
// 2048-bit public key as TransparentRSAPublicKey (BL-M-8) and PKCS#1 (BL-M-6).
describe('OASIS vector key material', () => {
  const read = (name: string) => readFileSync(resolve(VECTORS, '2.1/mandatory', name), 'utf8');
  const value = (xml: string, el: string) => {
    const m = new RegExp(`<${el} type="(?:BigInteger|ByteString)" value="([0-9a-f]+)"`).exec(xml);
    if (!m) throw new Error(`${el} not found`);
    return m[1]!;
  };

  it('BL-M-9 Transparent → PKCS#1 of BL-M-7 and PKCS#8 of BL-M-11', () => {
    const x = read('BL-M-9-21.xml');
    const names: [number, string][] = [[Tag.Modulus, 'Modulus'], [Tag.PrivateExponent, 'PrivateExponent'], [Tag.PublicExponent, 'PublicExponent'], [Tag.P, 'P'], [Tag.Q, 'Q'], [Tag.PrimeExponentP, 'PrimeExponentP'], [Tag.PrimeExponentQ, 'PrimeExponentQ'], [Tag.CRTCoefficient, 'CRTCoefficient']];
    const k = parseKeyMaterial(OT.PrivateKey, KFT.TransparentRSAPrivateKey, km(names.map(([t, n]) => big(t, value(x, n)))));
    expect(keyFacts(k).length).toBe(1024);
    const pkcs1 = value(read('BL-M-7-21.xml'), 'KeyMaterial');
    const pkcs8 = value(read('BL-M-11-21.xml'), 'KeyMaterial');
    expect(bytesOf(produceKeyMaterial(k, KFT.PKCS_1)).toString('hex')).toBe(pkcs1);
    expect(bytesOf(produceKeyMaterial(k, KFT.PKCS_8)).toString('hex')).toBe(pkcs8);
    // and back: PKCS#8 → Transparent gives the vector's numbers
    const back = fieldsOf(produceKeyMaterial(parseKeyMaterial(OT.PrivateKey, KFT.PKCS_8, kb(Buffer.from(pkcs8, 'hex'))), KFT.TransparentRSAPrivateKey));
    expect(back[0]!.value).toBe(BigInt('0x' + value(x, 'Modulus')));
    expect(back[7]!.value).toBe(BigInt('0x' + value(x, 'CRTCoefficient')));
    expect(createPrivateKey({ key: Buffer.from(pkcs1, 'hex'), format: 'der', type: 'pkcs1' }).asymmetricKeyType).toBe('rsa');
  });

  it('BL-M-8 Transparent public key → PKCS#1 of BL-M-6', () => {
    const x = read('BL-M-8-21.xml');
    const k = parseKeyMaterial(OT.PublicKey, KFT.TransparentRSAPublicKey, km([big(Tag.Modulus, value(x, 'Modulus')), big(Tag.PublicExponent, value(x, 'PublicExponent'))]));
    const pkcs1 = value(read('BL-M-6-21.xml'), 'KeyMaterial');
    expect(bytesOf(produceKeyMaterial(k, KFT.PKCS_1)).toString('hex')).toBe(pkcs1);
    expect(createPublicKey({ key: Buffer.from(pkcs1, 'hex'), format: 'der', type: 'pkcs1' }).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });
});
