// Conversions between KMIP Key Format Types (2.1 s.11.25; key material layouts s.2.1.7 /
// 1.4 s.2.1.7) for the formats the OASIS vectors use: Raw, Transparent Symmetric Key,
// PKCS#1, PKCS#8, X.509 (SubjectPublicKeyInfo), EC Private Key (SEC 1), Transparent RSA
// private/public, Transparent EC private/public (and the 1.x Transparent ECDSA/ECDH/ECMQV
// variants, same fields). Node's KeyObject is the pivot: every format is parsed into one
// and produced from one, so each conversion is "parse, then produce".
//
// Only the codec's generated tables and item types are imported: this module stays below
// kmip/ and operations/ in the import graph. Failures are KeyMaterialError carrying the
// Result Reason the operation should answer with.
import { createECDH, createPrivateKey, createPublicKey, ECDH, KeyObject } from 'node:crypto';
import { Tag } from '../ttlv/generated/tags.ts';
import { CryptographicAlgorithm as Alg, KeyFormatType as KFT, ObjectType, ResultReason } from '../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { curveOfNodeName, EC_CURVES, KeyMaterialError, SUPPORTED_CURVES_TEXT, symmetricKeyBytes, type CurveInfo } from './keys.ts';

/** Key material in a form every conversion starts from. */
export type ParsedKey =
  | { kind: 'symmetric'; bytes: Buffer }
  | { kind: 'private'; key: KeyObject }
  | { kind: 'public'; key: KeyObject };

export const formatName = (f: number): string => {
  for (const [n, v] of Object.entries(KFT)) if (v === f) return n;
  return `0x${f.toString(16)}`;
};

const unsupported = (msg: string): never => {
  throw new KeyMaterialError(ResultReason.KeyFormatTypeNotSupported, msg);
};
const invalid = (msg: string): never => {
  throw new KeyMaterialError(ResultReason.InvalidField, msg);
};

// ---------------------------------------------------------------------------
// Small TTLV helpers (kmip/items.ts is above this module)

const bytesItem = (tag: number, value: Buffer): TtlvItem => ({ tag, type: 'ByteString', value });
const bigItem = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'BigInteger', value });
const enumItem = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });

function fields(material: TtlvItem, format: number): Map<number, TtlvItem> {
  if (material.type !== 'Structure') invalid(`Key Material of format ${formatName(format)} must be a Structure`);
  const out = new Map<number, TtlvItem>();
  for (const c of material.value as TtlvItem[]) {
    if (out.has(c.tag)) invalid(`Key Material of format ${formatName(format)} repeats field 0x${c.tag.toString(16)}`);
    out.set(c.tag, c);
  }
  return out;
}

function needBig(f: Map<number, TtlvItem>, tag: number, name: string, format: number): bigint {
  const it = f.get(tag);
  if (it === undefined) return invalid(`${formatName(format)} Key Material lacks ${name}`);
  if (it.type !== 'BigInteger') return invalid(`${formatName(format)} ${name} must be a Big Integer`);
  if (it.value < 0n) return invalid(`${formatName(format)} ${name} must not be negative`);
  return it.value;
}

function needBytes(material: TtlvItem, what: string): Buffer {
  if (material.type !== 'ByteString') return invalid(`${what} must be a Byte String`);
  return material.value;
}

// ---------------------------------------------------------------------------
// bigint ⇄ unsigned big-endian bytes (JWK base64url)

export function bigintToBytes(v: bigint, size?: number): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = '0' + hex;
  let buf = Buffer.from(v === 0n ? '' : hex, 'hex');
  if (size !== undefined) {
    if (buf.length > size) invalid(`integer does not fit in ${size} bytes`);
    buf = Buffer.concat([Buffer.alloc(size - buf.length), buf]);
  }
  return buf;
}

export const bytesToBigint = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt('0x' + b.toString('hex')));
const b64u = (b: Buffer) => b.toString('base64url');
const fromB64u = (s: string | undefined) => bytesToBigint(Buffer.from(s ?? '', 'base64url'));

// ---------------------------------------------------------------------------
// Facts about a parsed key

