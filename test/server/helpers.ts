// Test-only pieces for the server suites: a tiny operation map (real DiscoverVersions
// semantics, a toy Create/Activate over an in-memory repository, a handler that throws),
// identity adapters and a builder for request messages.
import { Writable } from 'node:stream';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ObjectType, State } from '../../src/ttlv/generated/enumerations.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { structure, textString, byteString, child, type Struct } from '../../src/kmip/items.ts';
import { buildRequestMessage, protocolVersionItem, parseProtocolVersion, type RequestHeaderOptions, type RequestBatchItemOptions } from '../../src/kmip/message.ts';
import { SUPPORTED_VERSIONS, type ProtocolVersion } from '../../src/kmip/version.ts';
import type { ManagedObject } from '../../src/kmip/object.ts';
import type { ClientIdentity, ObjectRepository, OperationHandler } from '../../src/operations/types.ts';
import { KmipEngine, type AccessControl, type VersionAdapters } from '../../src/server/executor.ts';
import { createLogger, silentLogger, type Logger } from '../../src/log/index.ts';
import { recordResult, resolveUid } from '../../src/operations/uid.ts';

export const IDENTITY: ClientIdentity = { subject: 'CN=test', sans: [], fingerprint: 'ab'.repeat(32), tenant: 'default', service: 'default' };

export const IDENTITY_ADAPTERS: VersionAdapters = {
  requestToInternal: (_v, _op, p) => p,
  responseFromInternal: (_v, _op, p) => p,
};

export class MemoryRepository implements ObjectRepository {
  readonly objects = new Map<string, ManagedObject>();
  private next = 1;
  async create(obj: Omit<ManagedObject, 'tenant' | 'service' | 'revision'>): Promise<ManagedObject> {
    const o: ManagedObject = { ...obj, uid: obj.uid || `uid-${this.next++}`, tenant: 'default', service: 'default', revision: 0 };
    this.objects.set(o.uid, { ...o });
    return { ...o };
  }
  async load(uid: string) { const o = this.objects.get(uid); return o && { ...o }; }
  async save(obj: ManagedObject) { this.objects.set(obj.uid, { ...obj, revision: obj.revision + 1 }); obj.revision++; }
  async *scan() { for (const o of this.objects.values()) yield o; }
  async remove(uid: string) { return this.objects.delete(uid); }
}

const versionsEqual = (a: ProtocolVersion, b: ProtocolVersion) => a.major === b.major && a.minor === b.minor;

export function testOperations(): Map<number, OperationHandler> {
  const ops: OperationHandler[] = [
    {
      operation: Operation.DiscoverVersions, name: 'DiscoverVersions', since: '1.1',
      async run(_ctx, payload) {
        // s.6.1.16: none offered → all ours; else the intersection in the client's order.
        const offered = payload.value.filter((c) => c.tag === Tag.ProtocolVersion).map((c) => parseProtocolVersion(c));
        const list = offered.length === 0 ? SUPPORTED_VERSIONS : offered.filter((o) => SUPPORTED_VERSIONS.some((s) => versionsEqual(s, o)));
        return structure(Tag.ResponsePayload, list.map(protocolVersionItem));
      },
    },
    {
      operation: Operation.Create, name: 'Create', since: '1.0',
      async run(ctx) {
        const o = await ctx.objects.create({ uid: '', objectType: ObjectType.SymmetricKey, state: State.PreActive, attributes: [] });
        recordResult(ctx, Operation.Create, [o.uid], { setPlaceholder: true });
        return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, o.uid)]);
      },
    },
    {
      operation: Operation.Activate, name: 'Activate', since: '1.0',
      async run(ctx, payload) {
        const uid = resolveUid(ctx, payload);
        const o = await ctx.objects.load(uid);
        if (!o) throw new KmipError(ResultReason.ItemNotFound, `no object ${uid}`);
        if (o.state !== State.PreActive) throw new KmipError(ResultReason.WrongKeyLifecycleState, 'object is not Pre-Active');
        o.state = State.Active;
        await ctx.objects.save(o);
        return structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, uid)]);
      },
    },
    {
      // A handler with a bug: a non-KMIP exception must become General Failure.
      operation: Operation.Check, name: 'Check', since: '1.0',
      async run() { throw new TypeError('boom: cannot read properties of undefined'); },
    },
    {
      // Returns as many bytes as asked (Interval-free toy): for Maximum Response Size.
      operation: Operation.RNGRetrieve, name: 'RNGRetrieve', since: '1.3',
      async run(_ctx, payload) {
        const n = child(payload, Tag.DataLength);
        const len = n?.type === 'Integer' ? n.value : 16;
        return structure(Tag.ResponsePayload, [byteString(Tag.Data, Buffer.alloc(len, 7))]);
      },
    },
    {
      // Sleeps DataLength ms, then echoes it: pipelining must keep request order even when
      // an earlier request is slower than a later one.
      operation: Operation.Validate, name: 'Validate', since: '1.0',
      async run(_ctx, payload) {
        const n = child(payload, Tag.DataLength);
        const ms = n?.type === 'Integer' ? n.value : 0;
        await new Promise((r) => setTimeout(r, ms));
        return structure(Tag.ResponsePayload, [{ tag: Tag.DataLength, type: 'Integer', value: ms }]);
      },
    },
  ];
  return new Map(ops.map((o) => [o.operation, o]));
}

/**
 * Access control for tests of message semantics: every caller is the admin of
 * default/default (what bootstrap mode does in src/server/runtime.ts). Access control
 * itself is tested in test/governance and test/isolation.
 */
export const ADMIN_OF_DEFAULT: AccessControl = {
  authenticate: (who) => ({
    ok: true,
    principal: {
      identity: { id: 'test-admin', tenant: 'default', service: 'default', role: 'admin', match: { kind: 'fingerprint', sha256: who.fingerprint }, revoked: false },
      role: { name: 'admin', operations: ['*'], builtIn: true },
      grants: [],
      bootstrap: true,
    },
  }),
};

export function testEngine(opts: { logger?: Logger; repo?: MemoryRepository } = {}) {
  const repo = opts.repo ?? new MemoryRepository();
  const engine = new KmipEngine({
    operations: testOperations(),
    adapters: IDENTITY_ADAPTERS,
    access: ADMIN_OF_DEFAULT,
    repositoryFor: () => repo,
    removeObject: async (_id, uid) => repo.remove(uid),
    server: { vendor: 'OpenKCM', product: 'test', version: '0', l1: { provider: 'software', keyRef: 'test', developmentOnly: true } },
    logger: opts.logger ?? silentLogger(),
  });
  return { engine, repo };
}

export function request(version: ProtocolVersion, items: Array<Partial<RequestBatchItemOptions> & { operation: number }>, header: Partial<RequestHeaderOptions> = {}): Struct {
  return buildRequestMessage({ protocolVersion: version, ...header },
    items.map((i) => ({ payload: structure(Tag.RequestPayload, []), ...i })));
}

/** Captures pino lines in memory. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  return { logger: createLogger({ level: 'debug', destination: stream }), lines };
}
