// What Certify (KMIP 2.1 s.6.1 Certify; 1.4 s.4 Certify) and Re-certify (2.1 s.6.1 Re-certify; 1.4 s.4 Re-certify) share:
// finding the issuer, reading the key to certify, issuing and storing the certificate.
//
// The issuer. KMIP leaves the choice of CA to the server; this server signs with a CA key it
// manages, which the request names in its Attributes by a Link of type Private Key Link to
// the CA's private key (the Link is the request's choice of issuer and is not stored on the
// new certificate, whose own links are Public Key Link → the certified key and Certificate
// Link → the issuer's certificate, s.4.31). The CA key must be an Active private key whose
// usage mask allows Sign or Certificate Sign. The issuer's certificate is the one linked to
// the CA key (Certificate Link on the private key, or on its public key through Public Key
// Link). Certifying the CA key's own public key makes a self-signed root — the way a CA is
// started on this server.
import { CryptographicUsageMask as CUM, LinkType, ObjectType, ResultReason, CertificateType } from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { KmipError } from '../../kmip/errors.ts';
import { byteString, child, enumeration, isStructure, optEnum, structure, type Struct } from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import { parseKeyMaterial } from '../../crypto/formats.ts';
import { assertCanProtect, assertHasValue, isDestroyed } from '../../policy/lifecycle.ts';
import { StoreConflictError } from '../../store/types.ts';
import { keyBlockOf, link, storeNewObject, withKmipErrors, attrInt } from './new-object.ts';
import { issueCertificate, samePublicKey, spkiOf } from './x509.ts';
import { prepareCertificate } from '../register.ts';
import type { OperationContext } from '../types.ts';
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import type * as x509 from '@peculiar/x509';

/** The Linked Object Identifiers of an object's links of one type, in stored order. */
export function linksOf(obj: Pick<ManagedObject, 'attributes'>, type: number): string[] {
  const out: string[] = [];
  for (const a of obj.attributes) {
    if (a.tag !== Tag.Link || !isStructure(a) || optEnum(a, Tag.LinkType) !== type) continue;
    const id = child(a, Tag.LinkedObjectIdentifier);
    if (id?.type === 'TextString') out.push(id.value);
  }
  return out;
}

/** The node key of a stored key object (the material must be one the server converts). */
export function keyObjectOf(obj: ManagedObject): KeyObject {
  assertHasValue(obj);
  const kb = keyBlockOf(obj.value);
  if (kb === undefined || child(kb, Tag.KeyWrappingData) !== undefined) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `key ${obj.uid} is not held in a form the server can use`);
  }
  const fmt = optEnum(kb, Tag.KeyFormatType);
  const kv = child(kb, Tag.KeyValue);
  const km = isStructure(kv) ? child(kv, Tag.KeyMaterial) : undefined;
  if (fmt === undefined || km === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, `key ${obj.uid} has no key material`);
  const parsed = withKmipErrors(() => parseKeyMaterial(obj.objectType, fmt, km));
  if (parsed.kind === 'symmetric') throw new KmipError(ResultReason.InvalidObjectType, `key ${obj.uid} is not an asymmetric key`);
  return parsed.key;
}

export interface Issuer {
  key: KeyObject;
  keyUid: string;
  /** The issuer's certificate: DER and Unique Identifier. */
  cert?: { der: Buffer; uid: string };
}

/** The Private Key Link of the request's Attributes, taken out of them (it names the issuer, s. header). */
export function takeIssuerLink(attrs: TtlvItem[]): string | undefined {
  let uid: string | undefined;
  for (let i = attrs.length - 1; i >= 0; i--) {
    const a = attrs[i]!;
    if (a.tag !== Tag.Link || !isStructure(a) || optEnum(a, Tag.LinkType) !== LinkType.PrivateKeyLink) continue;
    const id = child(a, Tag.LinkedObjectIdentifier);
    if (id?.type !== 'TextString') throw new KmipError(ResultReason.InvalidField, 'the issuer Link must name the CA private key by a Text String identifier');
    if (uid !== undefined) throw new KmipError(ResultReason.InvalidField, 'name one issuer: the Attributes carry two Private Key Links');
    uid = id.value;
    attrs.splice(i, 1);
  }
  return uid;
}

const certDer = (obj: ManagedObject): Buffer | undefined => {
  if (obj.objectType !== ObjectType.Certificate || isDestroyed(obj.state) || !isStructure(obj.value)) return undefined;
  const v = child(obj.value, Tag.CertificateValue);
  return v?.type === 'ByteString' ? v.value : undefined;
};