export interface KeyFacts {
  /** Key family: RSA, EC (any of EC/ECDSA/ECDH/ECMQV), Ed25519; undefined for symmetric. */
  family?: 'rsa' | 'ec' | 'ed25519';
  /** Cryptographic Length the key has (bits): modulus size, curve size, 256 for Ed25519, material bits for symmetric. */
  length: number;
  /** Recommended Curve for EC keys. */
  curve?: number;
}

/** The Recommended Curve of an EC KeyObject (OpenSSL's curve name; JWK names only the NIST curves). */
function curveOfKey(key: KeyObject): number {
  const name = key.asymmetricKeyDetails?.namedCurve;
  return curveOfNodeName(name) ?? unsupported(`EC curve ${name ?? '(unknown)'} is not supported (supported: ${SUPPORTED_CURVES_TEXT})`);
}

// ---------------------------------------------------------------------------
// EC keys as DER. JWK, the easy way into a KeyObject, names only the NIST curves (RFC 7518
// §6.2.1.1) and secp256k1 (RFC 8812); brainpool and P-224 keys travel as SEC 1 / SPKI DER.

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);

/** OBJECT IDENTIFIER content octets (X.690 §8.19). */
function oidContent(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift(v & 0x7f);
      if (v < 128) break;
    }
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return Buffer.from(out);
}
const ID_EC_PUBLIC_KEY = '1.2.840.10045.2.1'; // RFC 5480 §2.1.1

/** SEC 1 §C.4 ECPrivateKey {version 1, privateKey, [0] parameters, [1] publicKey}. */
function sec1PrivateDer(info: CurveInfo, d: Buffer, point: Buffer): Buffer {
  return der(0x30, Buffer.concat([
    der(0x02, Buffer.from([1])), der(0x04, d), der(0xa0, der(0x06, oidContent(info.oid))),
    der(0xa1, der(0x03, Buffer.concat([Buffer.from([0]), point]))),
  ]));
}

/** RFC 5480 §2 SubjectPublicKeyInfo of an EC point. */
function ecSpkiDer(info: CurveInfo, point: Buffer): Buffer {
  return der(0x30, Buffer.concat([
    der(0x30, Buffer.concat([der(0x06, oidContent(ID_EC_PUBLIC_KEY)), der(0x06, oidContent(info.oid))])),
    der(0x03, Buffer.concat([Buffer.from([0]), point])),
  ]));
}

/** The private scalar of an EC private key (the OCTET STRING of its SEC 1 encoding). */
function ecPrivateScalar(key: KeyObject): Buffer {
  const buf = key.export({ format: 'der', type: 'sec1' });
  const parts = derChildren(buf, derAt(buf, 0));
  const d = parts[1];
  if (d?.tag !== 0x04) throw new Error('OpenSSL exported an EC private key without its scalar');
  return Buffer.from(buf.subarray(d.contentStart, d.end));
}

/** The uncompressed public point of an EC key (the BIT STRING of its SPKI encoding). */
function ecPublicPoint(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const buf = pub.export({ format: 'der', type: 'spki' });
  const parts = derChildren(buf, derAt(buf, 0));
  const bits = parts[1];
  if (bits?.tag !== 0x03) throw new Error('OpenSSL exported an EC public key without its point');
  return Buffer.from(buf.subarray(bits.contentStart + 1, bits.end));
}

export function keyFacts(k: ParsedKey): KeyFacts {
  if (k.kind === 'symmetric') return { length: k.bytes.length * 8 };
  const t = k.key.asymmetricKeyType;
  if (t === 'rsa') return { family: 'rsa', length: k.key.asymmetricKeyDetails?.modulusLength ?? 0 };
  if (t === 'ec') {
    const curve = curveOfKey(k.key);
    return { family: 'ec', length: EC_CURVES.get(curve)!.bits, curve };
  }
  if (t === 'ed25519') return { family: 'ed25519', length: 256 };
  return unsupported(`${t ?? 'unknown'} keys are not supported`);
}

/** Whether a Cryptographic Algorithm value names the family of the key. */
export function algorithmMatches(alg: number, facts: KeyFacts): boolean {
  switch (facts.family) {
    case 'rsa': return alg === Alg.RSA;
    case 'ec': return alg === Alg.EC || alg === Alg.ECDSA || alg === Alg.ECDH || alg === Alg.ECMQV;
    case 'ed25519': return alg === Alg.Ed25519;
    default: return false;
  }
}

