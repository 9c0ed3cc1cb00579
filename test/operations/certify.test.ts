// Certify and Re-certify (KMIP 2.1 s.6.1 Certify, s.6.1 Re-certify) through a real store: a CA started by
// certifying its own public key (self-signed root), certificates for held public keys and for
// PKCS#10 requests (in the payload or registered as Certificate Request objects), checked
// with node's X509Certificate (issuer, signature, subject, validity), the links of s.4.31,
// renewal, and the refusals.
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CertificateRequestType, CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, LinkType, ObjectType, RecommendedCurve, ResultReason,
  ValidityIndicator,
} from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { byteString, child, dateTime, enumeration, integer, interval, isStructure, optEnum, structure, textString, type Struct } from '../../src/kmip/items.ts';
import type { ManagedObject } from '../../src/kmip/object.ts';
import { createKeyPair } from '../../src/operations/create-key-pair.ts';
import { activate } from '../../src/operations/activate.ts';
import { certify } from '../../src/operations/certify.ts';
import { reCertify } from '../../src/operations/re-certify.ts';
import { register } from '../../src/operations/register.ts';
import { get } from '../../src/operations/get.ts';
import { validate } from '../../src/operations/validate.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const text = (s: Struct, tag: number) => (child(s, tag) as { value: string }).value;
const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, 1)]);
const lnk = (type: number, uid: string) => structure(Tag.Link, [enumeration(Tag.LinkType, type), textString(Tag.LinkedObjectIdentifier, uid)]);
const issuedBy = (caPriv: string) => lnk(LinkType.PrivateKeyLink, caPriv);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

async function keyPair(alg: TtlvItem[], privName: string, privMask: number = CUM.Sign, activateIt = true): Promise<{ priv: string; pub: string }> {
  const r = await createKeyPair.run(t.ctx, P(
    structure(Tag.CommonAttributes, alg),
    structure(Tag.PrivateKeyAttributes, [name(privName), integer(Tag.CryptographicUsageMask, privMask)]),
    structure(Tag.PublicKeyAttributes, [name(`${privName}-pub`), integer(Tag.CryptographicUsageMask, CUM.Verify)]),
  ));
  const priv = text(r, Tag.PrivateKeyUniqueIdentifier);
  if (activateIt) await activate.run(t.ctx, P(UID(priv)));
  return { priv, pub: text(r, Tag.PublicKeyUniqueIdentifier) };
}
const EC256 = [enumeration(Tag.CryptographicAlgorithm, Alg.EC), structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)])];
const RSA2048 = [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)];

async function certOf(uid: string): Promise<X509Certificate> {
  const g = await get.run(t.ctx, P(UID(uid)));
  const c = child(g, Tag.Certificate) as Struct;
  return new X509Certificate((child(c, Tag.CertificateValue) as { value: Buffer }).value);
}
const links = (o: ManagedObject, type: number) => o.attributes
  .filter((a) => a.tag === Tag.Link && isStructure(a) && optEnum(a, Tag.LinkType) === type)
  .map((a) => text(a as Struct, Tag.LinkedObjectIdentifier));

async function failsWith(h: OperationHandler, payload: Struct, r: number): Promise<string> {
  const err = await h.run(t.ctx, payload).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KmipError);
  expect((err as KmipError).reason).toBe(r);
  return (err as KmipError).message;
}

/** A CA: EC P-256 key pair and its self-signed root. */
async function startCa(): Promise<{ priv: string; pub: string; root: string }> {
  const ca = await keyPair(EC256, 'ca', CUM.Sign | CUM.CertificateSign);
  const root = text(await certify.run(t.ctx, P(UID(ca.pub), structure(Tag.Attributes, [issuedBy(ca.priv), textString(Tag.CertificateSubjectCN, 'OpenKCM Test CA'), textString(Tag.CertificateSubjectO, 'OpenKCM')]))), Tag.UniqueIdentifier);
  return { ...ca, root };
}

