// The service L3 as a non-extractable wrapping object (issue 11 §1). A Krypton Gateway makes
// L4 data keys itself and asks the Core to wrap them under its service's L3 with standard
// KMIP Encrypt/Decrypt naming a reserved Unique Identifier:
//
//   openkcm:service-l3:<service>
//
// resolved by the Core to the caller's tenant and the named service. No managed object
// stands behind it: Get, Export, Locate and attribute operations never find one (Item Not
// Found), so the L3 has no way out of the Core (DESIGN.md §2: no process but a core holds an
// L2 or L3). Only an identity of role `gateway` reaches it, and only for the services it may
// act for (its own and its identity's alsoServices, issue 11 §1).
//
// Encrypt: Data = the L4 (at most MAX_WRAPPED_KEY_BYTES), Authenticated Encryption Additional
// Data = the application's context (optional); the server makes the nonce (an IV in the
// request is refused, KMIP 2.1 §6.1.17 lets the server generate it). The response Data is
// the hierarchy's L4 blob, self-describing:
//
//   [0x02][L3 version, uint32 BE][nonce 12][tag 16][ciphertext]
//
// AES-256-GCM with associated data "l4|tenant|service|gateway:<context>|l3version", so a blob
// of another tenant, service or context, or with a flipped bit, does not open. The L3
// version in the header keeps old blobs readable after `kmipctl service rotate`.
// Decrypt: Data = that blob, Authenticated Encryption Additional Data = the same context.
//
// Bulk wrap (issue 11 §4): an Encrypt on the wrapping object may carry Data several times (at
// most MAX_KEYS_PER_WRAP_ITEM), all under the one context; each is wrapped on its own (own
// nonce) and the response carries one Data per key, in request order. One batch item, so one
// audit record, which names the count (src/server/executor.ts). This departs from KMIP's one
// Data per Encrypt only for this reserved object, which no client but a gateway reaches: it
// spares the Core the per-item policy, audit and encoding cost of thousands of data keys.
// Decrypt stays one blob per item, so that a forged blob fails alone.
import {
  CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultReason, State,
} from '../../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import { KmipError } from '../../kmip/errors.ts';
import { boolean, byteString, enumeration, integer, optBytes, optText, structure, textString, type Struct } from '../../kmip/items.ts';
import { KeyProtectionError } from '../../hierarchy/interim.ts';
import { GATEWAY_ROLE } from '../../policy/roles.ts';
import type { OperationContext } from '../types.ts';

export const SERVICE_L3_PREFIX = 'openkcm:service-l3:';

/**
 * Largest value wrapped: data keys are 16 or 32 bytes. A bound stops a gateway identity from
 * using the Core as a bulk encryption engine under the L3 (and large allocations per item).
 */
export const MAX_WRAPPED_KEY_BYTES = 64;
/** Largest context (associated data): it is bound into the AAD string; bounds memory per item. */
export const MAX_CONTEXT_BYTES = 4096;
/** Keys one bulk-wrap Encrypt item may carry: bounds the work and the response of one item. */
export const MAX_KEYS_PER_WRAP_ITEM = 1024;
/** Header of a wrapped key: format byte, L3 version, nonce, tag. */
export const WRAPPED_KEY_HEADER_BYTES = 1 + 4 + 12 + 16;
const WRAPPED_KEY_FORMAT = 0x02;

/** The service a reserved Unique Identifier names, or undefined for an ordinary one. */
export function serviceL3OfUid(uid: string): string | undefined {
  return uid.startsWith(SERVICE_L3_PREFIX) ? uid.slice(SERVICE_L3_PREFIX.length) : undefined;
}

/**
 * Get and Export (which runs Get) of the wrapping object: refused, the L3 never leaves the
 * Core. Called with the resolved Unique Identifier; returns for an ordinary one.
 */
export function refuseServiceL3Extraction(ctx: OperationContext, uid: string): void {
  const service = serviceL3OfUid(uid);
  if (service === undefined) return;
  admit(ctx, service);
  throw new KmipError(ResultReason.PermissionDenied, `the L3 key of service ${service} is not extractable: it only wraps and unwraps (Encrypt, Decrypt)`);
}

/**
 * What Get Attributes shows of the wrapping object (KMIP 2.1 §4): an active AES-256 key for
 * Encrypt/Decrypt, Sensitive and Never Extractable (§4.55, §4.34), Extractable false (§4.23).
 * Undefined for an ordinary Unique Identifier.
 */
export function serviceL3Attributes(ctx: OperationContext, uid: string): TtlvItem[] | undefined {
  const service = serviceL3OfUid(uid);
  if (service === undefined) return undefined;
  admit(ctx, service);
  return [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    integer(Tag.CryptographicLength, 256),
    integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    enumeration(Tag.State, State.Active),
    boolean(Tag.Sensitive, true),
    boolean(Tag.AlwaysSensitive, true),
    boolean(Tag.Extractable, false),
    boolean(Tag.NeverExtractable, true),
  ];
}

/** The service a reserved identifier names, or undefined when it is an ordinary UID. */
export function serviceL3Target(payload: Struct): string | undefined {
  let uid: string | undefined;
  try {
    uid = optText(payload, Tag.UniqueIdentifier);
  } catch {
    return undefined;
  }
  return uid !== undefined && uid.startsWith(SERVICE_L3_PREFIX) ? uid.slice(SERVICE_L3_PREFIX.length) : undefined;
}