/** The natural Cryptographic Algorithm of an asymmetric key (used when the client gave none). */
export function algorithmOf(facts: KeyFacts): number | undefined {
  return facts.family === 'rsa' ? Alg.RSA : facts.family === 'ec' ? Alg.EC : facts.family === 'ed25519' ? Alg.Ed25519 : undefined;
}

// ---------------------------------------------------------------------------
// Which formats an object can be expressed in

const TRANSPARENT_EC_PRIVATE: readonly number[] = [KFT.TransparentECPrivateKey, KFT.TransparentECDSAPrivateKey, KFT.TransparentECDHPrivateKey, KFT.TransparentECMQVPrivateKey];
const TRANSPARENT_EC_PUBLIC: readonly number[] = [KFT.TransparentECPublicKey, KFT.TransparentECDSAPublicKey, KFT.TransparentECDHPublicKey, KFT.TransparentECMQVPublicKey];

/** Formats this module can parse and produce for a key of the object type and family. */
export function convertibleFormats(objectType: number, family: KeyFacts['family']): readonly number[] {
  if (objectType === ObjectType.SymmetricKey) return [KFT.Raw, KFT.TransparentSymmetricKey];
  if (objectType === ObjectType.PrivateKey) {
    if (family === 'rsa') return [KFT.PKCS_1, KFT.PKCS_8, KFT.TransparentRSAPrivateKey];
    if (family === 'ec') return [KFT.PKCS_8, KFT.ECPrivateKey, ...TRANSPARENT_EC_PRIVATE];
    if (family === 'ed25519') return [KFT.PKCS_8, KFT.Raw];
  }
  if (objectType === ObjectType.PublicKey) {
    if (family === 'rsa') return [KFT.PKCS_1, KFT.X_509, KFT.TransparentRSAPublicKey];
    if (family === 'ec') return [KFT.X_509, ...TRANSPARENT_EC_PUBLIC];
    if (family === 'ed25519') return [KFT.X_509, KFT.Raw];
  }
  return [];
}

/**
 * The format the server generates keys in and computes the Digest over (s.4.14 asks for
 * the digest of the key material in a stated format; the OASIS vectors show Raw for
 * symmetric keys and PKCS#1 for RSA keys). PKCS#8 / X.509 for the other families, which
 * have no PKCS#1 encoding.
 */
export function defaultFormat(objectType: number, family: KeyFacts['family']): number {
  if (objectType === ObjectType.SymmetricKey) return KFT.Raw;
  if (family === 'rsa') return KFT.PKCS_1;
  return objectType === ObjectType.PrivateKey ? KFT.PKCS_8 : KFT.X_509;
}

// ---------------------------------------------------------------------------
// Parsing

export interface ParseHints {
  /** Cryptographic Algorithm of the key block, needed for Raw symmetric keys and Raw Ed25519 keys. */
  algorithm?: number;
}

function importPrivate(bytes: Buffer, type: 'pkcs1' | 'pkcs8' | 'sec1', format: number): KeyObject {
  try {
    return createPrivateKey({ key: bytes, format: 'der', type });
  } catch {
    return invalid(`Key Material is not a valid ${formatName(format)} private key`);
  }
}

function importPublic(bytes: Buffer, type: 'pkcs1' | 'spki', format: number): KeyObject {
  try {
    return createPublicKey({ key: bytes, format: 'der', type });
  } catch {
    return invalid(`Key Material is not a valid ${formatName(format)} public key`);
  }
}

function importJwk(jwk: Record<string, string>, priv: boolean, format: number): KeyObject {
  try {
    return priv ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return invalid(`${formatName(format)} Key Material does not form a valid key`);
  }
}

function curveInfo(f: Map<number, TtlvItem>, format: number) {
  const it = f.get(Tag.RecommendedCurve);
  if (it === undefined) return invalid(`${formatName(format)} Key Material lacks Recommended Curve`);
  if (it.type !== 'Enumeration') return invalid(`${formatName(format)} Recommended Curve must be an Enumeration`);
  const info = EC_CURVES.get(it.value);
  if (info === undefined) return unsupported(`Recommended Curve 0x${it.value.toString(16)} is not supported (supported: ${SUPPORTED_CURVES_TEXT})`);
  return info;
}

