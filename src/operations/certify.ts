// Certify (KMIP 2.1 s.6.1 Certify; 1.4 s.4 Certify): the server issues an X.509 certificate for a public
// key it holds (Unique Identifier, or the ID Placeholder) or for a PKCS#10 certificate request
// — carried in the request (Certificate Request Type + Value; 1.x: Certificate Request) or
// registered as a Certificate Request object (2.x) — signed by a CA key it manages (the
// issuer: common/certify-core.ts). The new certificate is a Certificate object with the
// attributes Register derives from a certificate and the request's attributes; the
// certified public key gets a Certificate Link to it (s.4.31). Certify sets the ID
// Placeholder (s.6.1 intro).
//
// Subject name: a request's is its own (its signature is checked first: Invalid CSR). For a
// held public key, the subject is built from Certificate Subject fields (CN, O, OU, L, ST, C,
// DC, Email, Title, UID, Serial Number, DN Qualifier) given in the Attributes, else CN = the
// key's Name, else CN = its Unique Identifier. Validity: from now to the Deactivation Date
// the Attributes give, else one year.
import { LinkType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { TAG_INFO } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, isStructure, optBytes, optEnum, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { dateAttr } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, recordResult, resolveUid } from './uid.ts';
import { assertNamesFree, attributesOf, checkProtectionStorageMasks, clientAttributes, link, nameValues } from './common/new-object.ts';
import { applyTemplates } from './common/templates.ts';
import { addLink, keyObjectOf, loadIssuer, storeCertificate, takeIssuerLink } from './common/certify-core.ts';
import { csrSpki, csrSubjectDer, parseCsr, requestedExtensions, spkiOf, type JsonName } from './common/x509.ts';
import type { OperationContext } from './types.ts';

/** Certificate Subject attribute → X.500 attribute type (short name as @peculiar/x509 knows it, or OID). */
const SUBJECT_FIELDS: ReadonlyMap<string, string> = new Map([
  ['CertificateSubjectCN', 'CN'], ['CertificateSubjectO', 'O'], ['CertificateSubjectOU', 'OU'], ['CertificateSubjectL', 'L'],
  ['CertificateSubjectST', 'ST'], ['CertificateSubjectC', 'C'], ['CertificateSubjectDC', 'DC'], ['CertificateSubjectEmail', 'E'],
  ['CertificateSubjectTitle', 'T'], ['CertificateSubjectUID', '0.9.2342.19200300.100.1.1'],
  ['CertificateSubjectSerialNumber', '2.5.4.5'], ['CertificateSubjectDNQualifier', '2.5.4.46'],
]);

/** Takes the Certificate Subject fields out of the request's attributes (they describe the certificate to issue). */
function takeSubjectFields(attrs: TtlvItem[]): JsonName {
  const out: JsonName = [];
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    const type = SUBJECT_FIELDS.get(TAG_INFO.get(a.tag)?.name ?? '');
    if (type === undefined) continue;
    if (a.type !== 'TextString' || a.value.length === 0) throw new KmipError(ResultReason.InvalidAttributeValue, `${TAG_INFO.get(a.tag)!.name} must be a non-empty Text String`);
    out.push({ [type]: [a.value] });
    attrs.splice(i--, 1);
  }
  return out;
}

export const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/** Validity the request asks for: now until its Deactivation Date, or one year. */
export function validityOf(attrs: readonly TtlvItem[], now: Date): { notBefore: Date; notAfter: Date } {
  const until = dateAttr(attrs, Tag.DeactivationDate);
  return { notBefore: now, notAfter: until === undefined ? new Date(now.getTime() + ONE_YEAR_MS) : new Date(Number(until) * 1000) };
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  // 1.4 s.2.1.8: attributes of the named Template objects, under the explicit ones.
  const payload = await applyTemplates(ctx, request);
  checkProtectionStorageMasks(payload);
  const raw = [...(attributesOf(payload)?.value ?? [])];
  const issuerUid = takeIssuerLink(raw);
  if (issuerUid === undefined) {
    throw new KmipError(ResultReason.InvalidField, "name the issuer: the Attributes need a Link of type Private Key Link to the CA's private key");
  }
  const subjectFields = takeSubjectFields(raw);
  const attrs = clientAttributes(structure(Tag.Attributes, raw), 'create', ObjectType.Certificate);

  let spki: Buffer;
  let subject: JsonName | Buffer;
  let requested;
  let certifiedKey: ManagedObject | undefined;
  const csrValue = optBytes(payload, Tag.CertificateRequestValue);
  if (csrValue !== undefined || child(payload, Tag.CertificateRequestType) !== undefined) {
    const type = optEnum(payload, Tag.CertificateRequestType);
    if (type === undefined || csrValue === undefined) throw new KmipError(ResultReason.InvalidField, 'a certificate request needs both Certificate Request Type and Value');
    const csr = await parseCsr(type, csrValue);
    ({ spki, subject, requested } = { spki: csrSpki(csr), subject: csrSubjectDer(csr), requested: requestedExtensions(csr) });
  } else {
    const obj = await loadObject(ctx, resolveUid(ctx, payload));
    if (obj.objectType === ObjectType.PublicKey) {
      spki = spkiOf(keyObjectOf(obj));
      const name = nameValues(obj.attributes)[0];
      subject = subjectFields.length > 0 ? subjectFields : [{ CN: [name ?? obj.uid] }];
      certifiedKey = obj;
    } else if (obj.objectType === ObjectType.CertificateRequest && isStructure(obj.value)) {
      const type = optEnum(obj.value, Tag.CertificateRequestType);
      const value = optBytes(obj.value, Tag.CertificateRequestValue);
      if (type === undefined || value === undefined) throw new KmipError(ResultReason.InvalidCSR, `certificate request ${obj.uid} is incomplete`);
      const csr = await parseCsr(type, value);
      ({ spki, subject, requested } = { spki: csrSpki(csr), subject: csrSubjectDer(csr), requested: requestedExtensions(csr) });
    } else {
      throw new KmipError(ResultReason.InvalidObjectType, `object ${obj.uid} is neither a Public Key nor a Certificate Request`);
    }
  }
  if (subjectFields.length > 0 && certifiedKey === undefined) {
    throw new KmipError(ResultReason.InvalidField, 'the subject of a certificate request is its own; Certificate Subject attributes apply to a held public key only');
  }

  // s.4.35 / issue 13 §5: a Name given to the new certificate follows the tenant's Name policy.
  await assertNamesFree(ctx, attrs);
  const { issuer, selfSigned } = await loadIssuer(ctx, issuerUid, spki);
  const cert = await storeCertificate(ctx, {
    subjectSpki: spki, subject, issuer, selfSigned, ...validityOf(attrs, ctx.now()),
    ...(requested !== undefined ? { requested } : {}),
    attributes: attrs,
    extra: certifiedKey !== undefined ? [link(LinkType.PublicKeyLink, certifiedKey.uid)] : [],
  });
  if (certifiedKey !== undefined) await addLink(ctx, certifiedKey.uid, LinkType.CertificateLink, cert.uid);
  recordResult(ctx, Operation.Certify, [cert.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, cert.uid)]);
}

export const certify = defineOperation(Operation.Certify, 'Certify', '1.0', run);