/** Loads the CA: its private key (Active, allowed to sign) and, unless `selfSigned`, its certificate. */
export async function loadIssuer(ctx: OperationContext, keyUid: string, subjectSpki: Buffer): Promise<{ issuer: Issuer; selfSigned: boolean }> {
  const priv = await ctx.objects.load(keyUid);
  if (priv === undefined || priv.objectType !== ObjectType.PrivateKey) {
    throw new KmipError(ResultReason.InvalidField, `the issuer ${keyUid} is not a private key of this server`);
  }
  assertCanProtect(priv, ctx.now());
  const mask = attrInt(priv.attributes, Tag.CryptographicUsageMask) ?? 0;
  if ((mask & (CUM.Sign | CUM.CertificateSign)) === 0) {
    throw new KmipError(ResultReason.IncompatibleCryptographicUsageMask, `the issuer key ${keyUid} may not sign (its usage mask has neither Sign nor Certificate Sign)`);
  }
  const key = keyObjectOf(priv);
  const selfSigned = spkiOf(createPublicKey(key)).equals(subjectSpki);
  if (selfSigned) return { issuer: { key, keyUid }, selfSigned };
  const candidates = [...linksOf(priv, LinkType.CertificateLink)];
  for (const pubUid of linksOf(priv, LinkType.PublicKeyLink)) {
    const pub = await ctx.objects.load(pubUid);
    if (pub !== undefined) candidates.push(...linksOf(pub, LinkType.CertificateLink));
  }
  // The newest certificate of the CA key (a renewed CA certificate is linked last).
  for (const uid of candidates.reverse()) {
    const c = await ctx.objects.load(uid);
    const der = c === undefined ? undefined : certDer(c);
    if (der !== undefined) {
      if (samePublicKey(new X509Certificate(der).publicKey, key)) return { issuer: { key, keyUid, cert: { der, uid } }, selfSigned };
    }
  }
  throw new KmipError(ResultReason.InvalidField, `the issuer key ${keyUid} has no certificate on this server; certify its own public key first (self-signed root)`);
}

export interface NewCertificate {
  subjectSpki: Buffer;
  subject: x509.JsonName | Buffer;
  issuer: Issuer;
  selfSigned: boolean;
  notBefore: Date;
  notAfter: Date;
  requested?: x509.Extension[];
  /** Client attributes of the new certificate, already checked. */
  attributes: TtlvItem[];
  /** Links and inherited attributes to add. */
  extra: TtlvItem[];
}

/** Issues the certificate and stores it as a Certificate object (its attributes derived as Register derives them). */
export async function storeCertificate(ctx: OperationContext, n: NewCertificate): Promise<ManagedObject> {
  if (n.notAfter <= n.notBefore) throw new KmipError(ResultReason.InvalidField, 'the certificate would expire before it starts');
  const der = await issueCertificate({
    subjectSpki: n.subjectSpki, subject: n.subject, issuerKey: n.issuer.key, notBefore: n.notBefore, notAfter: n.notAfter,
    selfSigned: n.selfSigned,
    ...(n.issuer.cert !== undefined ? { issuerCert: n.issuer.cert.der } : {}),
    ...(n.requested !== undefined ? { requested: n.requested } : {}),
  });
  const value = structure(Tag.Certificate, [enumeration(Tag.CertificateType, CertificateType.X_509), byteString(Tag.CertificateValue, der)]);
  const prepared = prepareCertificate(value, n.attributes);
  const links: TtlvItem[] = n.issuer.cert !== undefined ? [link(LinkType.CertificateLink, n.issuer.cert.uid)] : [];
  return storeNewObject(ctx, {
    objectType: ObjectType.Certificate, attributes: [...n.attributes, ...links, ...n.extra], value, derived: prepared.derived, generated: false,
  });
}

/** Adds a Link to an object (Certificate Link from a public key to its new certificate), retrying on a concurrent update. */
export async function addLink(ctx: OperationContext, uid: string, type: number, target: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const obj = await ctx.objects.load(uid);
    if (obj === undefined) return;
    obj.attributes.push(link(type, target));
    try {
      await ctx.objects.save(obj);
      return;
    } catch (e) {
      if (!(e instanceof StoreConflictError) || attempt >= 2) throw e;
    }
  }
}
