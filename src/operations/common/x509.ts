// X.509 issuing and checking for Certify / Re-certify (KMIP 2.1 s.6.1 Certify, s.6.1 Re-certify) and
// Validate (s.6.1 Validate), over @peculiar/x509 and node's WebCrypto. src/crypto takes no npm
// package (DESIGN.md §5), so this lives with the operations that need it.
import 'reflect-metadata';
import { X509Certificate as NodeX509, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateRequestType, ResultReason } from '../../ttlv/generated/enumerations.ts';
import { KmipError } from '../../kmip/errors.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

interface SigningSetup {
  importParams: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

const CURVES: Record<string, [string, string]> = {
  prime256v1: ['P-256', 'SHA-256'], secp384r1: ['P-384', 'SHA-384'], secp521r1: ['P-521', 'SHA-512'],
};

/** How the issuer's key signs: ECDSA on the NIST curves, RSA PKCS#1 v1.5 with SHA-256, Ed25519. */
function signingSetup(key: KeyObject): SigningSetup {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } };
    case 'ec': {
      const c = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (c === undefined) {
        throw new KmipError(ResultReason.InvalidField, `the issuer's key is on curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'}; certificates are signed on P-256, P-384 or P-521`);
      }
      return { importParams: { name: 'ECDSA', namedCurve: c[0] }, sign: { name: 'ECDSA', hash: c[1] } as webcrypto.EcdsaParams };
    }
    case 'ed25519':
      return { importParams: { name: 'Ed25519' }, sign: { name: 'Ed25519' } };
    default:
      throw new KmipError(ResultReason.InvalidField, `the issuer's key (${key.asymmetricKeyType ?? '?'}) cannot sign certificates (RSA, EC or Ed25519)`);
  }
}

/** A certificate request as KMIP carries it (Certificate Request Type s.11.8: PKCS#10 DER or PEM; CRMF is not offered). */
export async function parseCsr(type: number, value: Buffer): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    if (type === CertificateRequestType.PKCS_10) csr = new x509.Pkcs10CertificateRequest(value);
    else if (type === CertificateRequestType.PEM) csr = new x509.Pkcs10CertificateRequest(value.toString('utf8'));
    else if (type === CertificateRequestType.CRMF) throw new KmipError(ResultReason.InvalidField, 'CRMF certificate requests are not supported; send PKCS#10 (DER or PEM)');
    else throw new KmipError(ResultReason.InvalidField, `unknown Certificate Request Type 0x${type.toString(16)}`);
  } catch (e) {
    if (e instanceof KmipError) throw e;
    throw new KmipError(ResultReason.InvalidCSR, 'the certificate request is not a readable PKCS#10 request');
  }
  // The request's signature proves possession of the private key (RFC 2986 §3).
  if (!(await csr.verify().catch(() => false))) throw new KmipError(ResultReason.InvalidCSR, "the certificate request's signature does not verify");
  return csr;
}

export interface IssueInput {
  /** SubjectPublicKeyInfo DER of the key to certify. */
  subjectSpki: Buffer;
  /** Subject name: attribute type (short name or OID) → values, in RDN order; or the DER of a Name. */
  subject: x509.JsonName | Buffer;
  /** The issuer's certificate DER; undefined for a self-signed certificate. */
  issuerCert?: Buffer;
  issuerKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Extensions the request asks for that a CA may honour (subject alternative names, key usages). */
  requested?: x509.Extension[];
  /** A self-signed certificate is a CA root. */
  selfSigned: boolean;
}

/** Extensions copied from a CSR: names and usages only — never Basic Constraints (a client does not make itself a CA). */
export function requestedExtensions(csr: x509.Pkcs10CertificateRequest): x509.Extension[] {
  const keep = new Set(['2.5.29.17', '2.5.29.15', '2.5.29.37']); // subjectAltName, keyUsage, extKeyUsage
  return csr.extensions.filter((e) => keep.has(e.type));
}