/** Uncompressed point bytes (0x04 ‖ X ‖ Y), decompressing 0x02/0x03 points. */
function uncompressedPoint(q: Buffer, nodeCurve: string, format: number): Buffer {
  try {
    return ECDH.convertKey(q, nodeCurve, undefined, undefined, 'uncompressed') as Buffer;
  } catch {
    return invalid(`${formatName(format)} Q String is not a point of the curve`);
  }
}

/**
 * Parses the Key Material of a key block of the given object type and format. Throws
 * KeyMaterialError: InvalidField when the material does not match its format,
 * KeyFormatTypeNotSupported when the format is not one this server converts.
 */
export function parseKeyMaterial(objectType: number, format: number, material: TtlvItem, hints: ParseHints = {}): ParsedKey {
  if (objectType === ObjectType.SymmetricKey) {
    let bytes: Buffer;
    if (format === KFT.Raw) bytes = needBytes(material, 'Raw Key Material');
    else if (format === KFT.TransparentSymmetricKey) {
      const key = fields(material, format).get(Tag.Key);
      if (key === undefined) return invalid('TransparentSymmetricKey Key Material lacks Key');
      bytes = needBytes(key, 'TransparentSymmetricKey Key');
    } else return unsupported(`Key Format Type ${formatName(format)} is not supported for symmetric keys`);
    if (bytes.length === 0) invalid('symmetric key material is empty');
    return { kind: 'symmetric', bytes: Buffer.from(bytes) };
  }

  if (objectType === ObjectType.PrivateKey) {
    switch (format) {
      case KFT.PKCS_1: return { kind: 'private', key: importPrivate(needBytes(material, 'PKCS#1 Key Material'), 'pkcs1', format) };
      case KFT.PKCS_8: return { kind: 'private', key: importPrivate(needBytes(material, 'PKCS#8 Key Material'), 'pkcs8', format) };
      case KFT.ECPrivateKey: return { kind: 'private', key: importPrivate(needBytes(material, 'EC Private Key Material'), 'sec1', format) };
      case KFT.TransparentRSAPrivateKey: {
        const f = fields(material, format);
        // A mismatched modulus would import and then sign garbage: check n = p·q first.
        if (needBig(f, Tag.P, 'P', format) * needBig(f, Tag.Q, 'Q', format) !== needBig(f, Tag.Modulus, 'Modulus', format)) {
          invalid('TransparentRSAPrivateKey Modulus is not P × Q');
        }
        const get = (tag: number, name: string) => b64u(bigintToBytes(needBig(f, tag, name, format)));
        // Node (OpenSSL) imports RSA private keys with their CRT parameters only, so all
        // eight fields are required here although s.2.1.7.4 lets some be omitted.
        const jwk = {
          kty: 'RSA', n: get(Tag.Modulus, 'Modulus'), e: get(Tag.PublicExponent, 'Public Exponent'),
          d: get(Tag.PrivateExponent, 'Private Exponent'), p: get(Tag.P, 'P'), q: get(Tag.Q, 'Q'),
          dp: get(Tag.PrimeExponentP, 'Prime Exponent P'), dq: get(Tag.PrimeExponentQ, 'Prime Exponent Q'),
          qi: get(Tag.CRTCoefficient, 'CRT Coefficient'),
        };
        return { kind: 'private', key: importJwk(jwk, true, format) };
      }
      case KFT.Raw:
        if (hints.algorithm === Alg.Ed25519) {
          const seed = needBytes(material, 'Raw Ed25519 Key Material');
          if (seed.length !== 32) invalid('a Raw Ed25519 private key is 32 bytes');
          // PKCS#8 wrapper of RFC 8410 §7: the 32-byte seed inside an OCTET STRING.
          const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
          return { kind: 'private', key: importPrivate(der, 'pkcs8', format) };
        }
        return unsupported('Raw private keys are supported for Ed25519 only');
      default:
        if (TRANSPARENT_EC_PRIVATE.includes(format)) {
          const f = fields(material, format);
          const info = curveInfo(f, format);
          const size = Math.ceil(info.bits / 8);
          const d = bigintToBytes(needBig(f, Tag.D, 'D', format), size);
          let point: Buffer;
          try {
            const ecdh = createECDH(info.nodeName);
            ecdh.setPrivateKey(d);
            point = ecdh.getPublicKey();
          } catch {
            return invalid(`${formatName(format)} D is not a valid private scalar for ${info.label}`);
          }
          return { kind: 'private', key: importPrivate(sec1PrivateDer(info, d, point), 'sec1', format) };
        }
        return unsupported(`Key Format Type ${formatName(format)} is not supported for private keys`);
    }
  }

  if (objectType === ObjectType.PublicKey) {
    switch (format) {
      case KFT.PKCS_1: return { kind: 'public', key: importPublic(needBytes(material, 'PKCS#1 Key Material'), 'pkcs1', format) };
      case KFT.X_509: return { kind: 'public', key: importPublic(needBytes(material, 'X.509 Key Material'), 'spki', format) };
      case KFT.TransparentRSAPublicKey: {
        const f = fields(material, format);
        const jwk = {
          kty: 'RSA', n: b64u(bigintToBytes(needBig(f, Tag.Modulus, 'Modulus', format))),
          e: b64u(bigintToBytes(needBig(f, Tag.PublicExponent, 'Public Exponent', format))),
        };
        return { kind: 'public', key: importJwk(jwk, false, format) };
      }
      case KFT.Raw:
        if (hints.algorithm === Alg.Ed25519) {
          const pub = needBytes(material, 'Raw Ed25519 Key Material');
          if (pub.length !== 32) invalid('a Raw Ed25519 public key is 32 bytes');
          return { kind: 'public', key: importJwk({ kty: 'OKP', crv: 'Ed25519', x: b64u(pub) }, false, format) };
        }
        return unsupported('Raw public keys are supported for Ed25519 only');
      default:
        if (TRANSPARENT_EC_PUBLIC.includes(format)) {
          const f = fields(material, format);
          const info = curveInfo(f, format);
          const q = f.get(Tag.QString);
          if (q === undefined) return invalid(`${formatName(format)} Key Material lacks Q String`);
          const point = uncompressedPoint(needBytes(q, `${formatName(format)} Q String`), info.nodeName, format);
          return { kind: 'public', key: importPublic(ecSpkiDer(info, point), 'spki', format) };
        }
        return unsupported(`Key Format Type ${formatName(format)} is not supported for public keys`);
    }
  }
  return unsupported(`objects of type 0x${objectType.toString(16)} have no convertible key formats`);
}

