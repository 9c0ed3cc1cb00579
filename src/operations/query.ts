// Query (KMIP 2.1 s.6.1.40; 1.4 s.4.25): what this server supports, as the request's version
// can express it.
import { ENUMERATIONS, ObjectType, Operation, ProfileName, ProtectionStorageMask, QueryFunction, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { boolean, children, enumeration, integer, structure, textString } from '../kmip/items.ts';
import { atLeast, type ProtocolVersion } from '../kmip/version.ts';
import type { OperationContext } from './types.ts';
import { defineOperation } from './uid.ts';

/**
 * Object types the server manages (issue 3 §4, issue 13 §1): Create / Register / Create Key
 * Pair make them, Create Split Key makes Split Keys, Register keeps PGP Keys and (2.x)
 * Certificate Requests for Certify. Template (1.4 s.2.2.6) is offered to 1.x clients only:
 * it is removed in 2.0; Certificate Request exists from 2.0 (see objectTypeIn).
 */
const OBJECT_TYPES = [
  ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey,
  ObjectType.Certificate, ObjectType.Template, ObjectType.SecretData, ObjectType.OpaqueObject,
  ObjectType.SplitKey, ObjectType.PGPKey, ObjectType.CertificateRequest,
];

const sinceOf = (enumName: string, value: number): string | undefined => {
  const e = ENUMERATIONS[enumName];
  if (e === undefined) return undefined;
  const name = Object.entries(e.values).find(([, v]) => v === value)?.[0];
  return name === undefined ? undefined : e.valueInfo[name]?.since;
};

const removedIn = (enumName: string, value: number): string | undefined => {
  const e = ENUMERATIONS[enumName];
  const name = e === undefined ? undefined : Object.entries(e.values).find(([, v]) => v === value)?.[0];
  return name === undefined ? undefined : (e!.valueInfo[name] as { removed?: string } | undefined)?.removed;
};

const definedIn = (v: ProtocolVersion, enumName: string, value: number): boolean => {
  const since = sinceOf(enumName, value);
  return since !== undefined && atLeast(v, since);
};

/** An object type version `v` has: introduced by then and not yet removed (Template is removed in 2.0, 2.1 s.11.29). */
const objectTypeIn = (v: ProtocolVersion, value: number): boolean => {
  const removed = removedIn('ObjectType', value);
  return definedIn(v, 'ObjectType', value) && (removed === undefined || !atLeast(v, removed));
};

function operations(ctx: OperationContext): TtlvItem[] {
  return [...ctx.operations.values()]
    .filter((h) => atLeast(ctx.version, h.since) && definedIn(ctx.version, 'Operation', h.operation))
    .sort((a, b) => a.operation - b.operation)
    .map((h) => enumeration(Tag.Operation, h.operation));
}

/**
 * Vendor extension tag (1.4 s.9.1.3.1: 0x540000–0x54FFFF are for extensions) carrying the
 * server description inside a 1.x Server Information, whose contents are vendor-specific
 * and which may not hold the 2.x Server Information fields.
 */
export const OPENKCM_SERVER_DESCRIPTION_TAG = 0x540001;

function serverInformation(ctx: OperationContext): TtlvItem[] {
  const s = ctx.server;
  // The development L1 provider keeps the root key in a local file: say so to every client
  // that asks, so that nobody mistakes a development server for a production one.
  const l1 = s.l1.developmentOnly
    ? `L1 provider ${s.l1.provider} is for DEVELOPMENT ONLY (root key in a local file)`
    : `L1 provider ${s.l1.provider}`;
  const info: TtlvItem[] = ctx.version.major >= 2
    ? [
        // 2.1 s.7 Server Information fields.
        textString(Tag.ServerName, s.product),
        textString(Tag.ServerVersion, s.version),
        textString(Tag.ProductName, s.product),
        textString(Tag.BuildLevel, l1),
      ]
    : [textString(OPENKCM_SERVER_DESCRIPTION_TAG, `${s.product} ${s.version}; ${l1}`)];
  return [textString(Tag.VendorIdentification, s.vendor), structure(Tag.ServerInformation, info)];
}

function profiles(ctx: OperationContext): TtlvItem[] {
  const v = ctx.version;
  const names: string[] = v.major >= 2
    ? ['BaselineServer', 'SymmetricKeyLifecycleServer']
    : [`BaselineServerTLSV1_2KMIPV1_${v.minor}`, `SymmetricKeyLifecycleServerKMIPV1_${v.minor}`];
  const out: TtlvItem[] = [];
  for (const n of names) {
    const value = (ProfileName as Record<string, number>)[n];
    if (value === undefined) continue;
    const fields: TtlvItem[] = [enumeration(Tag.ProfileName, value)];
    if (v.major >= 2) {
      fields.push(structure(Tag.ProfileVersion, [integer(Tag.ProfileVersionMajor, v.major), integer(Tag.ProfileVersionMinor, v.minor)]));
    }
    out.push(structure(Tag.ProfileInformation, fields));
  }
  return out;
}

function capabilities(ctx: OperationContext): TtlvItem[] {
  // s.7 Capability Information: no streaming, no asynchronous operations, no attestation;
  // Batch Undo is not offered, Batch Continue is (the executor implements Continue).
  const fields: TtlvItem[] = [
    boolean(Tag.StreamingCapability, false),
    boolean(Tag.AsynchronousCapability, false),
    boolean(Tag.AttestationCapability, false),
  ];
  if (atLeast(ctx.version, '1.4')) {
    fields.push(boolean(Tag.BatchUndoCapability, false), boolean(Tag.BatchContinueCapability, true));
  }
  return [structure(Tag.CapabilityInformation, fields)];
}

export const query = defineOperation(Operation.Query, 'Query', '1.0', async (ctx, payload) => {
  const functions = children(payload, Tag.QueryFunction).map((c) => {
    if (c.type !== 'Enumeration') throw new KmipError(ResultReason.InvalidField, 'Query Function must be an Enumeration');
    if (!definedIn(ctx.version, 'QueryFunction', c.value)) {
      throw new KmipError(ResultReason.InvalidField, `Query Function 0x${c.value.toString(16)} is not defined in this protocol version`);
    }
    return c.value;
  });
  const asked = new Set(functions);
  const out: TtlvItem[] = [];
  // Fields in the order of the response table (s.6.1.40).
  if (asked.has(QueryFunction.QueryOperations)) out.push(...operations(ctx));
  if (asked.has(QueryFunction.QueryObjects)) {
    out.push(...OBJECT_TYPES.filter((t) => objectTypeIn(ctx.version, t)).map((t) => enumeration(Tag.ObjectType, t)));
  }
  if (asked.has(QueryFunction.QueryServerInformation)) out.push(...serverInformation(ctx));
  // Application namespaces, extensions, attestation types, RNGs, validations, client
  // registration methods: this server has none to report, so those functions add nothing.
  if (asked.has(QueryFunction.QueryProfiles)) out.push(...profiles(ctx));
  if (asked.has(QueryFunction.QueryCapabilities)) out.push(...capabilities(ctx));
  if (ctx.version.major >= 2 && asked.has(QueryFunction.QueryStorageProtectionMasks)) {
    // Keys live in software on this server (s.12.2 Protection Storage Mask).
    out.push(structure(Tag.ProtectionStorageMasks, [integer(Tag.ProtectionStorageMask, ProtectionStorageMask.Software)]));
  }
  return structure(Tag.ResponsePayload, out);
});
