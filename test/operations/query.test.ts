// Query, Discover Versions, Interop and the registry.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancellationResult, EndpointRole, InteropFunction, ObjectType, Operation, ProfileName, QueryFunction, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { SUPPORTED_VERSIONS } from '../../src/kmip/version.ts';
import { query, OPENKCM_SERVER_DESCRIPTION_TAG } from '../../src/operations/query.ts';
import { discoverVersions } from '../../src/operations/discover-versions.ts';
import { interop } from '../../src/operations/interop.ts';
import { OPERATIONS } from '../../src/operations/registry.ts';
import { log as logOperation, LOG_MESSAGE_MAX_CHARS } from '../../src/operations/log.ts';
import { setEndpointRole } from '../../src/operations/set-endpoint-role.ts';
import { cancel, poll } from '../../src/operations/async.ts';
import { pino, type Logger } from 'pino';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';

const P = (...items: TtlvItem[]): Struct => structure(Tag.RequestPayload, items);
const Q = (...fns: number[]) => P(...fns.map((f) => enumeration(Tag.QueryFunction, f)));
const PV = (major: number, minor: number) => structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, major), integer(Tag.ProtocolVersionMinor, minor)]);

let t: TestContext;
beforeEach(async () => { t = await makeTestContext(); });
afterEach(async () => { await t.close(); });

describe('registry', () => {
  it('lists each handler under its own operation number', () => {
    for (const [op, h] of OPERATIONS) expect(h.operation).toBe(op);
    for (const op of [Operation.Locate, Operation.GetAttributes, Operation.Activate, Operation.Query, Operation.DiscoverVersions, Operation.Interop, Operation.Create, Operation.Get]) {
      expect(OPERATIONS.has(op)).toBe(true);
    }
  });
});

describe('Query', () => {
  it('reports the registered operations and object types (QS-M-1)', async () => {
    const res = await query.run(t.ctx, Q(QueryFunction.QueryOperations, QueryFunction.QueryObjects));
    const ops = children(res, Tag.Operation).map((c) => c.value as number);
    expect(new Set(ops)).toEqual(new Set([...t.ctx.operations.keys()]));
    expect(children(res, Tag.ObjectType).map((c) => c.value)).toContain(ObjectType.SymmetricKey);
  });
  it('1.x: leaves out operations the version does not define', async () => {
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 0 } });
    const ops = children(await query.run(v1.ctx, Q(QueryFunction.QueryOperations)), Tag.Operation).map((c) => c.value);
    expect(ops).toContain(Operation.Locate);
    expect(ops).not.toContain(Operation.Interop);
    expect(ops).not.toContain(Operation.DiscoverVersions); // 1.1
    const err = await query.run(v1.ctx, Q(QueryFunction.QueryProfiles)).catch((e: unknown) => e);
    expect((err as KmipError).reason).toBe(ResultReason.InvalidField);
  });
  it('server information says when the L1 provider is development-only', async () => {
    const res = await query.run(t.ctx, Q(QueryFunction.QueryServerInformation));
    expect(child(res, Tag.VendorIdentification)).toEqual(textString(Tag.VendorIdentification, 'OpenKCM'));
    const info = child(res, Tag.ServerInformation) as Struct;
    expect(JSON.stringify(info.value)).toMatch(/DEVELOPMENT ONLY/);
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 2 }, l1: { provider: 'pkcs11', keyRef: 'k', developmentOnly: false } });
    const info1 = child(await query.run(v1.ctx, Q(QueryFunction.QueryServerInformation)), Tag.ServerInformation) as Struct;
    expect(info1.value.map((c) => c.tag)).toEqual([OPENKCM_SERVER_DESCRIPTION_TAG]);
    expect(JSON.stringify(info1.value)).not.toMatch(/DEVELOPMENT/);
  });
  it('profiles and capabilities per version', async () => {
    const res = await query.run(t.ctx, Q(QueryFunction.QueryProfiles, QueryFunction.QueryCapabilities));
    const names = children(res, Tag.ProfileInformation).map((p) => child(p as Struct, Tag.ProfileName)?.value);
    expect(names).toContain(ProfileName.BaselineServer);
    expect(children(res, Tag.CapabilityInformation)).toHaveLength(1);
    const v13 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 3 } });
    const r13 = await query.run(v13.ctx, Q(QueryFunction.QueryProfiles, QueryFunction.QueryCapabilities));
    expect(children(r13, Tag.ProfileInformation).map((p) => child(p as Struct, Tag.ProfileName)?.value)).toContain(ProfileName.BaselineServerTLSV1_2KMIPV1_3);
    const cap = child(r13, Tag.CapabilityInformation) as Struct;
    expect(child(cap, Tag.BatchUndoCapability)).toBeUndefined(); // 1.4 field
  });
});