// ---------------------------------------------------------------------------
// Producing

/**
 * Produces the Key Material item (tag Key Material) of `key` in `format`.
 * KeyFormatTypeNotSupported when the key cannot be expressed in that format.
 */
export function produceKeyMaterial(key: ParsedKey, format: number): TtlvItem {
  if (key.kind === 'symmetric') {
    if (format === KFT.Raw) return bytesItem(Tag.KeyMaterial, key.bytes);
    if (format === KFT.TransparentSymmetricKey) {
      return { tag: Tag.KeyMaterial, type: 'Structure', value: [bytesItem(Tag.Key, key.bytes)] };
    }
    return unsupported(`a symmetric key cannot be returned as ${formatName(format)}`);
  }
  const t = key.key.asymmetricKeyType;
  const der = (o: { type: 'pkcs1' | 'pkcs8' | 'sec1' | 'spki'; format: 'der' }) =>
    (key.key as { export(o: { type: string; format: 'der' }): Buffer }).export(o);

  if (key.kind === 'private') {
    if (format === KFT.PKCS_8) return bytesItem(Tag.KeyMaterial, der({ type: 'pkcs8', format: 'der' }));
    if (t === 'rsa') {
      if (format === KFT.PKCS_1) return bytesItem(Tag.KeyMaterial, der({ type: 'pkcs1', format: 'der' }));
      if (format === KFT.TransparentRSAPrivateKey) {
        const j = key.key.export({ format: 'jwk' });
        // Field order of s.2.1.7.4.
        return {
          tag: Tag.KeyMaterial, type: 'Structure', value: [
            bigItem(Tag.Modulus, fromB64u(j.n)), bigItem(Tag.PrivateExponent, fromB64u(j.d)),
            bigItem(Tag.PublicExponent, fromB64u(j.e)), bigItem(Tag.P, fromB64u(j.p)), bigItem(Tag.Q, fromB64u(j.q)),
            bigItem(Tag.PrimeExponentP, fromB64u(j.dp)), bigItem(Tag.PrimeExponentQ, fromB64u(j.dq)),
            bigItem(Tag.CRTCoefficient, fromB64u(j.qi)),
          ],
        };
      }
    }
    if (t === 'ec') {
      if (format === KFT.ECPrivateKey) return bytesItem(Tag.KeyMaterial, der({ type: 'sec1', format: 'der' }));
      if (TRANSPARENT_EC_PRIVATE.includes(format)) {
        return {
          tag: Tag.KeyMaterial, type: 'Structure',
          value: [enumItem(Tag.RecommendedCurve, curveOfKey(key.key)), bigItem(Tag.D, bytesToBigint(ecPrivateScalar(key.key)))],
        };
      }
    }
    if (t === 'ed25519' && format === KFT.Raw) {
      return bytesItem(Tag.KeyMaterial, Buffer.from(key.key.export({ format: 'jwk' }).d ?? '', 'base64url'));
    }
    return unsupported(`a ${t ?? 'unknown'} private key cannot be returned as ${formatName(format)}`);
  }

  // public
  if (format === KFT.X_509) return bytesItem(Tag.KeyMaterial, der({ type: 'spki', format: 'der' }));
  if (t === 'rsa') {
    if (format === KFT.PKCS_1) return bytesItem(Tag.KeyMaterial, der({ type: 'pkcs1', format: 'der' }));
    if (format === KFT.TransparentRSAPublicKey) {
      const j = key.key.export({ format: 'jwk' });
      return {
        tag: Tag.KeyMaterial, type: 'Structure',
        value: [bigItem(Tag.Modulus, fromB64u(j.n)), bigItem(Tag.PublicExponent, fromB64u(j.e))],
      };
    }
  }
  if (t === 'ec' && TRANSPARENT_EC_PUBLIC.includes(format)) {
    return {
      tag: Tag.KeyMaterial, type: 'Structure',
      value: [enumItem(Tag.RecommendedCurve, curveOfKey(key.key)), bytesItem(Tag.QString, ecPublicPoint(key.key))],
    };
  }
  if (t === 'ed25519' && format === KFT.Raw) {
    return bytesItem(Tag.KeyMaterial, Buffer.from(key.key.export({ format: 'jwk' }).x ?? '', 'base64url'));
  }
  return unsupported(`a ${t ?? 'unknown'} public key cannot be returned as ${formatName(format)}`);
}

