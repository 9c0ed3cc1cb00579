// A governed world for the isolation suite: two tenants, several services and roles, and
// one ClientIdentity per certificate, driven through the real runtime (openRuntime:
// registry, adapters, SQLite store, repository, executor middleware, audit).
import { randomBytes } from 'node:crypto';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm, CryptographicUsageMask, NameType, ObjectType, Operation, ResultStatus, RevocationReasonCode,
} from '../../src/ttlv/generated/enumerations.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { byteString, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { buildRequestMessage, parseResponseMessage, type ResponseBatchItem } from '../../src/kmip/message.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import type { ClientIdentity } from '../../src/operations/types.ts';
import { openRuntime, type Runtime } from '../../src/server/runtime.ts';

export const V21: ProtocolVersion = { major: 2, minor: 1 };
export const V14: ProtocolVersion = { major: 1, minor: 4 };

/** Distinctive words: none of them may ever reach a client of another tenant or service. */
export const ALPHA = { tenant: 'tenant-alpha', pay: 'svc-alpha-pay', hr: 'svc-alpha-hr' } as const;
export const BETA = { tenant: 'tenant-beta', web: 'svc-beta-web' } as const;

export function certIdentity(cn: string, extra: Partial<ClientIdentity> = {}): ClientIdentity {
  // tenant/service here are what a careless caller might claim; the executor must ignore them.
  return { subject: `CN=${cn}, O=Isolation`, sans: [], fingerprint: randomBytes(32).toString('hex'), tenant: ALPHA.tenant, service: ALPHA.pay, ...extra };
}

export interface World {
  rt: Runtime;
  who: Record<'alphaPayApp' | 'alphaHrApp' | 'alphaAdmin' | 'alphaReader' | 'alphaAuditor' | 'betaApp' | 'betaAdmin' | 'revoked' | 'stranger', ClientIdentity>;
  close(): Promise<void>;
}

export async function openWorld(): Promise<World> {
  const rt = await openRuntime();
  const g = rt.governance;
  g.createTenant({ id: ALPHA.tenant, name: 'Alpha Corp' });
  g.createService({ tenant: ALPHA.tenant, id: ALPHA.pay });
  g.createService({ tenant: ALPHA.tenant, id: ALPHA.hr });
  g.createTenant({ id: BETA.tenant, name: 'Beta Corp' });
  g.createService({ tenant: BETA.tenant, id: BETA.web });
  const who = {
    alphaPayApp: certIdentity('alpha-pay-app'),
    alphaHrApp: certIdentity('alpha-hr-app'),
    alphaAdmin: certIdentity('alpha-admin'),
    alphaReader: certIdentity('alpha-reader'),
    alphaAuditor: certIdentity('alpha-auditor'),
    betaApp: certIdentity('beta-app'),
    betaAdmin: certIdentity('beta-admin'),
    revoked: certIdentity('revoked-app'),
    stranger: certIdentity('stranger'),
  };
  const add = (c: ClientIdentity, tenant: string, service: string, role: string) =>
    g.addIdentity({ tenant, service, role, match: { kind: 'fingerprint', sha256: c.fingerprint } });
  add(who.alphaPayApp, ALPHA.tenant, ALPHA.pay, 'app');
  add(who.alphaHrApp, ALPHA.tenant, ALPHA.hr, 'app');
  add(who.alphaAdmin, ALPHA.tenant, ALPHA.pay, 'admin');
  add(who.alphaReader, ALPHA.tenant, ALPHA.pay, 'read-only');
  add(who.alphaAuditor, ALPHA.tenant, ALPHA.pay, 'auditor');
  add(who.betaApp, BETA.tenant, BETA.web, 'app');
  add(who.betaAdmin, BETA.tenant, BETA.web, 'admin');
  const r = add(who.revoked, ALPHA.tenant, ALPHA.pay, 'app');
  g.revokeIdentity({ id: r.id });
  return { rt, who, close: () => rt.close() };
}

export function message(version: ProtocolVersion, items: Array<{ operation: number; payload: TtlvItem[] }>): TtlvItem {
  return buildRequestMessage({ protocolVersion: version }, items.map((i) => ({ operation: i.operation, payload: structure(Tag.RequestPayload, i.payload) })));
}

export async function call(w: World, who: ClientIdentity, operation: number, payload: TtlvItem[], version = V21): Promise<ResponseBatchItem & { bytes: Buffer }> {
  const resp = await w.rt.engine.handleMessage(message(version, [{ operation, payload }]), who);
  const parsed = parseResponseMessage(resp);
  return { ...parsed.batchItems[0]!, bytes: encode(resp) };
}

export function uidOf(item: ResponseBatchItem): string {
  const u = item.payload?.value.find((c) => c.tag === Tag.UniqueIdentifier);
  if (item.resultStatus !== ResultStatus.Success || u?.type !== 'TextString') throw new Error(`expected success with a Unique Identifier, got ${item.resultMessage}`);
  return u.value;
}

export function createPayload(name: string, group: string): TtlvItem[] {
  return [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      structure(Tag.Name, [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)]),
      textString(Tag.ObjectGroup, group),
    ]),
  ];
}

export async function createKey(w: World, who: ClientIdentity, name: string, group: string): Promise<string> {
  return uidOf(await call(w, who, Operation.Create, createPayload(name, group)));
}

/**
 * Payloads that address an existing object, per operation: complete enough that the owner
 * succeeds (checked by the suite), so a refusal of a foreigner is not a payload error.
 */
export function probePayload(operation: number, uid: string): TtlvItem[] {
  const u = textString(Tag.UniqueIdentifier, uid);
  switch (operation) {
    case Operation.AddAttribute: return [u, structure(Tag.NewAttribute, [textString(Tag.ObjectGroup, 'probe-group')])];
    case Operation.SetAttribute: return [u, structure(Tag.NewAttribute, [textString(Tag.ContactInformation, 'probe')])];
    case Operation.ModifyAttribute: return [u, structure(Tag.NewAttribute, [textString(Tag.ContactInformation, 'probe-2')])];
    case Operation.DeleteAttribute: return [u, structure(Tag.CurrentAttribute, [textString(Tag.ContactInformation, 'probe-2')])];
    case Operation.Revoke: return [u, structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, RevocationReasonCode.Unspecified)])];
    case Operation.Encrypt: case Operation.Decrypt: case Operation.Sign: case Operation.MAC:
      return [u, byteString(Tag.Data, Buffer.alloc(32, 7))];
    default: return [u];
  }
}

/** The response as a client sees it, with the identifier it sent replaced (so foreign and missing ids compare). */
export function shape(item: ResponseBatchItem, uid: string): string {
  return JSON.stringify({
    status: item.resultStatus, reason: item.resultReason ?? null,
    message: item.resultMessage?.split(uid).join('<uid>') ?? null,
    payload: item.payload ? JSON.stringify(item.payload, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).split(uid).join('<uid>') : null,
  });
}

export const asStruct = (items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