async function csrFor(cn: string): Promise<Buffer> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `${cn}.example` }]), new x509.BasicConstraintsExtension(true)],
  });
  return Buffer.from(csr.rawData);
}

describe('Certify', () => {
  it('starts a CA with a self-signed root and certifies a held public key under it', async () => {
    const ca = await startCa();
    const root = await certOf(ca.root);
    expect(root.subject).toContain('CN=OpenKCM Test CA');
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(links((await t.repo.load(ca.pub))!, LinkType.CertificateLink)).toEqual([ca.root]);

    const app = await keyPair(RSA2048, 'app-key');
    const res = await certify.run(t.ctx, P(UID(app.pub), structure(Tag.Attributes, [issuedBy(ca.priv), name('app-cert')])));
    const uid = text(res, Tag.UniqueIdentifier);
    expect(t.ctx.batch.idPlaceholder).toBe(uid);
    const cert = await certOf(uid);
    expect(cert.subject).toBe('CN=app-key-pub');
    expect(cert.checkIssued(root)).toBe(true);
    expect(cert.verify(root.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const days = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / 86400000;
    expect(Math.round(days)).toBe(365);

    const stored = (await t.repo.load(uid))!;
    expect(stored.objectType).toBe(ObjectType.Certificate);
    expect(links(stored, LinkType.PublicKeyLink)).toEqual([app.pub]);
    expect(links(stored, LinkType.CertificateLink)).toEqual([ca.root]);
    expect(links(stored, LinkType.PrivateKeyLink)).toEqual([]); // the issuer Link chooses, it is not stored
    expect(stored.attributes).toContainEqual(textString(Tag.CertificateSubjectCN, 'app-key-pub'));
    expect(stored.attributes).toContainEqual(textString(Tag.CertificateIssuerCN, 'OpenKCM Test CA'));
    expect(links((await t.repo.load(app.pub))!, LinkType.CertificateLink)).toEqual([uid]);
  });

  it('certifies a PKCS#10 request in the payload and as a registered Certificate Request object', async () => {
    const ca = await startCa();
    const der = await csrFor('service-a');
    const uid = text(await certify.run(t.ctx, P(
      enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10), byteString(Tag.CertificateRequestValue, der),
      structure(Tag.Attributes, [issuedBy(ca.priv), dateTime(Tag.DeactivationDate, BigInt(Math.floor(Date.now() / 1000) + 30 * 86400))]),
    )), Tag.UniqueIdentifier);
    const cert = await certOf(uid);
    expect(cert.subject).toBe('CN=service-a');
    expect(cert.subjectAltName).toBe('DNS:service-a.example');
    expect(cert.ca).toBe(false); // the request's Basic Constraints cA is not honoured
    expect(cert.verify((await certOf(ca.root)).publicKey)).toBe(true);
    expect(Math.round((new Date(cert.validTo).getTime() - Date.now()) / 86400000)).toBe(30);

    const pem = new x509.Pkcs10CertificateRequest(await csrFor('service-b')).toString('pem');
    const reqUid = text(await register.run(t.ctx, P(enumeration(Tag.ObjectType, ObjectType.CertificateRequest), structure(Tag.Attributes, []),
      structure(Tag.CertificateRequest, [enumeration(Tag.CertificateRequestType, CertificateRequestType.PEM), byteString(Tag.CertificateRequestValue, Buffer.from(pem))]))), Tag.UniqueIdentifier);
    const fromObj = text(await certify.run(t.ctx, P(UID(reqUid), structure(Tag.Attributes, [issuedBy(ca.priv)]))), Tag.UniqueIdentifier);
    expect((await certOf(fromObj)).subject).toBe('CN=service-b');
  });

  it('refuses a tampered request, a missing or unusable issuer, and objects that cannot be certified', async () => {
    const ca = await startCa();
    const der = await csrFor('tampered');
    der[der.length - 5]! ^= 0xff; // inside the signature
    await failsWith(certify, P(enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10), byteString(Tag.CertificateRequestValue, der),
      structure(Tag.Attributes, [issuedBy(ca.priv)])), ResultReason.InvalidCSR);
    await failsWith(certify, P(enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10), byteString(Tag.CertificateRequestValue, Buffer.from('junk')),
      structure(Tag.Attributes, [issuedBy(ca.priv)])), ResultReason.InvalidCSR);
    await failsWith(certify, P(enumeration(Tag.CertificateRequestType, CertificateRequestType.CRMF), byteString(Tag.CertificateRequestValue, Buffer.from('x')),
      structure(Tag.Attributes, [issuedBy(ca.priv)])), ResultReason.InvalidField);
    const app = await keyPair(EC256, 'app2');
    expect(await failsWith(certify, P(UID(app.pub), structure(Tag.Attributes, [])), ResultReason.InvalidField)).toMatch(/issuer/);
    // A key pair without a certificate cannot issue (except for itself).
    expect(await failsWith(certify, P(UID(app.pub), structure(Tag.Attributes, [issuedBy((await keyPair(EC256, 'noroot')).priv)])), ResultReason.InvalidField)).toMatch(/self-signed/);
    const verifyOnly = await keyPair(EC256, 'verify-only', CUM.Decrypt);
    await failsWith(certify, P(UID(verifyOnly.pub), structure(Tag.Attributes, [issuedBy(verifyOnly.priv)])), ResultReason.IncompatibleCryptographicUsageMask);
    const inactive = await keyPair(EC256, 'inactive', CUM.Sign, false);
    await failsWith(certify, P(UID(inactive.pub), structure(Tag.Attributes, [issuedBy(inactive.priv)])), ResultReason.WrongKeyLifecycleState);
    await failsWith(certify, P(UID(ca.priv), structure(Tag.Attributes, [issuedBy(ca.priv)])), ResultReason.InvalidObjectType);
    await failsWith(certify, P(UID('missing'), structure(Tag.Attributes, [issuedBy(ca.priv)])), ResultReason.ObjectNotFound);
  });
});