function admit(ctx: OperationContext, service: string): NonNullable<OperationContext['serviceKeys']> {
  if (ctx.identity.role !== GATEWAY_ROLE) {
    throw new KmipError(ResultReason.PermissionDenied, `only a ${GATEWAY_ROLE} identity may use ${SERVICE_L3_PREFIX}${service}`);
  }
  // A gateway may wrap for any service on its list (issue 11 §1), whichever one the message acts for.
  if (!(ctx.identity.services ?? [ctx.identity.service]).includes(service)) {
    throw new KmipError(ResultReason.PermissionDenied, `service ${service} is not allowed for this gateway`);
  }
  if (ctx.serviceKeys === undefined) throw new KmipError(ResultReason.OperationNotSupported, 'this server has no key hierarchy to wrap with');
  return ctx.serviceKeys;
}

function refuseExtras(payload: Struct, what: string): void {
  // The blob carries nonce and tag; separate fields would be a second, conflicting source.
  for (const tag of [Tag.IVCounterNonce, Tag.AuthenticatedEncryptionTag, Tag.CorrelationValue, Tag.InitIndicator, Tag.FinalIndicator]) {
    if (payload.value.some((c) => c.tag === tag)) {
      throw new KmipError(ResultReason.InvalidField, `${what} with the service wrapping object takes no IV, tag or multi-part fields: the wrapped key carries them`);
    }
  }
}

function contextOf(payload: Struct): Buffer {
  const c = optBytes(payload, Tag.AuthenticatedEncryptionAdditionalData) ?? Buffer.alloc(0);
  if (c.length > MAX_CONTEXT_BYTES) {
    throw new KmipError(ResultReason.InvalidField, `the context is ${c.length} bytes; at most ${MAX_CONTEXT_BYTES}`);
  }
  return c;
}

function uidItem(service: string) {
  return textString(Tag.UniqueIdentifier, SERVICE_L3_PREFIX + service);
}

/** Where a wrapped key is malformed (byte offset and why), or undefined when its shape is right. */
export function wrappedKeyDefect(blob: Buffer): string | undefined {
  if (blob.length === 0) return 'wrapped key is empty';
  if (blob[0] !== WRAPPED_KEY_FORMAT) return `wrapped key is malformed at byte 0: format ${blob[0]}, expected ${WRAPPED_KEY_FORMAT}`;
  if (blob.length < 5) return `wrapped key is malformed at byte ${blob.length}: truncated inside the L3 version`;
  if (blob.readUInt32BE(1) === 0) return 'wrapped key is malformed at byte 1: L3 version 0 never exists';
  if (blob.length < WRAPPED_KEY_HEADER_BYTES + 1) return `wrapped key is malformed at byte ${blob.length}: truncated (header is ${WRAPPED_KEY_HEADER_BYTES} bytes, then the key)`;
  return undefined;
}

export async function serviceL3Encrypt(ctx: OperationContext, payload: Struct, service: string): Promise<Struct> {
  const keys = admit(ctx, service);
  refuseExtras(payload, 'Encrypt');
  const data: Buffer[] = [];
  for (const c of payload.value) {
    if (c.tag !== Tag.Data) continue;
    if (c.type !== 'ByteString') throw new KmipError(ResultReason.InvalidField, `Data must be a Byte String, got ${c.type}`);
    if (c.value.length === 0) throw new KmipError(ResultReason.InvalidField, 'Data (the key to wrap) is empty');
    if (c.value.length > MAX_WRAPPED_KEY_BYTES) {
      throw new KmipError(ResultReason.InvalidField, `the service wrapping object wraps keys of at most ${MAX_WRAPPED_KEY_BYTES} bytes, not ${c.value.length}`);
    }
    data.push(c.value);
  }
  if (data.length === 0) throw new KmipError(ResultReason.InvalidField, 'Data (the key to wrap) is required');
  if (data.length > MAX_KEYS_PER_WRAP_ITEM) {
    throw new KmipError(ResultReason.InvalidField, `one Encrypt item wraps at most ${MAX_KEYS_PER_WRAP_ITEM} keys, not ${data.length}`);
  }
  const context = contextOf(payload);
  // All keys in one step of the hierarchy (one tenant check, one associated data, one nonce
  // draw, one output buffer), not one awaited wrap per key: the Core's share of a gateway's
  // data key is then the cipher and the key's TTLV item (bench/README.md "Gateway").
  const wrapped = await keys.wrapMany(ctx.identity.tenant, service, context, data);
  const out: TtlvItem[] = new Array(wrapped.length + 1);
  // s.6.1.17 response order: Unique Identifier, then Data (one per key, in request order).
  out[0] = uidItem(service);
  for (let i = 0; i < wrapped.length; i++) out[i + 1] = byteString(Tag.Data, wrapped[i]!);
  return structure(Tag.ResponsePayload, out);
}

export async function serviceL3Decrypt(ctx: OperationContext, payload: Struct, service: string): Promise<Struct> {
  const keys = admit(ctx, service);
  refuseExtras(payload, 'Decrypt');
  const blob = optBytes(payload, Tag.Data);
  if (blob === undefined) throw new KmipError(ResultReason.InvalidField, 'Data (the wrapped key) is required');
  const defect = wrappedKeyDefect(blob);
  if (defect !== undefined) throw new KmipError(ResultReason.CryptographicFailure, defect);
  let plain: Buffer;
  try {
    plain = await keys.unwrap(ctx.identity.tenant, service, contextOf(payload), blob);
  } catch (e) {
    if (e instanceof KeyProtectionError) {
      // Never more detail than this: which of tenant, service, context or bits differs is not
      // the caller's business, and nothing was decrypted.
      throw new KmipError(ResultReason.CryptographicFailure,
        `wrapped key does not open for service ${service} with this context: altered, or made for another context, service or tenant`);
    }
    throw e;
  }
  return structure(Tag.ResponsePayload, [uidItem(service), byteString(Tag.Data, plain)]);
}

export const SERVICE_L3_OPERATIONS: ReadonlySet<number> = new Set([Operation.Encrypt, Operation.Decrypt]);