/** Bytes of the key in its default format (defaultFormat), for the Digest attribute. */
export function canonicalBytes(objectType: number, key: ParsedKey): { format: number; bytes: Buffer } {
  const format = defaultFormat(objectType, keyFacts(key).family);
  const item = produceKeyMaterial(key, format);
  if (item.type !== 'ByteString') throw new Error('default formats are byte strings');
  return { format, bytes: item.value };
}

/** Checks a symmetric key's length against its algorithm (s.2.1.7: material must match the attributes). */
export function checkSymmetricMaterial(alg: number, lengthBits: number, bytes: Buffer): void {
  const want = symmetricKeyBytes(alg, lengthBits);
  if (bytes.length !== want) {
    invalid(`key material is ${bytes.length} bytes; Cryptographic Length ${lengthBits} needs ${want}`);
  }
}

export { KeyMaterialError };

// ---------------------------------------------------------------------------
// X.509 certificates (Register derives the Certificate attributes of 2.1 s.4 from them)

interface DerNode { tag: number; start: number; contentStart: number; end: number }

/** Reads one DER TLV at `pos` (X.690 §8.1); definite lengths only, as DER requires. */
function derAt(buf: Buffer, pos: number, limit: number = buf.length): DerNode {
  if (pos + 2 > limit) invalid('certificate DER is truncated');
  const tag = buf[pos]!;
  let len = buf[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) invalid('certificate DER has a bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) invalid('certificate DER element runs past its parent');
  return { tag, start: pos, contentStart: p, end: p + len };
}

function derChildren(buf: Buffer, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let p = node.contentStart; p < node.end;) {
    const c = derAt(buf, p, node.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function oidString(bytes: Buffer): string {
  const parts: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) { parts.push(v); v = 0; }
  }
  const first = parts.shift() ?? 0;
  const a = first < 80 ? Math.floor(first / 40) : 2;
  return [a, first - a * 40, ...parts].join('.');
}

function derString(buf: Buffer, n: DerNode): string {
  const b = buf.subarray(n.contentStart, n.end);
  switch (n.tag) {
    case 0x1e: { // BMPString, UTF-16BE
      const le = Buffer.alloc(b.length);
      for (let i = 0; i + 1 < b.length; i += 2) { le[i] = b[i + 1]!; le[i + 1] = b[i]!; }
      return le.toString('utf16le');
    }
    case 0x14: return b.toString('latin1'); // TeletexString, commonly Latin-1 in practice
    default: return b.toString('utf8'); // UTF8String, PrintableString, IA5String
  }
}

/** Short names of the distinguished-name attributes KMIP 2.1 s.4 has a Certificate Subject/Issuer tag for. */
const DN_OIDS: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'], ['2.5.4.10', 'O'], ['2.5.4.11', 'OU'], ['1.2.840.113549.1.9.1', 'Email'], ['2.5.4.6', 'C'],
  ['2.5.4.8', 'ST'], ['2.5.4.7', 'L'], ['0.9.2342.19200300.100.1.1', 'UID'], ['2.5.4.5', 'SerialNumber'],
  ['2.5.4.12', 'Title'], ['0.9.2342.19200300.100.1.25', 'DC'], ['2.5.4.46', 'DNQualifier'],
]);

