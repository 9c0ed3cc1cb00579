// Re-certify (KMIP 2.1 s.6.1 Re-certify; 1.4 s.4 Re-certify): renews a certificate the server issued. The new
// certificate has the old one's subject and public key, is signed by the same CA key (the
// issuer is the Private Key Link of the request's Attributes, as for Certify, or else the CA
// key of the old certificate's issuer certificate), and a new validity: it starts now, or
// Offset seconds from now (s.6.1 Re-certify), and lasts as long as the old one did, unless the
// Attributes give a Deactivation Date. Old and new are linked (Replacement Object Link /
// Replaced Object Link, s.4.31), the names move to the new certificate and it inherits the
// old one's client attributes, as with Re-key. A certificate request in the payload is
// accepted only for the same public key: Re-certify renews, it does not re-key. The old
// certificate's extensions (subject alternative names, key usages) are not carried over.
import { X509Certificate } from 'node:crypto';
import { LinkType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, isStructure, optBytes, optEnum, structure, textString, type Struct } from '../kmip/items.ts';
import { checkClientAttributes, setAttr } from '../policy/attributes.ts';
import { assertHasValue, dateAttr } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, recordResult, resolveUid } from './uid.ts';
import { attributesOf, checkProtectionStorageMasks, link } from './common/new-object.ts';
import { applyTemplates } from './common/templates.ts';
import { addLink, linksOf, loadIssuer, storeCertificate, takeIssuerLink } from './common/certify-core.ts';
import { csrSpki, parseCsr, spkiOf, subjectDerOf } from './common/x509.ts';
import { inheritedAttributes, namesForReplacement, offsetOf, retire } from './re-key.ts';
import type { OperationContext } from './types.ts';

/** The CA key behind an issuer certificate: its public key's private key (Public Key Link → Private Key Link). */
async function caKeyOf(ctx: OperationContext, issuerCertUid: string): Promise<string | undefined> {
  const cert = await ctx.objects.load(issuerCertUid);
  if (cert === undefined) return undefined;
  for (const pubUid of linksOf(cert, LinkType.PublicKeyLink)) {
    const pub = await ctx.objects.load(pubUid);
    const priv = pub === undefined ? undefined : linksOf(pub, LinkType.PrivateKeyLink)[0];
    if (priv !== undefined) return priv;
  }
  return undefined;
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  const payload = await applyTemplates(ctx, request);
  checkProtectionStorageMasks(payload);
  const uid = resolveUid(ctx, payload);
  const offset = offsetOf(payload);
  const requested = [...(attributesOf(payload)?.value ?? [])];
  let issuerUid = takeIssuerLink(requested);
  checkClientAttributes(requested, 'create', { objectType: ObjectType.Certificate });

  const old = await loadObject(ctx, uid);
  if (old.objectType !== ObjectType.Certificate) throw new KmipError(ResultReason.InvalidObjectType, `object ${uid} is not a Certificate`);
  assertHasValue(old);
  const der = isStructure(old.value) ? optBytes(old.value, Tag.CertificateValue) : undefined;
  if (der === undefined) throw new KmipError(ResultReason.KeyValueNotPresent, `certificate ${uid} has no value`);
  let oldCert: X509Certificate;
  try {
    oldCert = new X509Certificate(der);
  } catch {
    throw new KmipError(ResultReason.InvalidObjectType, `certificate ${uid} is not an X.509 certificate`);
  }
  const spki = spkiOf(oldCert.publicKey);

  const csrValue = optBytes(payload, Tag.CertificateRequestValue);
  if (csrValue !== undefined || child(payload, Tag.CertificateRequestType) !== undefined) {
    const type = optEnum(payload, Tag.CertificateRequestType);
    if (type === undefined || csrValue === undefined) throw new KmipError(ResultReason.InvalidField, 'a certificate request needs both Certificate Request Type and Value');
    if (!csrSpki(await parseCsr(type, csrValue)).equals(spki)) {
      throw new KmipError(ResultReason.InvalidCSR, 'the certificate request is for another public key; Re-certify renews the same key (use Certify for a new one)');
    }
  }

  if (issuerUid === undefined) {
    const issuerCert = linksOf(old, LinkType.CertificateLink)[0];
    // A self-signed CA certificate renews with its own key.
    const selfKey = oldCert.checkIssued(oldCert) ? await caKeyOf(ctx, old.uid) : undefined;
    issuerUid = selfKey ?? (issuerCert === undefined ? undefined : await caKeyOf(ctx, issuerCert));
  }
  if (issuerUid === undefined) {
    throw new KmipError(ResultReason.InvalidField, "the CA key of this certificate is not known here; name it with a Link of type Private Key Link in the Attributes");
  }
  const { issuer, selfSigned } = await loadIssuer(ctx, issuerUid, spki);

  const now = ctx.now();
  const lifetime = new Date(oldCert.validTo).getTime() - new Date(oldCert.validFrom).getTime();
  const notBefore = new Date(now.getTime() + (offset ?? 0) * 1000);
  const until = dateAttr(requested, Tag.DeactivationDate);
  const notAfter = until === undefined ? new Date(notBefore.getTime() + lifetime) : new Date(Number(until) * 1000);

  const names = await namesForReplacement(ctx, old, requested);
  const attrs = inheritedAttributes(old, requested.filter((a) => a.tag !== Tag.Name));
  // The derived certificate attributes are set anew from the new certificate.
  const fresh: TtlvItem[] = attrs.filter((a) => !DERIVED.has(a.tag));
  const pubLinks = linksOf(old, LinkType.PublicKeyLink).map((p) => link(LinkType.PublicKeyLink, p));
  const cert = await storeCertificate(ctx, {
    subjectSpki: spki, subject: subjectDerOf(der), issuer, selfSigned, notBefore, notAfter,
    attributes: fresh, extra: [...names, link(LinkType.ReplacedObjectLink, old.uid), ...pubLinks],
  });
  if (offset !== undefined) {
    // s.6.1 Re-certify: the new certificate becomes active at the offset.
    const c = (await ctx.objects.load(cert.uid))!;
    setAttr(c.attributes, { tag: Tag.ActivationDate, type: 'DateTime', value: BigInt(Math.floor(notBefore.getTime() / 1000)) });
    await ctx.objects.save(c);
  }
  await retire(ctx, old, cert.uid);
  for (const p of linksOf(old, LinkType.PublicKeyLink)) await addLink(ctx, p, LinkType.CertificateLink, cert.uid);
  recordResult(ctx, Operation.ReCertify, [cert.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, cert.uid)]);
}

/** Attributes Register derives from a certificate (register.ts prepareCertificate) and its key. */
const DERIVED: ReadonlySet<number> = new Set([
  Tag.CertificateType, Tag.CertificateLength, Tag.DigitalSignatureAlgorithm, Tag.X_509CertificateIdentifier,
  Tag.X_509CertificateSubject, Tag.X_509CertificateIssuer, Tag.CryptographicAlgorithm, Tag.CryptographicLength,
]);

export const reCertify = defineOperation(Operation.ReCertify, 'ReCertify', '1.0', run);
