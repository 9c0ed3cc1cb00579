// Validate (KMIP 2.1 s.6.1 Validate; 1.4 s.4 Validate): is this certificate chain valid? The
// chain is the Certificates in the request and the certificates its Unique Identifiers name,
// together (the spec leaves the order open: the server orders them from the end entity up by
// who issued whom). The answer is a Validity Indicator (s.11.61); the method is the server's
// (the spec puts it out of scope). This server answers:
// - Invalid when the certificates do not form one chain, a signature does not verify, an
//   issuer is not a CA, a certificate is outside its validity at the Validity Date (default:
//   now), or a certificate of the chain that the server holds is Compromised or destroyed;
// - Valid when the chain is sound and ends in a self-signed root that the server holds as a
//   Certificate object the caller can see (the trust anchor);
// - Unknown when the chain is sound but its root is not one of the server's certificates:
//   the server cannot vouch for it. Revocation lists are not consulted.
import { X509Certificate } from 'node:crypto';
import { CertificateType, ObjectType, Operation, ResultReason, State, ValidityIndicator } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { children, enumeration, isStructure, optBytes, optDate, optEnum, structure, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { isDestroyed } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, resolveUidReference } from './uid.ts';
import { validateChain } from './common/x509.ts';
import type { OperationContext } from './types.ts';

/** More certificates than any real chain has: the request is refused rather than searched. */
export const MAX_CHAIN_LENGTH = 16;

interface Member { der: Buffer; held?: ManagedObject }

function x509Value(value: Struct, what: string): Buffer {
  if (optEnum(value, Tag.CertificateType) !== CertificateType.X_509) throw new KmipError(ResultReason.InvalidField, `${what} is not an X.509 certificate`);
  const der = optBytes(value, Tag.CertificateValue);
  if (der === undefined) throw new KmipError(ResultReason.InvalidField, `${what} has no Certificate Value`);
  return der;
}

/** Orders the certificates leaf first; undefined when they are not one chain. */
function order(members: Member[]): Member[] | undefined {
  const parsed = members.map((m) => ({ m, c: new X509Certificate(m.der) }));
  const issues = (a: X509Certificate, b: X509Certificate): boolean => a !== b && b.checkIssued(a);
  // The leaf issued nobody in the set.
  const leaves = parsed.filter((p) => !parsed.some((q) => issues(p.c, q.c)));
  if (leaves.length !== 1) return undefined;
  const out = [leaves[0]!];
  while (out.length < parsed.length) {
    const last = out[out.length - 1]!;
    const next = parsed.filter((p) => !out.includes(p) && issues(p.c, last.c));
    if (next.length !== 1) return undefined;
    out.push(next[0]!);
  }
  return out.map((p) => p.m);
}

/** The server's Certificate object with exactly this DER, if the caller can see one (issuer DN + serial, then bytes). */
async function heldCertificate(ctx: OperationContext, der: Buffer): Promise<ManagedObject | undefined> {
  for await (const meta of ctx.objects.scan({ objectType: ObjectType.Certificate })) {
    const obj = await ctx.objects.load(meta.uid);
    const v = obj !== undefined && isStructure(obj.value) ? optBytes(obj.value, Tag.CertificateValue) : undefined;
    if (v !== undefined && v.equals(der)) return obj;
  }
  return undefined;
}

export const validate = defineOperation(Operation.Validate, 'Validate', '1.0', async (ctx, payload) => {
  const members: Member[] = [];
  for (const c of children(payload, Tag.Certificate)) {
    if (!isStructure(c)) throw new KmipError(ResultReason.InvalidField, 'Certificate must be a Structure');
    members.push({ der: x509Value(c, 'a Certificate of the request') });
  }
  for (const ref of children(payload, Tag.UniqueIdentifier)) {
    for (const uid of resolveUidReference(ctx, ref)) {
      const obj = await loadObject(ctx, uid);
      if (obj.objectType !== ObjectType.Certificate || !isStructure(obj.value)) {
        throw new KmipError(isDestroyed(obj.state) ? ResultReason.ObjectDestroyed : ResultReason.InvalidObjectType, `object ${uid} is not a certificate with a value`);
      }
      members.push({ der: x509Value(obj.value, `certificate ${uid}`), held: obj });
    }
  }
  if (members.length === 0) throw new KmipError(ResultReason.InvalidField, 'Validate needs at least one Certificate or Unique Identifier');
  if (members.length > MAX_CHAIN_LENGTH) throw new KmipError(ResultReason.InvalidField, `a chain of more than ${MAX_CHAIN_LENGTH} certificates is refused`);
  const date = optDate(payload, Tag.ValidityDate);
  const at = date === undefined ? ctx.now() : new Date(Number(date) * 1000);

  const answer = (v: number, why: string) => {
    ctx.log.info({ validity: why }, 'Validate');
    return structure(Tag.ResponsePayload, [enumeration(Tag.ValidityIndicator, v)]);
  };
  let chain: Member[] | undefined;
  try {
    chain = order(members);
  } catch {
    return answer(ValidityIndicator.Invalid, 'a certificate is not readable X.509');
  }
  if (chain === undefined) return answer(ValidityIndicator.Invalid, 'the certificates are not one chain');
  const verdict = validateChain(chain.map((m) => m.der), at);
  if (!verdict.valid) return answer(ValidityIndicator.Invalid, verdict.why);
  for (const m of chain) {
    m.held ??= await heldCertificate(ctx, m.der);
    if (m.held !== undefined && (m.held.state === State.Compromised || isDestroyed(m.held.state))) {
      return answer(ValidityIndicator.Invalid, `certificate ${m.held.uid} is compromised or destroyed on this server`);
    }
  }
  const root = chain[chain.length - 1]!;
  if (root.held === undefined) return answer(ValidityIndicator.Unknown, 'the root is not a certificate of this server');
  return answer(ValidityIndicator.Valid, `anchored in ${root.held.uid}`);
});