function nameFields(buf: Buffer, name: DerNode): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rdn of derChildren(buf, name)) {
    for (const atv of derChildren(buf, rdn)) {
      const [oid, val] = derChildren(buf, atv);
      if (oid === undefined || val === undefined || oid.tag !== 0x06) continue;
      const short = DN_OIDS.get(oidString(buf.subarray(oid.contentStart, oid.end)));
      if (short !== undefined) out.set(short, [...(out.get(short) ?? []), derString(buf, val)]);
    }
  }
  return out;
}

export interface CertificateInfo {
  /** OID of the certificate's signature algorithm. */
  signatureOid: string;
  serialNumber: Buffer;
  issuerDer: Buffer;
  subjectDer: Buffer;
  issuer: Map<string, string[]>;
  subject: Map<string, string[]>;
  publicKey: ParsedKey | undefined;
}

/** Parses the fields of an X.509 certificate (RFC 5280 §4.1) that KMIP exposes as attributes. */
export function parseCertificate(der: Buffer): CertificateInfo {
  const cert = derAt(der, 0);
  if (cert.tag !== 0x30 || cert.end !== der.length) invalid('Certificate Value is not a DER X.509 certificate');
  const [tbs, sigAlg] = derChildren(der, cert);
  if (tbs?.tag !== 0x30 || sigAlg?.tag !== 0x30) invalid('Certificate Value is not a DER X.509 certificate');
  const sigOid = derChildren(der, sigAlg!)[0];
  if (sigOid?.tag !== 0x06) invalid('certificate signature algorithm has no OID');
  const t = derChildren(der, tbs!);
  const fieldsAfterVersion = t[0]?.tag === 0xa0 ? t.slice(1) : t; // [0] EXPLICIT version is optional (v1)
  const [serial, , issuer, , subject, spki] = fieldsAfterVersion;
  if (serial?.tag !== 0x02 || issuer?.tag !== 0x30 || subject?.tag !== 0x30 || spki?.tag !== 0x30) {
    invalid('certificate TBSCertificate is malformed');
  }
  let publicKey: ParsedKey | undefined;
  try {
    publicKey = { kind: 'public', key: createPublicKey({ key: der.subarray(spki!.start, spki!.end), format: 'der', type: 'spki' }) };
  } catch {
    publicKey = undefined; // a key type OpenSSL does not know; the certificate itself is still valid
  }
  return {
    signatureOid: oidString(der.subarray(sigOid!.contentStart, sigOid!.end)),
    serialNumber: Buffer.from(der.subarray(serial!.contentStart, serial!.end)),
    issuerDer: Buffer.from(der.subarray(issuer!.start, issuer!.end)),
    subjectDer: Buffer.from(der.subarray(subject!.start, subject!.end)),
    issuer: nameFields(der, issuer!),
    subject: nameFields(der, subject!),
    publicKey,
  };
}
