// Development PKI (issue 3 §5; certs/devpki.ts is its command-line entry — it lives under
// src/ because the CLI may not import from certs/, DESIGN.md §5): a private CA, a server certificate for localhost and
// 127.0.0.1, and one client certificate, generated with @peculiar/x509 over node's
// WebCrypto when the files are absent. For development and tests only: the CA key sits
// next to the certificates. EC P-256 by default (RSA-2048 on request, for old clients;
// EC P-384 with SHA-384 signatures for the Suite B 192-bit TLS profile, RFC 6460 §4).
// PyKMIP refuses client certificates without extendedKeyUsage clientAuth, so each leaf
// carries the one EKU its role needs.
import 'reflect-metadata';
import { webcrypto, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

// The project compiles without the DOM lib, so WebCrypto types come from node:crypto.
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type DevKeyAlgorithm = 'ec-p256' | 'ec-p384' | 'rsa-2048';
export const DEV_KEY_ALGORITHMS: readonly DevKeyAlgorithm[] = ['ec-p256', 'ec-p384', 'rsa-2048'];

export interface DevPkiOptions {
  algorithm?: DevKeyAlgorithm;
  /** Certificate lifetime in days (default 825, the longest browsers accept for leaves). */
  days?: number;
  /** Names the server certificate is valid for (default localhost, 127.0.0.1, ::1). */
  serverNames?: string[];
  clientCommonName?: string;
}

export interface DevPkiFiles {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export const devPkiFiles = (dir: string): DevPkiFiles => ({
  dir,
  caCert: join(dir, 'ca.crt'),
  caKey: join(dir, 'ca.key'),
  serverCert: join(dir, 'server.crt'),
  serverKey: join(dir, 'server.key'),
  clientCert: join(dir, 'client.crt'),
  clientKey: join(dir, 'client.key'),
});

const ALGORITHMS: Record<DevKeyAlgorithm, { gen: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams; sign: SigningAlgorithm }> = {
  'ec-p256': { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams },
  'ec-p384': { gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams },
  'rsa-2048': {
    gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

async function newKeys(alg: DevKeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHMS[alg].gen, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

const serial = () => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
  return b.toString('hex');
};

function validity(days: number) {
  const notBefore = new Date(Date.now() - 5 * 60_000); // tolerate small clock skew
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) };
}

/** The signature algorithm of a CA key of ours, from its WebCrypto description. */
function caSigning(key: CryptoKey): SigningAlgorithm | undefined {
  const a = key.algorithm as { name: string; namedCurve?: string };
  if (a.name === 'ECDSA' && a.namedCurve === 'P-384') return ALGORITHMS['ec-p384'].sign;
  if (a.name === 'ECDSA' && a.namedCurve === 'P-256') return ALGORITHMS['ec-p256'].sign;
  if (a.name === 'RSASSA-PKCS1-v1_5') return ALGORITHMS['rsa-2048'].sign;
  return undefined;
}

const isIp = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(':');

/** A self-signed CA. */
export async function createCa(commonName: string, alg: DevKeyAlgorithm = 'ec-p256', days = 825): Promise<IssuedCertificate & { cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await newKeys(alg);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `O=OpenKCM development, CN=${commonName}`,
    ...validity(days),
    keys,
    signingAlgorithm: ALGORITHMS[alg].sign,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** A leaf certificate signed by `ca`: role 'server' (serverAuth + SANs) or 'client' (clientAuth). */
export async function issueLeaf(
  ca: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  role: 'server' | 'client',
  commonName: string,
  opts: { names?: string[]; alg?: DevKeyAlgorithm; days?: number } = {},
): Promise<IssuedCertificate> {
  const alg = opts.alg ?? 'ec-p256';
  const keys = await newKeys(alg);
  const usage = alg !== 'rsa-2048'
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([role === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (opts.names && opts.names.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(opts.names.map((n) => ({ type: isIp(n) ? 'ip' : 'dns', value: n }))));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `O=OpenKCM development, CN=${commonName}`,
    issuer: ca.cert.subject,
    ...validity(opts.days ?? 825),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    // The CA's own key decides how it signs (a P-384 leaf under a P-256 CA is signed with SHA-256).
    signingAlgorithm: caSigning(ca.keys.privateKey) ?? ALGORITHMS[alg].sign,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** Everything a test or a dev server needs, in memory. */
export async function generateDevPki(opts: DevPkiOptions = {}) {
  const alg = opts.algorithm ?? 'ec-p256';
  const days = opts.days ?? 825;
  const ca = await createCa('OpenKCM Development CA', alg, days);
  const server = await issueLeaf(ca, 'server', 'localhost', { names: opts.serverNames ?? ['localhost', '127.0.0.1', '::1'], alg, days });
  const client = await issueLeaf(ca, 'client', opts.clientCommonName ?? 'openkcm-dev-client', { alg, days });
  return { ca, server, client };
}

function writeSecret(path: string, pem: string) {
  // 0600: private keys are readable by their owner only.
  writeFileSync(path, pem, { mode: 0o600 });
}

/**
 * Writes the dev PKI into `dir` unless its files are already there. Returns the file
 * paths and whether anything was generated. A partial set (some files missing) is an
 * error: regenerating would silently orphan certificates issued by the old CA.
 */
export async function ensureDevPki(dir: string, opts: DevPkiOptions = {}): Promise<{ files: DevPkiFiles; generated: boolean }> {
  const files = devPkiFiles(dir);
  const all = [files.caCert, files.caKey, files.serverCert, files.serverKey, files.clientCert, files.clientKey];
  const present = all.filter((p) => existsSync(p));
  if (present.length === all.length) return { files, generated: false };
  if (present.length > 0) {
    throw new Error(`development PKI in ${dir} is incomplete (missing ${all.filter((p) => !existsSync(p)).join(', ')}); remove the directory's certificates and keys to regenerate`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = await generateDevPki(opts);
  writeFileSync(files.caCert, pki.ca.certPem, { mode: 0o644 });
  writeSecret(files.caKey, pki.ca.keyPem);
  writeFileSync(files.serverCert, pki.server.certPem, { mode: 0o644 });
  writeSecret(files.serverKey, pki.server.keyPem);
  writeFileSync(files.clientCert, pki.client.certPem, { mode: 0o644 });
  writeSecret(files.clientKey, pki.client.keyPem);
  return { files, generated: true };
}

/** Subject, SANs and SHA-256 fingerprint of a PEM certificate (for messages and tests). */
export async function describeCertificate(pemPath: string): Promise<{ subject: string; fingerprint: string; notAfter: Date }> {
  const cert = new x509.X509Certificate(readFileSync(pemPath, 'utf8'));
  const fp = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
  return { subject: cert.subject, fingerprint: fp, notAfter: cert.notAfter };
}