describe('Re-certify', () => {
  it('renews with the same key and subject, a new validity, and links old and new', async () => {
    const ca = await startCa();
    const app = await keyPair(EC256, 'renew');
    const first = text(await certify.run(t.ctx, P(UID(app.pub), structure(Tag.Attributes, [issuedBy(ca.priv), name('renew-cert')]))), Tag.UniqueIdentifier);
    const res = await reCertify.run(t.ctx, P(UID(first), interval(Tag.Offset, 3600)));
    const second = text(res, Tag.UniqueIdentifier);
    expect(t.ctx.batch.idPlaceholder).toBe(second);
    const [a, b] = [await certOf(first), await certOf(second)];
    expect(b.subject).toBe(a.subject);
    expect(b.serialNumber).not.toBe(a.serialNumber);
    expect(b.publicKey.export({ format: 'der', type: 'spki' }).equals(a.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    expect(b.verify((await certOf(ca.root)).publicKey)).toBe(true);
    expect(new Date(b.validFrom).getTime()).toBeGreaterThan(new Date(a.validFrom).getTime() + 3000 * 1000);
    const oldObj = (await t.repo.load(first))!;
    const newObj = (await t.repo.load(second))!;
    expect(links(oldObj, LinkType.ReplacementObjectLink)).toEqual([second]);
    expect(links(newObj, LinkType.ReplacedObjectLink)).toEqual([first]);
    expect(links(newObj, LinkType.PublicKeyLink)).toEqual([app.pub]);
    expect(newObj.attributes).toContainEqual(name('renew-cert'));
    expect(oldObj.attributes.some((x) => x.tag === Tag.Name)).toBe(false);
    expect(newObj.attributes.some((x) => x.tag === Tag.ActivationDate)).toBe(true);
    expect(links((await t.repo.load(app.pub))!, LinkType.CertificateLink)).toEqual([first, second]);
  });

  it('renews the self-signed root with its own key, and refuses a request for another key', async () => {
    const ca = await startCa();
    const renewed = text(await reCertify.run(t.ctx, P(UID(ca.root))), Tag.UniqueIdentifier);
    const c = await certOf(renewed);
    expect(c.ca).toBe(true);
    expect(c.verify(c.publicKey)).toBe(true);
    await failsWith(reCertify, P(UID(ca.root), enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10),
      byteString(Tag.CertificateRequestValue, await csrFor('other'))), ResultReason.InvalidCSR);
    await failsWith(reCertify, P(UID(ca.pub)), ResultReason.InvalidObjectType);
  });
});

describe('Validate', () => {
  const V = async (...items: TtlvItem[]) => optEnum(await validate.run(t.ctx, P(...items)), Tag.ValidityIndicator);
  const certItem = async (uid: string) => child((await get.run(t.ctx, P(UID(uid)))), Tag.Certificate)!;

  it('Valid for a chain anchored in a root the server holds, in any order, by identifier or by value', async () => {
    const ca = await startCa();
    const app = await keyPair(EC256, 'v-app');
    const leaf = text(await certify.run(t.ctx, P(UID(app.pub), structure(Tag.Attributes, [issuedBy(ca.priv)]))), Tag.UniqueIdentifier);
    expect(await V(UID(leaf), UID(ca.root))).toBe(ValidityIndicator.Valid);
    expect(await V(UID(ca.root), UID(leaf))).toBe(ValidityIndicator.Valid);
    expect(await V(await certItem(leaf), UID(ca.root))).toBe(ValidityIndicator.Valid);
    expect(await V(await certItem(leaf), await certItem(ca.root))).toBe(ValidityIndicator.Valid);
    expect(await V(UID(ca.root))).toBe(ValidityIndicator.Valid);
    // Outside the validity: before it started, after it ended.
    expect(await V(UID(leaf), UID(ca.root), dateTime(Tag.ValidityDate, BigInt(Math.floor(Date.now() / 1000) - 86400)))).toBe(ValidityIndicator.Invalid);
    expect(await V(UID(leaf), UID(ca.root), dateTime(Tag.ValidityDate, BigInt(Math.floor(Date.now() / 1000) + 400 * 86400)))).toBe(ValidityIndicator.Invalid);
  });

  it('Invalid for a broken chain or a leaf alone; Unknown for a sound chain whose root the server does not hold', async () => {
    const ca = await startCa();
    const other = await keyPair(EC256, 'other-ca', CUM.Sign | CUM.CertificateSign);
    const otherRoot = text(await certify.run(t.ctx, P(UID(other.pub), structure(Tag.Attributes, [issuedBy(other.priv)]))), Tag.UniqueIdentifier);
    const app = await keyPair(EC256, 'v-app2');
    const leaf = text(await certify.run(t.ctx, P(UID(app.pub), structure(Tag.Attributes, [issuedBy(ca.priv)]))), Tag.UniqueIdentifier);
    expect(await V(UID(leaf), UID(otherRoot))).toBe(ValidityIndicator.Invalid); // not one chain
    expect(await V(UID(leaf))).toBe(ValidityIndicator.Invalid); // no root
    // A CA made outside the server: sound chain, unknown anchor.
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const ext = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=Outside', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
    const outside = structure(Tag.Certificate, [enumeration(Tag.CertificateType, 1), byteString(Tag.CertificateValue, Buffer.from(ext.rawData))]);
    expect(await V(outside)).toBe(ValidityIndicator.Unknown);
    const bad = Buffer.from(ext.rawData);
    bad[bad.length - 3]! ^= 0xff;
    expect(await V(structure(Tag.Certificate, [enumeration(Tag.CertificateType, 1), byteString(Tag.CertificateValue, bad)]))).toBe(ValidityIndicator.Invalid);
    await failsWith(validate, P(), ResultReason.InvalidField);
    await failsWith(validate, P(UID(app.pub)), ResultReason.InvalidObjectType);
  });
});