/** Issues an X.509 v3 certificate (RFC 5280) with a random 128-bit serial number. */
export async function issueCertificate(input: IssueInput): Promise<Buffer> {
  const setup = signingSetup(input.issuerKey);
  const der = input.issuerKey.export({ format: 'der', type: 'pkcs8' });
  let signingKey: CryptoKey;
  try {
    signingKey = await webcrypto.subtle.importKey('pkcs8', der, setup.importParams, false, ['sign']);
  } finally {
    der.fill(0);
  }
  const subjectKey = new x509.PublicKey(input.subjectSpki);
  const issuer = input.issuerCert === undefined ? undefined : new x509.X509Certificate(input.issuerCert);
  const subject = Buffer.isBuffer(input.subject) ? new x509.Name(input.subject) : new x509.Name(input.subject);
  const extensions: x509.Extension[] = [];
  if (input.selfSigned) {
    extensions.push(new x509.BasicConstraintsExtension(true, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true));
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    extensions.push(...(input.requested ?? []));
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(subjectKey));
  if (issuer !== undefined) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer));
  // Serial: positive, 16 random bytes (RFC 5280 §4.1.2.2 allows up to 20 octets).
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  serial[0]! |= 0x01;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject,
    issuer: issuer === undefined ? subject : issuer.subjectName,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    publicKey: subjectKey,
    signingKey,
    signingAlgorithm: setup.sign,
    extensions,
  });
  return Buffer.from(cert.rawData);
}

/** The SubjectPublicKeyInfo DER of a node public key. */
export const spkiOf = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' });

/** Subject name of a CSR, DER. */
export const csrSubjectDer = (csr: x509.Pkcs10CertificateRequest): Buffer => Buffer.from(csr.subjectName.toArrayBuffer());

/** SubjectPublicKeyInfo DER of a CSR. */
export const csrSpki = (csr: x509.Pkcs10CertificateRequest): Buffer => Buffer.from(csr.publicKey.rawData);

export type { JsonName } from '@peculiar/x509';

/** Subject name of a certificate, DER. */
export function subjectDerOf(certDer: Buffer): Buffer {
  return Buffer.from(new x509.X509Certificate(certDer).subjectName.toArrayBuffer());
}

/** Do these two keys form a pair (the public key is the private key's)? */
export function samePublicKey(pub: KeyObject, priv: KeyObject): boolean {
  return spkiOf(pub).equals(spkiOf(createPublicKey(priv)));
}

export type ChainVerdict = { valid: true } | { valid: false; why: string };

/**
 * Certificate path validation for Validate (s.6.1 Validate): the certificates in order from the
 * end entity towards the root; each is signed by the next and within its validity at
 * `at`, every issuer is a CA (Basic Constraints), and the chain ends in a self-signed
 * certificate that verifies itself. RFC 5280 §6 with the server's own certificates as the
 * trust anchors the client names; revocation is not checked (the answer says so).
 */
export function validateChain(ders: readonly Buffer[], at: Date): ChainVerdict {
  let certs: NodeX509[];
  try {
    certs = ders.map((d) => new NodeX509(d));
  } catch {
    return { valid: false, why: 'a certificate is not a readable X.509 certificate' };
  }
  for (let i = 0; i < certs.length; i++) {
    const c = certs[i]!;
    if (at < new Date(c.validFrom) || at > new Date(c.validTo)) return { valid: false, why: `certificate ${i} is not valid at ${at.toISOString()}` };
    const issuer = certs[i + 1] ?? c;
    if (i + 1 < certs.length || c.checkIssued(c)) {
      if (!c.checkIssued(issuer)) return { valid: false, why: `certificate ${i} was not issued by certificate ${i + 1}` };
      if (!c.verify(issuer.publicKey)) return { valid: false, why: `the signature of certificate ${i} does not verify` };
    } else {
      return { valid: false, why: 'the chain does not end in a self-signed root' };
    }
    if (i + 1 < certs.length && !issuer.ca) return { valid: false, why: `certificate ${i + 1} is not a CA` };
  }
  return { valid: true };
}