describe('DiscoverVersions', () => {
  it('no list → all supported, server order', async () => {
    const res = await discoverVersions.run(t.ctx, P());
    expect(children(res, Tag.ProtocolVersion)).toEqual(SUPPORTED_VERSIONS.map((v) => PV(v.major, v.minor)));
  });
  it('a list → the supported ones in the client order; none → empty', async () => {
    const res = await discoverVersions.run(t.ctx, P(PV(1, 2), PV(3, 0), PV(2, 0)));
    expect(children(res, Tag.ProtocolVersion)).toEqual([PV(1, 2), PV(2, 0)]);
    expect(children(await discoverVersions.run(t.ctx, P(PV(9, 9))), Tag.ProtocolVersion)).toEqual([]);
    await expect(discoverVersions.run(t.ctx, P(structure(Tag.ProtocolVersion, [])))).rejects.toBeInstanceOf(KmipError);
  });
});

describe('Interop', () => {
  it('acknowledges Begin/End/Reset and refuses unknown functions', async () => {
    for (const f of Object.values(InteropFunction)) {
      const res = await interop.run(t.ctx, P(enumeration(Tag.InteropFunction, f), textString(Tag.InteropIdentifier, 'BL-M-1-21')));
      expect(res.value).toEqual([]);
    }
    await expect(interop.run(t.ctx, P(enumeration(Tag.InteropFunction, 99)))).rejects.toBeInstanceOf(KmipError);
    await expect(interop.run(t.ctx, P())).rejects.toBeInstanceOf(KmipError);
  });
});

describe('Log (2.1 s.6.1.27)', () => {
  function capture(): { lines: Record<string, unknown>[]; logger: Logger } {
    const lines: Record<string, unknown>[] = [];
    const logger: Logger = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
    return { lines, logger };
  }
  it('writes the message with the identity at info and answers an empty payload (BL-M-1-21)', async () => {
    const { lines, logger } = capture();
    t.ctx.log = logger;
    const res = await logOperation.run(t.ctx, P(textString(Tag.LogMessage, 'Registered a symmetric key.')));
    expect(res).toEqual(structure(Tag.ResponsePayload, []));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(30);
    expect(lines[0]!.logMessage).toBe('Registered a symmetric key.');
    expect(lines[0]!.identity).toMatchObject({ tenant: 'test-tenant', service: 'test-service' });
  });
  it('cuts a long message and records its length', async () => {
    const { lines, logger } = capture();
    t.ctx.log = logger;
    await logOperation.run(t.ctx, P(textString(Tag.LogMessage, 'a'.repeat(LOG_MESSAGE_MAX_CHARS + 10))));
    expect((lines[0]!.logMessage as string).length).toBe(LOG_MESSAGE_MAX_CHARS);
    expect(lines[0]!.logMessageLength).toBe(LOG_MESSAGE_MAX_CHARS + 10);
  });
  it('refuses a missing or mistyped Log Message, and 1.x clients', async () => {
    await expect(logOperation.run(t.ctx, P())).rejects.toMatchObject({ reason: ResultReason.InvalidField });
    await expect(logOperation.run(t.ctx, P(integer(Tag.LogMessage, 1)))).rejects.toMatchObject({ reason: ResultReason.InvalidField });
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    await expect(logOperation.run(v1.ctx, P(textString(Tag.LogMessage, 'x')))).rejects.toMatchObject({ reason: ResultReason.OperationNotSupported });
    expect(OPERATIONS.get(Operation.Log)).toBe(logOperation);
  });
});

describe('Set Endpoint Role (2.1 s.6.1.52)', () => {
  it('confirms the Server role, refuses the Client role and unknown values', async () => {
    const res = await setEndpointRole.run(t.ctx, P(enumeration(Tag.EndpointRole, EndpointRole.Server)));
    expect(res.value).toEqual([enumeration(Tag.EndpointRole, EndpointRole.Server)]);
    await expect(setEndpointRole.run(t.ctx, P(enumeration(Tag.EndpointRole, EndpointRole.Client)))).rejects.toMatchObject({ reason: ResultReason.FeatureNotSupported });
    await expect(setEndpointRole.run(t.ctx, P(enumeration(Tag.EndpointRole, 7)))).rejects.toMatchObject({ reason: ResultReason.InvalidField });
    await expect(setEndpointRole.run(t.ctx, P())).rejects.toMatchObject({ reason: ResultReason.InvalidField });
  });
});

