// OpenKCM's own certificate authority for `kmipctl cert issue` (issue 7, "Admin interface";
// DESIGN.md §3): it signs client certificates whose identity — tenant, service and role — is
// embedded in a SAN URI `openkcm://tenant/<t>/service/<s>/role/<r>`, so the server can map a
// certificate it issued without a lookup table entry per fingerprint. The CA is the one the
// KMIP listener trusts (certs/ca.crt + ca.key of the development PKI, or files named in the
// configuration); its private key stays with the server process and never crosses the admin API.
import 'reflect-metadata';
import { createHash, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const IDENTITY_URI_SCHEME = 'openkcm:';

/** Names that may appear in an identity URI: the same rule the governance store applies to names. */
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class CaError extends Error {
  override readonly name = 'CaError';
}

export interface IdentityTriple {
  tenant: string;
  service: string;
  role: string;
}

/** The SAN URI carrying an identity: `openkcm://tenant/<t>/service/<s>/role/<r>`. */
export function identityUri(id: IdentityTriple): string {
  for (const [field, v] of Object.entries(id)) {
    if (!NAME.test(v)) throw new CaError(`${field} "${v}" is not a valid name (lower-case letters, digits, '.', '_', '-'; at most 63; starting with a letter or digit)`);
  }
  return `openkcm://tenant/${id.tenant}/service/${id.service}/role/${id.role}`;
}

/** The identity of an `openkcm://…` URI, or undefined when the URI is not one of ours. */
export function parseIdentityUri(uri: string): IdentityTriple | undefined {
  const m = /^openkcm:\/\/tenant\/([^/]+)\/service\/([^/]+)\/role\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const [tenant, service, role] = [m[1]!, m[2]!, m[3]!];
  if (![tenant, service, role].every((v) => NAME.test(v))) return undefined;
  return { tenant, service, role };
}

/** A core node (issue 10 §2): role `core`, bound to one region. */
export interface CoreNode {
  region: string;
  node: string;
}

/** The SAN URI of a core node certificate: `openkcm://core/region/<region>/node/<node>`. */
export function coreIdentityUri(c: CoreNode): string {
  for (const [field, v] of Object.entries(c)) {
    if (!NAME.test(v)) throw new CaError(`${field} "${v}" is not a valid name (lower-case letters, digits, '.', '_', '-'; at most 63; starting with a letter or digit)`);
  }
  return `openkcm://core/region/${c.region}/node/${c.node}`;
}

export function parseCoreIdentityUri(uri: string): CoreNode | undefined {
  const m = /^openkcm:\/\/core\/region\/([^/]+)\/node\/([^/]+)$/.exec(uri);
  if (!m || !NAME.test(m[1]!) || !NAME.test(m[2]!)) return undefined;
  return { region: m[1]!, node: m[2]! };
}

interface SigningSetup {
  importParams: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

/** WebCrypto parameters for a CA key, read from the PKCS#8 key itself. */
function signingSetup(keyPem: string): SigningSetup {
  const k = createPrivateKey(keyPem);
  if (k.asymmetricKeyType === 'ec') {
    const curve = k.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : undefined;
    if (!named) throw new CaError(`CA key on curve ${curve ?? '?'} is not supported (P-256, P-384 or P-521)`);
    const hash = named === 'P-256' ? 'SHA-256' : named === 'P-384' ? 'SHA-384' : 'SHA-512';
    return { importParams: { name: 'ECDSA', namedCurve: named }, sign: { name: 'ECDSA', hash } as webcrypto.EcdsaParams };
  }
  if (k.asymmetricKeyType === 'rsa') {
    return { importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new CaError(`CA key of type ${k.asymmetricKeyType ?? '?'} is not supported (EC or RSA)`);
}

export interface CertificateAuthority {
  cert: x509.X509Certificate;
  certPem: string;
  /** SHA-256 of the CA certificate's DER, hex. */
  fingerprint: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  sign: SigningSetup['sign'];
}

/** Opens a CA from PEM text (certificate + PKCS#8 key); checks that the key matches the certificate and may sign certificates. */
export async function openCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (e) {
    throw new CaError(`the CA certificate is not a PEM certificate: ${(e as Error).message}`);
  }
  let setup: SigningSetup;
  let der: Buffer;
  try {
    setup = signingSetup(keyPem);
    der = createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' });
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw new CaError(`the CA key is not a PEM private key: ${(e as Error).message}`);
  }
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, setup.importParams, false, ['sign']);
  const publicKey = await cert.publicKey.export(setup.importParams, ['verify']);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CaError('the CA certificate is not a CA (basicConstraints cA is not set)');
  // A key that does not belong to the certificate would issue certificates nobody trusts:
  // sign a probe and verify it with the certificate's public key.
  const probe = randomBytes(32);
  const sig = await webcrypto.subtle.sign(setup.sign, privateKey, probe);
  if (!(await webcrypto.subtle.verify(setup.sign, publicKey, sig, probe))) {
    throw new CaError('the CA key does not belong to the CA certificate');
  }
  return {
    cert, certPem: cert.toString('pem'), privateKey, publicKey, sign: setup.sign,
    fingerprint: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
  };
}

export async function loadCa(certFile: string, keyFile: string): Promise<CertificateAuthority> {
  const read = (what: string, p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw new CaError(`cannot read the CA ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return openCa(read('certificate', certFile), read('key', keyFile));
}

export interface IssueRequest extends IdentityTriple {
  /** Subject CN; default `<service>.<tenant>`. */
  commonName?: string;
  /** Lifetime in days (1 to 825; default 365). */
  days?: number;
  /** Key type of the new certificate (default ec-p256; rsa-2048 for old clients). */
  algorithm?: 'ec-p256' | 'rsa-2048';
}

/** A core node certificate (kmipctl cert issue --role core --region R [--name N]). */
export interface CoreIssueRequest {
  core: CoreNode;
  commonName?: string;
  days?: number;
  algorithm?: 'ec-p256' | 'rsa-2048';
}

export interface IssuedClientCertificate {
  certPem: string;
  keyPem: string;
  /** Serial number, lowercase hex without leading zeros stripped (as written into the certificate). */
  serial: string;
  /** SHA-256 of the DER certificate, lowercase hex (what the listener computes for the peer). */
  fingerprint: string;
  subject: string;
  uri: string;
  notBefore: string;
  notAfter: string;
}

export const MAX_CERT_DAYS = 825;

/**
 * Issues a client certificate (clientAuth EKU, which PyKMIP insists on) carrying the
 * identity URI. The private key is generated here and returned once, to be written by the
 * caller: OpenKCM keeps no copy of it.
 */
export async function issueClientCertificate(ca: CertificateAuthority, req: IssueRequest | CoreIssueRequest): Promise<IssuedClientCertificate> {
  const core = 'core' in req ? req.core : undefined;
  const uri = core ? coreIdentityUri(core) : identityUri(req as IssueRequest);
  const days = req.days ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERT_DAYS) throw new CaError(`days must be a whole number from 1 to ${MAX_CERT_DAYS}, got ${days}`);
  const cn = req.commonName ?? (core ? `${core.node}.${core.region}.core` : `${(req as IssueRequest).service}.${(req as IssueRequest).tenant}`);
  const ou = core ? `core ${core.region}` : (req as IssueRequest).tenant;
  // Commas, equals signs and the like would change the meaning of the DN string.
  if (!/^[A-Za-z0-9 ._@-]{1,64}$/.test(cn)) throw new CaError(`commonName "${cn}" may hold letters, digits, space and . _ @ - (1 to 64 characters)`);
  const rsa = req.algorithm === 'rsa-2048';
  const gen: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams = rsa
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(gen, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const serialBytes = randomBytes(16);
  serialBytes[0] = (serialBytes[0]! & 0x7f) | 0x01; // positive, and no leading zero byte to strip (RFC 5280 §4.1.2.2)
  const serial = serialBytes.toString('hex');
  const notBefore = new Date(Date.now() - 5 * 60_000); // small clock skew between hosts
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const usage = rsa
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `O=OpenKCM, OU=${ou}, CN=${cn}`,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ca.sign,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: cert.toString('pem'),
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    serial,
    fingerprint: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
    subject: cert.subject,
    uri,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
  };
}

/** Whether `certPem` was signed by this CA (signature check, not a full path validation). */
export async function issuedBy(ca: CertificateAuthority, certPem: string): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  if (cert.issuer !== ca.cert.subject) return false;
  return cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
}