describe('Poll and Cancel (no asynchronous operations)', () => {
  const ACV = (b: string) => ({ tag: Tag.AsynchronousCorrelationValue, type: 'ByteString', value: Buffer.from(b, 'hex') } as TtlvItem);
  it('Poll: no operation is pending under any correlation value', async () => {
    await expect(poll.run(t.ctx, P(ACV('0102')))).rejects.toMatchObject({ reason: ResultReason.InvalidAsynchronousCorrelationValue });
    const v1 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    await expect(poll.run(v1.ctx, P(ACV('0102')))).rejects.toMatchObject({ reason: ResultReason.InvalidField });
    await expect(poll.run(t.ctx, P())).rejects.toMatchObject({ reason: ResultReason.InvalidField });
  });
  it('Cancel: echoes the value with Cancellation Result Unavailable', async () => {
    const res = await cancel.run(t.ctx, P(ACV('aabb')));
    expect(res.value).toEqual([ACV('aabb'), enumeration(Tag.CancellationResult, CancellationResult.Unavailable)]);
    await expect(cancel.run(t.ctx, P(ACV('')))).rejects.toMatchObject({ reason: ResultReason.InvalidField });
  });
});

describe('Query Operations lists only what is implemented (QS-M-1-21)', () => {
  it('lists the 2.x operations QS-M-1 asks for that this server implements', async () => {
    const ops = new Set(children(await query.run(t.ctx, Q(QueryFunction.QueryOperations)), Tag.Operation).map((c) => c.value));
    for (const op of [Operation.AdjustAttribute, Operation.Export, Operation.Import, Operation.Log, Operation.SetEndpointRole, Operation.ObtainLease, Operation.Poll, Operation.Cancel]) {
      expect(ops.has(op), `operation 0x${op.toString(16)}`).toBe(true);
    }
    for (const op of ops) expect(OPERATIONS.has(op as number)).toBe(true);
  });
});

describe('Query Objects and Template (1.4 SASED-M-1, TL-M-1)', () => {
  it('1.x lists Template (registered and used by name, operations/common/templates.ts); 2.x, where it is removed, does not', async () => {
    const v14 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    const types = children(await query.run(v14.ctx, Q(QueryFunction.QueryObjects)), Tag.ObjectType).map((c) => c.value);
    expect(types).toContain(ObjectType.SecretData);
    expect(types).toContain(ObjectType.Template);
    const v2 = children(await query.run(t.ctx, Q(QueryFunction.QueryObjects)), Tag.ObjectType).map((c) => c.value);
    expect(v2).toContain(ObjectType.SecretData);
    expect(v2).not.toContain(ObjectType.Template);
  });
});

describe('issue 13 §1: the remaining operations in Query', () => {
  it('lists Archive, Recover, Certify, Re-certify, Create/Join Split Key, Validate, Notify, Put in 1.4 and 2.1, and the object types they make', async () => {
    const v14 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 4 } });
    for (const ctx of [t.ctx, v14.ctx]) {
      const ops = children(await query.run(ctx, Q(QueryFunction.QueryOperations)), Tag.Operation).map((c) => c.value);
      for (const op of [Operation.Archive, Operation.Recover, Operation.Certify, Operation.ReCertify, Operation.CreateSplitKey,
        Operation.JoinSplitKey, Operation.Validate, Operation.Notify, Operation.Put, Operation.Poll, Operation.Cancel]) {
        expect(ops, `operation 0x${op.toString(16)}`).toContain(op);
      }
    }
    const v2 = children(await query.run(t.ctx, Q(QueryFunction.QueryObjects)), Tag.ObjectType).map((c) => c.value);
    expect(v2).toEqual(expect.arrayContaining([ObjectType.SplitKey, ObjectType.PGPKey, ObjectType.CertificateRequest]));
    const v1 = children(await query.run(v14.ctx, Q(QueryFunction.QueryObjects)), Tag.ObjectType).map((c) => c.value);
    expect(v1).toEqual(expect.arrayContaining([ObjectType.SplitKey, ObjectType.PGPKey]));
    expect(v1).not.toContain(ObjectType.CertificateRequest); // a 2.0 object type
    // Create Split Key exists from 1.2 (s.11.36): a 1.1 client is not offered it.
    const v11 = await makeContextFor(t.store, t.protector, 'test-tenant', 'test-service', { version: { major: 1, minor: 1 } });
    const ops11 = children(await query.run(v11.ctx, Q(QueryFunction.QueryOperations)), Tag.Operation).map((c) => c.value);
    expect(ops11).not.toContain(Operation.CreateSplitKey);
    expect(ops11).toContain(Operation.Archive);
  });
  it('Notify and Put sent by a client: Operation Not Supported, saying they are server-to-client', async () => {
    for (const op of [Operation.Notify, Operation.Put]) {
      const err = await OPERATIONS.get(op)!.run(t.ctx, P(textString(Tag.UniqueIdentifier, 'x'))).catch((e: unknown) => e);
      expect((err as KmipError).reason).toBe(ResultReason.OperationNotSupported);
      expect((err as KmipError).message).toMatch(/server-to-client/);
    }
  });
});
