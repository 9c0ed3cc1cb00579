// The batch executor: the one place where message semantics live (DESIGN.md §4).
// Request bytes/tree in, response tree/bytes out, in the request's protocol version.
//
// Choices the specification leaves to the server, made here once:
// - Version of error replies. A request in a version we speak is answered in that version.
//   For a version we do not speak (e.g. 1.5, 2.2, 3.0) we answer in our highest version of
//   the same major (1.4 for 1.x, 2.1 for 2.x), and in 2.1 for any other major, so the
//   client can at least read the header; the failure reason is UnsupportedProtocolVersion
//   when that answer is 2.x and InvalidMessage when it is 1.x (which lacks the former;
//   1.4 s.11.1). Bytes that do not even decode are answered in the version found at the
//   fixed offsets of a well-formed header when it is readable, else in 1.0 — the oldest
//   version, which every client can parse (1.4 s.11.1).
// - Batch Order Option (1.4 s.6.12 default False; 2.1 s.9.8 default True): we always run
//   items sequentially in request order, which satisfies both settings; the effective value
//   is logged. The ID Placeholder stays available in either case (lenient towards 1.x
//   clients that chain Create+Activate without setting the option).
// - Batch Error Continuation Option (s.9.6; 1.4 s.6.13): Continue runs every item; Stop
//   does not process the items after a failed one and leaves them out of the response
//   (Batch Count of the response = items answered); Undo does the same and then rolls back
//   the items that had succeeded, reporting them as Operation Undone with their payload
//   (as the OASIS vector BL-M-2-21 expects). Rollback works through a journal over the
//   object repository of this request: objects created are removed, objects changed are
//   written back as they were. A change made meanwhile by another connection to the same
//   object would be overwritten; an item whose rollback fails keeps status Success and the
//   failure is logged.
// - Asynchronous Indicator (s.9.2; 1.4 s.6.7): with an async manager (EngineOptions
//   asyncOperations, src/server/async-operations.ts), an item of an operation it runs in the
//   background is answered Operation Pending with an Asynchronous Correlation Value when the
//   indicator is Optional/Mandatory (1.x true) and the batch is not under Undo. Any other
//   item is processed synchronously under Optional, which the client allowed, and refused
//   with FeatureNotSupported under Mandatory (no reason is more specific in s.11.46); Poll
//   and Cancel are always synchronous (s.6.1.38).
// - Unique Batch Item ID is echoed; its absence in a multi-item batch is tolerated.
// - ID Placeholder and 2.x Unique Identifier references (s.6.1, s.4.58, s.11.58), per the
//   contract written in src/operations/uid.ts: one BatchState per message; the executor
//   sets `itemIndex` before each item and records `responseUids[i]` after it (the
//   identifiers of a success, [] for a failure); operations resolve references with
//   resolveUid() and set the placeholder and `lastByOperation` with recordResult(). An
//   Enumeration reference that stands for several objects ("repeat the operation for
//   each", s.11.58) is not expanded here: resolveUid refuses it with Invalid Field.
// - Result Reasons are mapped to what the response's version defines (reasonForVersion):
//   2.x-only reasons become their 1.x equivalent for 1.x clients, and the two reasons 2.0
//   removed are never sent to a 2.x client (NOTES.md §2).
// - Authentication credentials are not checked here: the client certificate of mutual TLS
//   is the identity (DESIGN.md §3).
// - Access control (issue 7 "Enforcement"), as middleware before any operation runs:
//   every message is authenticated afresh from the certificate (so a revocation or a seal
//   applies to open connections at their next message): an unknown, revoked or
//   not-active-tenant certificate is refused at the first batch item with Permission
//   Denied and the others are not processed (as with Stop). Each item is then checked
//   against the role (deny by default); objects are checked by the repository per object
//   (src/hierarchy/repository.ts), so an object the caller may not reach answers exactly
//   like a missing one. The tenant and service of the caller come from the governance
//   identity, never from the ClientIdentity handed in.
// - Audit (issue 16 §1): every request batch item is exactly one audit record, whatever the
//   client sent and whatever path it took — refused certificate or sealed tenant (one record
//   per item, the unprocessed ones saying so), items skipped after a failure under Stop or
//   Undo, items rolled back by Undo (their record rewritten, not doubled), exceptions. The
//   records of a message are collected per item and appended together once the batch is
//   decided. Client text goes in as sent; the audit module escapes and cuts it. A message
//   that cannot be read as a request is one record (operation null). While the audit log
//   cannot take records, every item is refused before it runs (General Failure); when the
//   records of a processed message cannot be appended, its results are withheld.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { TtlvError } from '../ttlv/errors.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import {
  ResultReason, ResultStatus, Operation, BatchErrorContinuationOption, ENUMERATIONS, ObjectType,
} from '../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { resultReasonForVersion } from '../kmip/adapters/reasons.ts';
import { structure, type Struct } from '../kmip/items.ts';
import {
  parseRequestMessage, peekProtocolVersion, buildResponseMessage,
  type RequestBatchItem, type RequestHeader, type ResponseBatchItem,
} from '../kmip/message.ts';
import {
  SUPPORTED_VERSIONS, isSupportedVersion, is1x, atLeast, versionString, type ProtocolVersion,
} from '../kmip/version.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { authorize, servicesOf, type PolicyGrant, type PolicyIdentity } from '../policy/access.ts';
import { GATEWAY_ROLE, type PolicyRole } from '../policy/roles.ts';
import { actingForService } from '../kmip/acting-for.ts';
import { GatewayWatch, isWatchPoll } from './gateway-watch.ts';
import { SERVICE_L3_PREFIX } from '../operations/common/service-l3.ts';
import type { ObjectAccess, ObjectMeta } from '../hierarchy/repository.ts';
import { AUDIT_KINDS, AuditInputError, type AuditInput } from '../audit/record.ts';
import type { AuditAvailability } from '../audit/log.ts';
import { uidsInResponse } from '../operations/uid.ts';
import { OperationPending, polledOperation } from '../operations/async.ts';
import type { AsyncOperationStore } from '../store/async-operations.ts';
import { AsyncOperations, type AsyncSettings } from './async-operations.ts';
import { DEFAULT_MAX_BATCH_ITEMS } from '../config/defaults.ts';
import { withoutRedaction } from '../log/index.ts';
import { StoreConflictError, StoreUnavailableError } from '../store/types.ts';
import type { KmipRequestMetrics } from './metrics.ts';
import type {
  AsynchronousOperations, BatchState, ClientIdentity, NamePolicy, ObjectRepository, OperationContext, OperationHandler, ServerInfo, ServiceKeyWrapping,
} from '../operations/types.ts';

/** The 1.x ⇄ 2.1 payload conversion (src/kmip/adapters), injected so tests can pass their own. */
export interface VersionAdapters {
  requestToInternal(version: ProtocolVersion, operation: number, payload: Struct): Struct;
  responseFromInternal(version: ProtocolVersion, operation: number, payload: Struct): Struct;
}

/** An authenticated caller: its governance identity, role and the grants of its tenant. */
export interface Principal {
  identity: PolicyIdentity;
  role: PolicyRole;
  grants: readonly PolicyGrant[];
  /** Bootstrap mode (no governance data yet): see src/server/runtime.ts. */
  bootstrap: boolean;
  /** Its tenant's Name policy (issue 13 §5); absent = 'unique'. */
  names?: NamePolicy;
}

export type Authentication =
  | { ok: true; principal: Principal }
  | {
    ok: false; reason: string; identityId?: string; tenant?: string; service?: string;
    /**
     * Set when the certificate is a valid identity refused only because its tenant is not
     * active (sealed, killed): its role and services, so that a gateway's status watch can
     * stay open and say when the tenant comes back (gateway-watch.ts).
     */
    tenantInactive?: { role: string; services: string[] };
  };

/** Maps a certificate to a Principal, from the governance data (src/server/runtime.ts GovernanceAccess). */
export interface AccessControl {
  authenticate(who: ClientIdentity): Authentication;
}

/** Where audit records go (src/audit AuditLog.append). */
export interface AuditSink {
  append(record: AuditInput): void;
  /**
   * Asked before each batch item runs; while not ok the item is refused (issue 16 §1: never
   * serve unaudited). Absent: always available.
   */
  availability?(): AuditAvailability;
  /** Resolves once the records appended so far are on disk (AuditLog.whenDurable). */
  whenDurable?(): Promise<void>;
}

export interface EngineOptions {
  operations: ReadonlyMap<number, OperationHandler>;
  adapters: VersionAdapters;
  /** Authentication and authorization; required: there is no engine without access control. */
  access: AccessControl;
  /** Audit trail; absent only in tests of message semantics. */
  audit?: AuditSink;
  /**
   * `audit.durable: true`: a reply waits until the records of its message are on disk.
   * Default false: it is sent once they are queued, and a crash loses at most the records
   * of the audit log's last group-commit window (src/audit/log.ts).
   */
  auditDurable?: boolean;
  /** The repository of a caller's tenant and service, with its rights over objects. */
  repositoryFor(identity: ClientIdentity, access: ObjectAccess): ObjectRepository;
  /** Physically removes an object created by a batch item that is being undone. Without it Undo cannot remove creations. */
  removeObject?(identity: ClientIdentity, uid: string): Promise<boolean>;
  server: ServerInfo;
  logger: Logger;
  now?: () => Date;
  /**
   * Refuses a tenant whose key hierarchy is sealed (DESIGN.md §2), by throwing a KmipError
   * (PermissionDenied, "tenant … is sealed: …"). Called once per message, before any batch
   * item runs, so that operations which never open a key value (Locate, Get Attributes)
   * are refused too; the key protector refuses the others on its own.
   */
  tenantGate?(tenant: string): Promise<void>;
  /** Batch items one message may carry (DEFAULT_MAX_BATCH_ITEMS says what it stops). */
  maxBatchItems?: number;
  /** The services' L3 wrapping objects for gateways (src/operations/common/service-l3.ts). */
  serviceKeys?: ServiceKeyWrapping;
  /** Request counters and latency (issue 14 §2, src/server/metrics.ts); absent: nothing is counted. */
  metrics?: KmipRequestMetrics;
  /** Seal/unseal events of this process's hierarchy: they wake gateways' status watches at once (gateway-watch.ts). */
  tenantChanges?(listener: (tenant: string) => void): () => void;
  /** Overrides of the watch's hold and re-check periods (tests). */
  watch?: { holdMs?: number; recheckMs?: number };
  /** Whether a tenant's hierarchy is sealed now (asynchronous operations fail on a seal). */
  tenantSealed?(tenant: string): boolean;
  /**
   * Asynchronous operations (src/server/async-operations.ts): their table, and overrides of
   * the limits (tests). Absent: every request is processed synchronously.
   */
  asyncOperations?: { store: AsyncOperationStore; settings?: Partial<AsyncSettings>; now?: () => number };
}

export interface HandledMessage {
  response: TtlvItem;
  bytes: Buffer;
  version: ProtocolVersion;
}

/**
 * Operations whose one write is a read-modify-write of the object they name: one save, at
 * the end, no creation, no Usage Limits counter, no output computed from the object before
 * the save. When that save loses the store's optimistic-concurrency race
 * (StoreConflictError: another connection saved the object between our load and our save),
 * nothing of the item took effect, so the executor runs it again from a fresh load. Every
 * other operation is never re-run: a second run could create a second object or count a
 * usage twice (those handle their own conflicts, e.g. usage-limits.ts allocateUsage).
 */
const RERUN_ON_CONFLICT: ReadonlySet<number> = new Set([
  Operation.AddAttribute, Operation.SetAttribute, Operation.ModifyAttribute, Operation.DeleteAttribute,
  Operation.AdjustAttribute, Operation.Activate, Operation.Revoke, Operation.Destroy, Operation.Get,
]);
/**
 * Runs of one item on an optimistic-concurrency conflict. Bounded so that many connections
 * hammering one object cannot keep a request looping (and its connection slot held) forever:
 * after this many lost races the item is answered, not spun on (at most ~100 ms of waits,
 * CONFLICT_BACKOFF_MS). With 40 writers on one object at once, about 24 succeed and the
 * rest get the conflict answer (test/server/fuzz-findings.test.ts).
 */
export const MAX_CONFLICT_RUNS = 5;
/**
 * Before a re-run, a random wait of up to this many ms × the run number: writers that lost
 * the same race otherwise reload together and race again, one winner per round.
 */
const CONFLICT_BACKOFF_MS = 10;

const LATEST: ProtocolVersion = SUPPORTED_VERSIONS[0]!;
const OLDEST: ProtocolVersion = { major: 1, minor: 0 };

/** Which version to answer a request written in `v` (see the header comment). */
export function replyVersion(v: ProtocolVersion | undefined): ProtocolVersion {
  if (v === undefined) return OLDEST;
  if (isSupportedVersion(v)) return v;
  const sameMajor = SUPPORTED_VERSIONS.filter((s) => s.major === v.major);
  return sameMajor[0] ?? LATEST;
}

/**
 * Reads the Protocol Version from the fixed offsets it has in a well-formed request
 * (Request Message → Request Header → Protocol Version → Major, Minor: the first items of
 * each), for answering bytes that fail to decode somewhere later (1.4 s.11.1).
 */
export function sniffProtocolVersion(buf: Buffer): ProtocolVersion | undefined {
  if (buf.length < 56) return undefined;
  const at = (off: number, tag: number, type: number) => buf.readUIntBE(off, 3) === tag && buf[off + 3] === type;
  if (!at(0, Tag.RequestMessage, 1) || !at(8, Tag.RequestHeader, 1) || !at(16, Tag.ProtocolVersion, 1)) return undefined;
  if (!at(24, Tag.ProtocolVersionMajor, 2) || buf.readUInt32BE(28) !== 4) return undefined;
  if (!at(40, Tag.ProtocolVersionMinor, 2) || buf.readUInt32BE(44) !== 4) return undefined;
  return { major: buf.readInt32BE(32), minor: buf.readInt32BE(48) };
}

const REASON_NAME = new Map<number, string>(Object.entries(ResultReason).map(([n, v]) => [v, n]));
const OPERATION_NAME = new Map<number, string>(Object.entries(Operation).map(([n, v]) => [v, n]));
const REASON_INFO = ENUMERATIONS.ResultReason!.valueInfo;

export const reasonName = (r: number) => REASON_NAME.get(r) ?? `0x${r.toString(16)}`;
export const operationName = (o: number) => OPERATION_NAME.get(o) ?? `0x${o.toString(16)}`;
const OBJECT_TYPE_NAME = new Map<number, string>(Object.entries(ObjectType).map(([n, v]) => [v, n]));

/** The caller's rights over objects for the batch item running now (repository per-object check). */
class BatchAccess implements ObjectAccess {
  operation = '';
  constructor(private readonly principal: Principal, private readonly log: Logger) {}
  private facts(o: ObjectMeta) {
    return { objectType: OBJECT_TYPE_NAME.get(o.objectType) ?? `0x${o.objectType.toString(16)}`, groups: o.groups, service: o.service };
  }
  canReach(o: ObjectMeta): boolean {
    const p = this.principal;
    const d = authorize(p.identity, p.role, this.operation, this.facts(o), p.grants);
    // The client sees Item Not Found; the reason is for the operator only.
    if (!d.allowed) this.log.debug({ event: 'object_denied', uid: o.uid, reason: d.reason }, 'object not reachable by this identity');
    return d.allowed;
  }
  assertCreate(o: ObjectMeta): void {
    const p = this.principal;
    const d = authorize(p.identity, p.role, this.operation, this.facts(o), p.grants);
    if (!d.allowed) throw new KmipError(ResultReason.PermissionDenied, `not permitted: ${d.reason}`);
  }
}

/**
 * A Result Reason the reply's version defines (a 2.x-only reason never reaches a 1.x
 * client, a reason 2.0 removed never reaches a 2.x one). One table for the whole server:
 * src/kmip/adapters/reasons.ts.
 */
export function reasonForVersion(reason: number, v: ProtocolVersion): number {
  return resultReasonForVersion(reason, v);
}

/** The first Text String child with this tag. */
function firstText(payload: Struct, tag: number): string | undefined {
  for (const c of payload.value) if (c.tag === tag && c.type === 'TextString') return c.value;
  return undefined;
}

function cloneItem(i: TtlvItem): TtlvItem {
  if (i.type === 'Structure') return { ...i, value: i.value.map(cloneItem) };
  if (i.type === 'ByteString') return { ...i, value: Buffer.from(i.value) };
  return { ...i };
}

function cloneObject(o: ManagedObject): ManagedObject {
  const c: ManagedObject = { ...o, attributes: o.attributes.map(cloneItem) };
  if (o.value !== undefined) c.value = cloneItem(o.value);
  return c;
}

/**
 * The OperationContext of one batch item. A class rather than an object literal: one shape
 * for every item, its `log` getter on the prototype (the item's child logger is made only
 * when an operation logs, see runItem), no spread of optional members (issue 12 §2).
 */
class ItemContext implements OperationContext {
  declare names?: NamePolicy;
  declare serviceKeys?: ServiceKeyWrapping;
  declare asynchronous?: AsynchronousOperations;
  constructor(
    readonly version: ProtocolVersion,
    readonly identity: ClientIdentity,
    readonly objects: ObjectRepository,
    readonly batch: BatchState,
    readonly now: () => Date,
    private readonly run: ItemRun,
    readonly server: ServerInfo,
    readonly operations: ReadonlyMap<number, OperationHandler>,
    names: NamePolicy | undefined,
    serviceKeys: ServiceKeyWrapping | undefined,
    asynchronous: AsynchronousOperations | undefined,
  ) {
    if (names !== undefined) this.names = names;
    if (serviceKeys !== undefined) this.serviceKeys = serviceKeys;
    if (asynchronous !== undefined) this.asynchronous = asynchronous;
  }
  get log(): Logger { return this.run.log(); }
}

/**
 * What the executor keeps of one batch item while it runs: one object, where closures per
 * item (the lazy logger, the audit record, the failure answer) used to be made (issue 12 §2).
 */
class ItemRun {
  readonly started = process.hrtime.bigint();
  readonly op: number;
  private child: Logger | undefined = undefined;
  constructor(
    readonly version: ProtocolVersion,
    readonly item: RequestBatchItem,
    readonly identity: ClientIdentity,
    readonly principal: Principal,
    /** The item's place in the batch (BatchState.itemIndex when it started). */
    readonly index: number,
    private readonly trail: Array<AuditInput | undefined>,
    readonly parentLog: Logger,
  ) {
    this.op = item.operation;
  }

  /**
   * No child logger per item (issue 12 §2: a child and its bindings cost more than the
   * item's own work): the batch-item line names item and operation itself, and the child
   * with those bindings is made only if something else is logged for the item.
   */
  log(): Logger {
    return (this.child ??= this.parentLog.child({ item: this.index, operation: operationName(this.op) }));
  }

  /**
   * The item's one record. Client text (a UID with control characters, 10 000 characters
   * long…) goes in as sent: the audit module escapes and cuts it (src/audit/record.ts).
   */
  audit(result: 'success' | 'failure', reason: number | undefined, objectId: string | undefined, detail: string | undefined): void {
    const rec: AuditInput = {
      kind: 'kmip', identity: this.principal.identity.id, tenant: this.identity.tenant, service: this.identity.service,
      operation: OPERATION_NAME.get(this.op) ?? null, objectId: objectId ?? null, result,
      reason: reason === undefined ? null : auditReason(reason),
    };
    if (detail !== undefined) rec.detail = detail;
    this.trail[this.index] = rec;
  }

  /** The item's response; Unique Batch Item ID echoed when the request had one. */
  response(
    resultStatus: number, resultReason: number | undefined, resultMessage: string | undefined,
    payload: Struct | undefined, asynchronousCorrelationValue: Buffer | undefined,
  ): ResponseBatchItem {
    const out: ResponseBatchItem = { operation: this.op, resultStatus };
    const id = this.item.uniqueBatchItemId;
    if (id !== undefined) out.uniqueBatchItemId = id;
    if (resultReason !== undefined) out.resultReason = resultReason;
    if (resultMessage !== undefined) out.resultMessage = resultMessage;
    if (asynchronousCorrelationValue !== undefined) out.asynchronousCorrelationValue = asynchronousCorrelationValue;
    if (payload !== undefined) out.payload = payload;
    return out;
  }
}

/** Records what a batch changes so that Undo can put it back (see header comment). */
class UndoJournal implements ObjectRepository {
  private readonly created: string[] = [];
  private readonly before = new Map<string, ManagedObject>();
  constructor(private readonly inner: ObjectRepository) {}

  async create(obj: Omit<ManagedObject, 'tenant' | 'service' | 'revision'>): Promise<ManagedObject> {
    const o = await this.inner.create(obj);
    this.created.push(o.uid);
    return o;
  }
  load(uid: string) { return this.inner.load(uid); }
  scan(filter: Parameters<ObjectRepository['scan']>[0]) { return this.inner.scan(filter); }
  async save(obj: ManagedObject): Promise<void> {
    if (!this.before.has(obj.uid) && !this.created.includes(obj.uid)) {
      const old = await this.inner.load(obj.uid);
      if (old !== undefined) this.before.set(obj.uid, cloneObject(old));
    }
    await this.inner.save(obj);
  }

  /** Puts everything back; returns the problems met (empty on full success). */
  async rollback(remove: ((uid: string) => Promise<boolean>) | undefined): Promise<string[]> {
    const problems: string[] = [];
    for (const uid of [...this.created].reverse()) {
      try {
        if (!remove || !(await remove(uid))) problems.push(`created object ${uid} could not be removed`);
      } catch (e) {
        problems.push(`removing ${uid}: ${(e as Error).message}`);
      }
    }
    for (const [uid, old] of this.before) {
      try {
        const cur = await this.inner.load(uid);
        if (cur === undefined) { problems.push(`object ${uid} vanished before it could be restored`); continue; }
        await this.inner.save({ ...old, revision: cur.revision });
      } catch (e) {
        problems.push(`restoring ${uid}: ${(e as Error).message}`);
      }
    }
    return problems;
  }
}

export class KmipEngine {
  private readonly now: () => Date;
  private readonly watch: GatewayWatch;
  private readonly async: AsyncOperations | undefined;
  constructor(private readonly opts: EngineOptions) {
    this.now = opts.now ?? (() => new Date());
    const a = opts.asyncOperations;
    this.async = a === undefined ? undefined : new AsyncOperations({
      store: a.store, log: opts.logger, audit: (record) => this.appendRecord(opts.logger, record),
      ...(a.settings !== undefined ? { settings: a.settings } : {}),
      ...(a.now !== undefined ? { now: a.now } : {}),
      ...(opts.tenantChanges ? { tenantChanges: (l: (t: string) => void) => opts.tenantChanges!(l) } : {}),
      ...(opts.tenantSealed ? { tenantSealed: (t: string) => opts.tenantSealed!(t) } : {}),
    });
    this.watch = new GatewayWatch({
      authenticate: (who) => opts.access.authenticate(who),
      ...(opts.tenantGate ? { tenantGate: (t: string) => opts.tenantGate!(t) } : {}),
      ...(opts.tenantChanges ? { tenantChanges: (l: (t: string) => void) => opts.tenantChanges!(l) } : {}),
      audit: (record) => this.appendRecord(opts.logger, record),
      ...opts.watch,
    });
  }

  /**
   * The connection of `identity` ended or is shutting down: a gateway's held status watch is
   * answered now and its close is audited (gateway-watch.ts).
   */
  connectionEnded(identity: ClientIdentity, why: string): void {
    this.watch.connectionEnded(identity, why);
  }

  get operations(): ReadonlyMap<number, OperationHandler> {
    return this.opts.operations;
  }

  /** Shutdown: waits for the asynchronous operations running in this process. */
  async close(): Promise<void> {
    await this.async?.close();
  }

  async handleMessage(request: TtlvItem, identity: ClientIdentity, log: Logger = this.opts.logger): Promise<TtlvItem> {
    return (await this.process(request, identity, log)).response;
  }

  /**
   * Bytes in, bytes out. A message that does not decode is answered with Invalid Message
   * and a Result Message saying where decoding failed (1.4 s.11.1); it never throws.
   */
  async handleBytes(buf: Buffer, identity: ClientIdentity, log: Logger = this.opts.logger): Promise<Buffer> {
    return (await this.handleBytesDetailed(buf, identity, log)).bytes;
  }

  // Not async itself: an async function returning process()'s promise would resolve its own
  // promise with it, two more microtask hops per message (issue 12 §2).
  handleBytesDetailed(buf: Buffer, identity: ClientIdentity, log: Logger = this.opts.logger): Promise<HandledMessage> {
    let tree: TtlvItem;
    try {
      tree = decode(buf);
    } catch (e) {
      const detail = e instanceof TtlvError ? e.message : 'undecodable message';
      const v = replyVersion(sniffProtocolVersion(buf));
      log.info({ event: 'message', result: 'InvalidMessage', detail }, 'request could not be decoded');
      // Invalid Message in every version (1.4 s.11.1); 2.x's Codec Error is left for
      // payload-level encoding problems, so clients of both majors see the same reason.
      try {
        this.auditMessage(log, identity, ResultReason.InvalidMessage, `cannot decode the request: ${detail}`);
        return Promise.resolve(this.finish(this.messageFailure(v, ResultReason.InvalidMessage, `cannot decode the request: ${detail}`, undefined)));
      } catch (e2) {
        return Promise.reject(e2);
      }
    }
    return this.process(tree, identity, log);
  }

  /**
   * The answer to a message that never became TTLV (KMIP XML or JSON over HTTPS that does not
   * parse): Invalid Message, logged and audited exactly as undecodable TTLV bytes are.
   */
  async answerUndecodable(detail: string, identity: ClientIdentity, log: Logger = this.opts.logger, version?: ProtocolVersion): Promise<Buffer> {
    log.info({ event: 'message', result: 'InvalidMessage', detail }, 'request could not be decoded');
    this.auditMessage(log, identity, ResultReason.InvalidMessage, detail);
    return this.finish(this.messageFailure(replyVersion(version), ResultReason.InvalidMessage, detail, undefined)).bytes;
  }

  private finish(response: TtlvItem, maxSize?: number): HandledMessage {
    const bytes = encode(response);
    const v = peekVersionOfResponse(response);
    if (maxSize !== undefined && bytes.length > maxSize) {
      // s.9.14: Maximum Response Size exceeded → Response Too Large. Every item is reported
      // failed (payloads dropped), keeping Operation and Unique Batch Item ID so the client
      // can tell which requests were concerned. Side effects already took place.
      const small = shrinkToTooLarge(response, maxSize, bytes.length);
      return { response: small, bytes: encode(small), version: v };
    }
    return { response, bytes, version: v };
  }

  /** A whole-message failure: one batch item without Operation (1.4 s.11.1). */
  private messageFailure(v: ProtocolVersion, reason: number, message: string, header: RequestHeader | undefined): TtlvItem {
    return buildResponseMessage(this.responseHeader(v, header), [{
      resultStatus: ResultStatus.OperationFailed,
      resultReason: reasonForVersion(reason, v),
      resultMessage: message,
    }]);
  }

  private responseHeader(v: ProtocolVersion, header: RequestHeader | undefined) {
    // No Server Correlation Value is volunteered: PyKMIP 0.10 (a real client, CLIENTS.md)
    // cannot parse a 1.4/2.0 response header that carries one. The client's own
    // correlation value is echoed only when it sent one (1.4 s.6.19).
    const h: Parameters<typeof buildResponseMessage>[0] = { protocolVersion: v, timeStamp: this.now() };
    if (header?.clientCorrelationValue !== undefined) h.clientCorrelationValue = header.clientCorrelationValue;
    return h;
  }

  private async process(tree: TtlvItem, identity: ClientIdentity, log: Logger): Promise<HandledMessage> {
    let parsed;
    try {
      parsed = parseRequestMessage(tree);
    } catch (e) {
      const v = replyVersion(peekProtocolVersion(tree));
      const known = peekProtocolVersion(tree);
      if (e instanceof KmipError) {
        const message = known !== undefined && !isSupportedVersion(known)
          ? `protocol version ${versionString(known)} is not supported; ${e.message}` : e.message;
        log.info({ event: 'message', result: reasonName(e.reason), detail: message }, 'malformed request');
        this.auditMessage(log, identity, e.reason, message);
        return this.finish(this.messageFailure(v, e.reason, message, undefined));
      }
      log.error({ err: e }, 'unexpected failure while parsing a request');
      this.auditMessage(log, identity, ResultReason.GeneralFailure, 'internal error while reading the request');
      return this.finish(this.messageFailure(v, ResultReason.GeneralFailure, 'internal error while reading the request', undefined));
    }
    const { header, batchItems } = parsed;
    const requested = header.protocolVersion;
    if (!isSupportedVersion(requested)) {
      // s.9.16: a server need not speak other versions; tell the client which we do.
      const v = replyVersion(requested);
      const list = SUPPORTED_VERSIONS.map(versionString).join(', ');
      log.info({ event: 'message', result: 'UnsupportedProtocolVersion', requested: versionString(requested) }, 'unsupported protocol version');
      const reason = is1x(v) ? ResultReason.InvalidMessage : ResultReason.UnsupportedProtocolVersion;
      const message = `protocol version ${versionString(requested)} is not supported; supported: ${list}`;
      this.auditMessage(log, identity, reason, message);
      return this.finish(this.messageFailure(v, reason, message, header));
    }
    const v = requested;
    if (header.batchCount !== batchItems.length) {
      const message = `BatchCount is ${header.batchCount} but the message holds ${batchItems.length} batch item(s)`;
      this.auditMessage(log, identity, ResultReason.InvalidMessage, message);
      return this.finish(this.messageFailure(v, ResultReason.InvalidMessage, message, header), header.maximumResponseSize);
    }
    const maxItems = this.opts.maxBatchItems ?? DEFAULT_MAX_BATCH_ITEMS;
    if (batchItems.length > maxItems) {
      // s.9.3 sets no maximum; one message must not cost thousands of operations and audit
      // records. Nothing of it runs (one record for the message); the connection lives.
      const message = `the message holds ${batchItems.length} batch items; this server accepts at most ${maxItems} per message (limit maxBatchItems)`;
      log.warn({ event: 'message', result: 'InvalidMessage', limit: 'maxBatchItems', batchItems: batchItems.length, maxBatchItems: maxItems }, 'too many batch items');
      this.auditMessage(log, identity, ResultReason.InvalidMessage, message);
      return this.finish(this.messageFailure(v, ResultReason.InvalidMessage, message, header), header.maximumResponseSize);
    }
    // A gateway's status watch (issue 11 §3): held until its tenant or its identity changes,
    // audited when it opens and closes, not per Poll (gateway-watch.ts). Any other caller's
    // Poll, and a refused certificate's, takes the ordinary path below.
    if (isWatchPoll(batchItems) && this.watch.admits(identity)) {
      const item = await this.watch.answer(batchItems[0]!, identity, log);
      if (item !== undefined) return this.finish(buildResponseMessage(this.responseHeader(v, header), [item]), header.maximumResponseSize);
      return this.finish(this.refusal(v, header, batchItems[0]!, ResultReason.GeneralFailure,
        'the audit log cannot take records; requests are refused until it can (no request is served unaudited)'), header.maximumResponseSize);
    }
    // Exactly one audit record per request batch item, whatever happens below (issue 16
    // §1): each path fills its items' slots; whatever is still empty at the end (an
    // unexpected exception) is filled as a failure. Records are appended once the whole
    // batch is decided, so that Undo can still change what they say.
    const trail: Array<AuditInput | undefined> = new Array<AuditInput | undefined>(batchItems.length).fill(undefined);
    this.opts.metrics?.batch(batchItems.length);
    let response: TtlvItem;
    try {
      response = await this.serve(v, header, batchItems, identity, log, trail);
    } catch (e) {
      const ref = randomBytes(6).toString('hex');
      log.error({ err: e, ref }, 'request failed unexpectedly');
      const message = `internal error (reference ${ref})`;
      response = this.refusal(v, header, batchItems[0]!, ResultReason.GeneralFailure, message);
      trail.forEach((rec, i) => {
        if (rec === undefined) trail[i] = unauthenticatedRecord(identity, batchItems[i]!, 'kmip', 'GeneralFailure', i === 0 ? message : `not processed: ${message}`);
      });
    }
    // Recorded before the answer is encoded: whatever happens next, the records exist.
    // auditDurable is awaited only when asked for: otherwise no promise and no hop per message.
    if (this.commitTrail(trail, batchItems, identity, log) && (this.opts.auditDurable !== true || await this.auditDurable(log))) {
      this.countItems(v, trail, false);
      return this.finish(response, header.maximumResponseSize);
    }
    this.countItems(v, trail, true);
    // The operations ran but their records cannot be stored: their results are withheld.
    return this.finish(this.refusal(v, header, batchItems[0]!, ResultReason.GeneralFailure,
      'the audit log cannot take records; the results of this request are withheld and requests are refused until it can (no request is served unaudited)'), header.maximumResponseSize);
  }

  /** Authentication, tenant gate and the batch; fills `trail` (one slot per item). */
  private async serve(
    v: ProtocolVersion, header: RequestHeader, batchItems: RequestBatchItem[], identity: ClientIdentity, log: Logger,
    trail: Array<AuditInput | undefined>,
  ): Promise<TtlvItem> {
    const auth = this.opts.access.authenticate(identity);
    // Refused at the first batch item; the others are not processed (issue 7), but each is
    // a record of its own: an auditor sees everything the refused client asked for.
    const first = batchItems[0]!;
    if (!auth.ok) {
      log.warn({ event: 'auth_failure', reason: auth.reason, fingerprint: identity.fingerprint, subject: identity.subject }, 'request refused');
      const detail = `${auth.identityId ? `identity ${auth.identityId}, ` : ''}${auth.reason}; subject ${identity.subject}`;
      batchItems.forEach((item, i) => {
        trail[i] = {
          ...unauthenticatedRecord(identity, item, 'auth-failure', 'PermissionDenied', i === 0 ? detail : 'not processed: the client certificate is not authorised'),
          tenant: auth.tenant ?? null, service: auth.service ?? null,
        };
      });
      return this.refusal(v, header, first, ResultReason.PermissionDenied, `the client certificate is not authorised: ${auth.reason}`);
    }
    let p = auth.principal;
    if (this.opts.tenantGate) {
      try {
        await this.opts.tenantGate(p.identity.tenant);
      } catch (e) {
        let reason: number = ResultReason.GeneralFailure;
        let message: string;
        if (e instanceof KmipError) {
          reason = e.reason;
          message = e.message;
        } else {
          const ref = randomBytes(6).toString('hex');
          log.error({ err: e, ref, tenant: p.identity.tenant }, 'tenant gate failed unexpectedly');
          message = `internal error (reference ${ref})`;
        }
        log.warn({ event: 'tenant_refused', tenant: p.identity.tenant, reason: message }, 'request refused');
        fillRefusedTrail(trail, batchItems, p.identity, reason, message);
        return this.refusal(v, header, first, reason, message);
      }
    }
    // A gateway acting for several services names the one of this message (issue 11 §1,
    // src/kmip/acting-for.ts); every other identity acts for its own service, credentials or not.
    let services: string[] | undefined;
    if (p.role.name === GATEWAY_ROLE) {
      services = servicesOf(p.identity);
      let refused: { reason: number; message: string } | undefined;
      try {
        const acting = actingForService(header.authentication);
        if (acting !== undefined && !services.includes(acting)) {
          refused = { reason: ResultReason.PermissionDenied, message: `service ${acting} is not allowed for this gateway` };
        } else if (acting !== undefined && acting !== p.identity.service) {
          p = { ...p, identity: { ...p.identity, service: acting } };
        }
      } catch (e) {
        if (!(e instanceof KmipError)) throw e;
        refused = { reason: e.reason, message: e.message };
      }
      if (refused !== undefined) {
        log.warn({ event: 'gateway_service_refused', identity: p.identity.id, reason: refused.message }, 'request refused');
        fillRefusedTrail(trail, batchItems, p.identity, refused.reason, refused.message);
        return this.refusal(v, header, first, refused.reason, refused.message);
      }
    }
    // The caller's tenant and service are the governance identity's, whatever was handed in.
    const caller: ClientIdentity = {
      ...identity, tenant: p.identity.tenant, service: p.identity.service, identityId: p.identity.id, role: p.role.name,
      ...(services !== undefined ? { services } : {}),
    };
    const items = await this.runBatch(v, header, batchItems, caller, p, log, trail);
    return buildResponseMessage(this.responseHeader(v, header), items);
  }

  /** The whole message refused at its first batch item (the others are not answered). */
  private refusal(v: ProtocolVersion, header: RequestHeader, first: RequestBatchItem, reason: number, message: string): TtlvItem {
    const refused: ResponseBatchItem = {
      operation: first.operation, resultStatus: ResultStatus.OperationFailed,
      resultReason: reasonForVersion(reason, v), resultMessage: message,
    };
    if (first.uniqueBatchItemId !== undefined) refused.uniqueBatchItemId = first.uniqueBatchItemId;
    return buildResponseMessage(this.responseHeader(v, header), [refused]);
  }

  /**
   * Resolves a certificate's identity once (the connection's log context). Authorization
   * still happens per message: this is never a decision.
   */
  identify(identity: ClientIdentity): ClientIdentity {
    const auth = this.opts.access.authenticate(identity);
    if (!auth.ok) return { ...identity, tenant: '', service: '' };
    const p = auth.principal;
    return { ...identity, tenant: p.identity.tenant, service: p.identity.service, identityId: p.identity.id, role: p.role.name };
  }

  /**
   * Appends one record. Text never makes it fail (the audit module escapes and cuts it); a
   * record the module still refuses is a programming error, and is written in a reduced form
   * that says so rather than dropped. False when the log cannot take it (closed, or too many
   * records queued while its database refuses writes).
   */
  private appendRecord(log: Logger, record: AuditInput): boolean {
    const sink = this.opts.audit;
    if (!sink) return true;
    try {
      sink.append(record);
      return true;
    } catch (e) {
      if (e instanceof AuditInputError) {
        log.error({ err: e, event: 'audit_input_refused', kind: record.kind, operation: record.operation }, 'audit record refused; writing a reduced record');
        try {
          sink.append({
            kind: AUDIT_KIND_SET.has(record.kind) ? record.kind : 'kmip',
            identity: typeof record.identity === 'string' ? record.identity : null,
            tenant: typeof record.tenant === 'string' ? record.tenant : null,
            service: typeof record.service === 'string' ? record.service : null,
            objectId: typeof record.objectId === 'string' ? record.objectId : null,
            result: record.result === 'success' ? 'success' : 'failure',
            detail: `audit record reduced: ${e.message}`,
          });
          return true;
        } catch (e2) {
          e = e2;
        }
      }
      log.error({ err: e, event: 'audit_failed', kind: record.kind, operation: record.operation, result: record.result }, 'could not append an audit record');
      return false;
    }
  }

  /** A whole-message failure (nothing was processed): one record, the certificate as identity. */
  private auditMessage(log: Logger, identity: ClientIdentity, reason: number, detail: string): void {
    // A message refused whole (undecodable, bad header, unsupported version): no item to count.
    this.opts.metrics?.messageRefused(reasonName(reason));
    this.appendRecord(log, {
      kind: 'kmip', identity: `sha256:${identity.fingerprint}`, operation: null, result: 'failure',
      reason: auditReason(reason), detail: `message refused: ${detail}`,
    });
  }

  /** With `auditDurable`, waits until the records appended so far are on disk; false when that failed. */
  private async auditDurable(log: Logger): Promise<boolean> {
    const sink = this.opts.audit;
    if (this.opts.auditDurable !== true || sink?.whenDurable === undefined) return true;
    try {
      await sink.whenDurable();
      return true;
    } catch (e) {
      log.error({ err: e, event: 'audit_failed' }, 'audit records could not be made durable');
      return false;
    }
  }

  /** Appends a message's records in item order; false when any could not be stored. */
  private commitTrail(trail: ReadonlyArray<AuditInput | undefined>, items: RequestBatchItem[], identity: ClientIdentity, log: Logger): boolean {
    if (!this.opts.audit) return true;
    let ok = true;
    for (let i = 0; i < trail.length; i++) {
      const rec = trail[i] ?? unauthenticatedRecord(identity, items[i]!, 'kmip', 'GeneralFailure', 'no record was made for this item (internal error)');
      if (!this.appendRecord(log, rec)) ok = false;
    }
    return ok;
  }

  /**
   * One count per request batch item, from its audit record (every path fills one, so refused
   * and unprocessed items count too): operation, the result the client was given, version.
   * `withheld`: the records could not be stored and every item was answered General Failure.
   */
  private countItems(v: ProtocolVersion, trail: ReadonlyArray<AuditInput | undefined>, withheld: boolean): void {
    const m = this.opts.metrics;
    if (m === undefined) return;
    for (let i = 0; i < trail.length; i++) {
      const rec = trail[i];
      const reason = withheld || rec === undefined ? 'GeneralFailure' : rec.result === 'success' ? null : rec.reason ?? 'GeneralFailure';
      m.item(v, rec?.operation ?? null, reason);
    }
  }

  /** Undefined when the audit log can take records, else why it cannot. */
  private auditUnavailable(): string | undefined {
    const a = this.opts.audit?.availability?.();
    return a === undefined || a.ok ? undefined : a.reason;
  }

  private async runBatch(
    v: ProtocolVersion, header: RequestHeader, batchItems: RequestBatchItem[], identity: ClientIdentity, principal: Principal, log: Logger,
    trail: Array<AuditInput | undefined>,
  ): Promise<ResponseBatchItem[]> {
    // 1.4 s.6.13 / 2.1 s.9.6: absent = Stop.
    const onError = header.batchErrorContinuationOption ?? BatchErrorContinuationOption.Stop;
    // 1.4 s.6.12 default False, 2.1 s.9.8 default True; we run in order either way.
    const ordered = header.batchOrderOption ?? !is1x(v);
    const access = new BatchAccess(principal, log);
    const baseRepo = this.opts.repositoryFor(identity, access);
    const journal = onError === BatchErrorContinuationOption.Undo ? new UndoJournal(baseRepo) : undefined;
    const batch: BatchState = { idPlaceholder: undefined, lastByOperation: new Map(), responseUids: [], itemIndex: 0 };
    const out: ResponseBatchItem[] = [];
    let failedAt = -1;
    for (let i = 0; i < batchItems.length; i++) {
      const item = batchItems[i]!;
      batch.itemIndex = i;
      access.operation = OPERATION_NAME.get(item.operation) ?? '';
      const r = await this.runItem(v, header, item, identity, principal, journal ?? baseRepo, batch, log, ordered, batchItems.length, trail);
      out.push(r);
      if (r.resultStatus !== ResultStatus.Success) {
        batch.responseUids[i] = [];
        if (failedAt < 0) failedAt = i;
        if (onError !== BatchErrorContinuationOption.Continue) break;
      }
    }
    const itemRecord = (item: RequestBatchItem, detail: string): AuditInput => ({
      kind: 'kmip', identity: principal.identity.id, tenant: identity.tenant, service: identity.service,
      operation: OPERATION_NAME.get(item.operation) ?? null, objectId: uidOf(item.payload) ?? null, result: 'failure', reason: null, detail,
    });
    const option = onError === BatchErrorContinuationOption.Undo ? 'Undo' : 'Stop';
    // Items after a failure under Stop or Undo are not processed (and not answered), but the
    // client sent them: one record each.
    for (let j = out.length; j < batchItems.length; j++) {
      trail[j] ??= itemRecord(batchItems[j]!, `not processed: item ${failedAt + 1} failed and the Batch Error Continuation Option is ${option}`);
    }
    if (failedAt >= 0 && journal) {
      const problems = await journal.rollback(this.opts.removeObject ? (uid) => this.opts.removeObject!(identity, uid) : undefined);
      if (problems.length > 0) log.error({ event: 'undo', problems }, 'batch could not be fully undone');
      out.forEach((r, k) => {
        if (r.resultStatus !== ResultStatus.Success) return;
        const rec = trail[k];
        if (problems.length > 0) {
          // Still Success for the client; the record says the undo did not complete.
          if (rec) trail[k] = { ...rec, detail: `undo after item ${failedAt + 1} failed did not complete (see the server log)` };
          return;
        }
        r.resultStatus = ResultStatus.OperationUndone;
        // The effect is gone: the record of the item says so (one record, not two).
        if (rec) trail[k] = { ...rec, result: 'failure', reason: null, detail: `undone: item ${failedAt + 1} failed and the Batch Error Continuation Option is Undo` };
      });
    }
    return out;
  }

  /**
   * One batch item: checks, the operation, its answer, its log line and its audit record.
   * One async frame per item (the checks and the run used to be two nested async functions,
   * a promise and a microtask hop more per item, issue 12 §2); whatever throws outside the
   * operation (a policy table, an adapter, a logger) still ends as one answer and one record.
   */
  private async runItem(
    v: ProtocolVersion, header: RequestHeader, item: RequestBatchItem, identity: ClientIdentity, principal: Principal,
    objects: ObjectRepository, batch: BatchState, parentLog: Logger, ordered: boolean, count: number,
    trail: Array<AuditInput | undefined>,
  ): Promise<ResponseBatchItem> {
    const r = new ItemRun(v, item, identity, principal, batch.itemIndex, trail, parentLog);
    try {
      return await this.runItemChecked(r, header, objects, batch, ordered, count);
    } catch (e) {
      const ref = randomBytes(6).toString('hex');
      r.log().error({ err: e, ref }, 'batch item failed unexpectedly');
      return this.failItem(r, ResultReason.GeneralFailure, `internal error (reference ${ref})`);
    }
  }

  /** The item answered as failed: its log line, its record, its response item. */
  private failItem(r: ItemRun, reason: number, message: string): ResponseBatchItem {
    const v = reasonForVersion(reason, r.version);
    const uid = uidOf(r.item.payload);
    this.logItem(r.parentLog, r.identity, r.started, r.index, r.op, reasonName(v), message, uid, undefined);
    r.audit('failure', v, uid, OPERATION_NAME.has(r.op) ? undefined : `operation ${operationName(r.op)}`);
    return r.response(ResultStatus.OperationFailed, v, message, undefined, undefined);
  }

  private async runItemChecked(
    r: ItemRun, header: RequestHeader, objects: ObjectRepository, batch: BatchState, ordered: boolean, count: number,
  ): Promise<ResponseBatchItem> {
    const { op, item, principal, identity, version: v } = r;
    // Never serve unaudited (issue 16 §1): while the audit log cannot take records, every
    // item is refused before it runs. Asked per item: the database can fail mid-batch.
    const unavailable = this.auditUnavailable();
    if (unavailable !== undefined) {
      return this.failItem(r, ResultReason.GeneralFailure, `the audit log cannot take records (${unavailable}); requests are refused until it can`);
    }
    for (const ext of item.messageExtensions) {
      // s.9.12 / 1.4 s.6.16: an unknown extension marked critical fails the item; non-critical ones are ignored.
      if (ext.criticalityIndicator) {
        return this.failItem(r, is1x(v) ? ResultReason.FeatureNotSupported : ResultReason.UnknownMessageExtension,
          `critical message extension of vendor "${ext.vendorIdentification}" is not supported`);
      }
    }
    const handler = this.opts.operations.get(op);
    if (handler === undefined) return this.failItem(r, ResultReason.OperationNotSupported, `operation ${operationName(op)} is not supported`);
    // Role check before the operation runs; deny by default (issue 7). The reason names only
    // the caller's own role.
    const decision = authorize(principal.identity, principal.role, operationName(op), undefined, principal.grants);
    if (!decision.allowed) return this.failItem(r, ResultReason.PermissionDenied, `not permitted: ${decision.reason}`);
    // Asynchronous Indicator (see the header comment; src/server/async-operations.ts).
    const asyncMode = header.asynchronousIndicator ?? 'prohibited';
    // A caller whose role may not Poll could never read the outcome: it is served synchronously.
    const inBackground = asyncMode !== 'prohibited' && this.async !== undefined && this.async.runsAsynchronously(op)
      && header.batchErrorContinuationOption !== BatchErrorContinuationOption.Undo
      && authorize(principal.identity, principal.role, 'Poll', undefined, principal.grants).allowed;
    if (asyncMode === 'mandatory' && !inBackground && op !== Operation.Poll && op !== Operation.Cancel) {
      return this.failItem(r, ResultReason.FeatureNotSupported, this.async === undefined
        ? 'asynchronous processing is not supported; send the request with Asynchronous Indicator Optional or Prohibited'
        : `operation ${operationName(op)} is not run asynchronously here (only ${asyncOperationNames(this.async).join(', ')}, for a role that may Poll, and not under Batch Error Continuation Option Undo); send it with Asynchronous Indicator Optional or Prohibited`);
    }
    // No refusal of an operation newer than the request's version (handler.since): the
    // spec does not ask for one and real 1.0 clients (HPE Ezmeral, CLIENTS.md) send
    // Discover Versions, a 1.1 operation, as a ping. The adapters shape the payloads by version.
    // Only Poll and Cancel read ctx.asynchronous (src/operations/async.ts): the caller-bound
    // view (an owner object and two closures) is made for them alone, not for every item.
    const ctx = new ItemContext(v, identity, objects, batch, this.now, r, this.opts.server, this.opts.operations, principal.names, this.opts.serviceKeys,
      (op === Operation.Poll || op === Operation.Cancel) && this.async !== undefined && identity.identityId !== undefined
        ? this.async.forCaller({ tenant: identity.tenant, identity: identity.identityId }) : undefined);
    let internalOut: Struct;
    let payload: Struct;
    try {
      const internalIn = this.opts.adapters.requestToInternal(v, op, item.payload);
      if (inBackground) return this.acceptAsync(r, ctx, handler, internalIn);
      for (let run = 1; ; run++) {
        try {
          internalOut = await handler.run(ctx, internalIn);
          break;
        } catch (e) {
          if (!(e instanceof StoreConflictError) || !RERUN_ON_CONFLICT.has(op) || run >= MAX_CONFLICT_RUNS) throw e;
          r.log().debug({ event: 'store_conflict_rerun', run }, 'object changed concurrently; running the item again from a fresh load');
          await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_BACKOFF_MS * run));
        }
      }
      // A Poll returns the response of the operation it polled: shaped as that operation's.
      payload = this.opts.adapters.responseFromInternal(v, polledOperation(internalOut) ?? op, internalOut);
    } catch (e) {
      if (e instanceof OperationPending) {
        // s.6.1.38: still running; the item says so with the same correlation value.
        this.logItem(r.parentLog, identity, r.started, r.index, op, 'Pending', undefined, undefined, undefined);
        r.audit('success', undefined, undefined, 'the polled asynchronous operation is still pending');
        return r.response(ResultStatus.OperationPending, undefined, undefined, undefined, e.correlationValue);
      }
      if (e instanceof KmipError) return this.failItem(r, e.reason, e.message);
      // Optimistic concurrency lost (after MAX_CONFLICT_RUNS runs for the re-runnable
      // operations): a condition of the moment, not a bug, so a clear answer the client can
      // act on (Server Limit Exceeded, KMIP 2.1 §11.46; General Failure for 1.x, message
      // kept) instead of an internal error with a reference. Nothing of the item was saved.
      if (e instanceof StoreConflictError) {
        r.log().warn({ event: 'store_conflict', cause: e.message }, 'batch item lost an optimistic-concurrency race');
        const runs = RERUN_ON_CONFLICT.has(op) ? ` ${MAX_CONFLICT_RUNS} times` : '';
        return this.failItem(r, ResultReason.ServerLimitExceeded, `the object was changed concurrently by other requests${runs}; nothing was changed, retry the request`);
      }
      // Disk full or read-only store (issue 16 §4): a condition of the server, not a bug, so
      // the client gets the store's own explanation under Server Limit Exceeded (KMIP 2.1
      // §11.46; General Failure for 1.x, message kept) and the log a warning without stack.
      if (e instanceof StoreUnavailableError) {
        r.log().warn({ event: 'store_unavailable', condition: e.condition, cause: (e.cause as Error | undefined)?.message }, e.message);
        return this.failItem(r, ResultReason.ServerLimitExceeded, e.message);
      }
      // DESIGN.md §6.4: unknown errors become General Failure with a generic message; the
      // full error goes to the log under a reference the client sees.
      const ref = randomBytes(6).toString('hex');
      r.log().error({ err: e, ref, ...('identity' in r.parentLog.bindings() ? {} : { identity }) }, 'operation failed unexpectedly');
      return this.failItem(r, ResultReason.GeneralFailure, `internal error (reference ${ref})`);
    }
    // Contract with src/operations/uid.ts: the executor records every item's identifiers
    // (s.4.58 Integer references); operations set the ID Placeholder and lastByOperation.
    batch.responseUids[batch.itemIndex] = uidsInResponse(internalOut);
    if (item.ephemeral === true && !is1x(v)) {
      // s.9.x Ephemeral: the Data output of the operation is not returned.
      payload = structure(payload.tag, payload.value.filter((c) => c.tag !== Tag.Data));
    }
    const uid = firstText(internalOut, Tag.UniqueIdentifier) ?? uidOf(item.payload);
    this.logItem(r.parentLog, identity, r.started, r.index, op, 'Success', undefined, uid, count > 1 ? ordered : undefined);
    r.audit('success', undefined, uid, bulkWrapDetail(op, uid, internalOut));
    return r.response(ResultStatus.Success, undefined, undefined, payload, undefined);
  }

  /**
   * Accepts an item for background processing (src/server/async-operations.ts): Operation
   * Pending with its correlation value now, the operation's own record when it ends. The
   * run gets a repository and batch state of its own: the rest of this batch goes on.
   */
  private acceptAsync(r: ItemRun, ctx: OperationContext, handler: OperationHandler, internalIn: Struct): ResponseBatchItem {
    const { op, item, identity, principal, parentLog } = r;
    const access = new BatchAccess(principal, parentLog);
    access.operation = OPERATION_NAME.get(op) ?? '';
    const snapshot: BatchState = {
      idPlaceholder: ctx.batch.idPlaceholder, lastByOperation: new Map(ctx.batch.lastByOperation),
      responseUids: ctx.batch.responseUids.map((u) => [...u]), itemIndex: ctx.batch.itemIndex,
    };
    const objectId = uidOf(item.payload);
    const log = parentLog.child({ operation: operationName(op), asynchronous: true });
    const { correlationValue, ref } = this.async!.accept({
      tenant: identity.tenant, service: identity.service, identity: principal.identity.id,
      operation: op, operationName: OPERATION_NAME.get(op) ?? operationName(op), objectId, log,
      run: (gate) => handler.run({ ...ctx, objects: gate(this.opts.repositoryFor(identity, access)), batch: snapshot, log }, internalIn),
    });
    this.logItem(parentLog, identity, r.started, r.index, op, 'Pending', `asynchronous reference ${ref}`, objectId, undefined);
    r.audit('success', undefined, objectId, `accepted for asynchronous processing (asynchronous reference ${ref}); its outcome is a later record`);
    return r.response(ResultStatus.OperationPending, undefined, undefined, undefined, correlationValue);
  }

  /**
   * One line per batch item (issue 3 §5): identity, item, operation, object id, result,
   * duration. Written without pino's redaction walk (itemLineLogger): every field is named
   * here and none can hold key material, which is what redaction is a second net for.
   * One object literal of one shape for every line (pino leaves out the undefined fields),
   * where a spread of per-call field objects made two objects and a shape per combination.
   */
  private logItem(
    log: Logger, identity: ClientIdentity, started: bigint, index: number, op: number,
    result: string, detail: string | undefined, uid: string | undefined, ordered: boolean | undefined,
  ): void {
    const metrics = this.opts.metrics;
    const logging = log.isLevelEnabled('info');
    if (!logging && metrics === undefined) return;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The latency of every item that reached its operation's checks, success or failure.
    metrics?.itemDuration(op, ms / 1000);
    if (!logging) return;
    const line = itemLineLogger(log);
    const f: Record<string, unknown> = {
      event: 'batch_item', item: index, operation: operationName(op), result, uid, detail, ordered, durationMs: Math.round(ms * 1000) / 1000,
      // A connection's child logger already carries the identity (through the identity serializer); repeating it would write it twice.
      identity: line.hasIdentity ? undefined : identity,
    };
    line.logger.info(f, 'batch item');
  }
}

/** The operations an async manager runs in the background, by name (for the Mandatory refusal). */
function asyncOperationNames(a: AsyncOperations): string[] {
  return [...OPERATION_NAME.entries()].filter(([v]) => a.runsAsynchronously(v)).map(([, n]) => n);
}

interface ItemLine { logger: Logger; hasIdentity: boolean }
const itemLoggers = new WeakMap<Logger, ItemLine>();
/**
 * Per connection logger, once: its sibling without redaction for the batch-item line, and
 * whether its bindings carry the identity. Asked per item, `bindings()` re-parses the
 * child's serialized bindings (2.5 % of a server's CPU under Encrypt load, issue 12); a
 * logger's bindings never change after it is made.
 */
function itemLineLogger(log: Logger): ItemLine {
  let l = itemLoggers.get(log);
  if (l === undefined) itemLoggers.set(log, (l = { logger: withoutRedaction(log), hasIdentity: 'identity' in log.bindings() }));
  return l;
}

/**
 * A gateway's bulk wrap (src/operations/common/service-l3.ts) is one batch item and so one
 * record (issue 16 §1); the record says how many keys it wrapped and under which service.
 */
function bulkWrapDetail(op: number, uid: string | undefined, out: Struct): string | undefined {
  if (op !== Operation.Encrypt || uid === undefined || !uid.startsWith(SERVICE_L3_PREFIX)) return undefined;
  let n = 0;
  for (const c of out.value) if (c.tag === Tag.Data) n++;
  return n > 1 ? `${n} keys wrapped under service ${uid.slice(SERVICE_L3_PREFIX.length)}` : undefined;
}

/**
 * A whole message refused after authentication (sealed tenant, gateway service not on its
 * list): one failure record per batch item (issue 16 §1), naming the authenticated identity;
 * the first carries the reason, the others say they were not processed.
 */
function fillRefusedTrail(
  trail: Array<AuditInput | undefined>, batchItems: readonly RequestBatchItem[],
  who: { id: string; tenant: string; service: string }, reason: number, message: string,
): void {
  batchItems.forEach((item, i) => {
    trail[i] = {
      kind: 'kmip', identity: who.id, tenant: who.tenant, service: who.service,
      operation: OPERATION_NAME.get(item.operation) ?? null, objectId: uidOf(item.payload) ?? null, result: 'failure',
      reason: auditReason(reason), detail: i === 0 ? message : `not processed: ${message}`,
    };
  });
}

/** A ResultReason name for the audit record (null for a value the tables do not name). */
function auditReason(reason: number): AuditInput['reason'] {
  return (REASON_NAME.get(reason) as AuditInput['reason'] | undefined) ?? null;
}

const AUDIT_KIND_SET: ReadonlySet<string> = new Set(AUDIT_KINDS);

/** A record for an item of a caller not (yet) authenticated: the certificate's fingerprint is the identity. */
function unauthenticatedRecord(
  identity: ClientIdentity, item: RequestBatchItem, kind: 'kmip' | 'auth-failure', reason: NonNullable<AuditInput['reason']>, detail: string,
): AuditInput {
  return {
    kind, identity: `sha256:${identity.fingerprint}`, tenant: null, service: null,
    operation: OPERATION_NAME.get(item.operation) ?? null, objectId: uidOf(item.payload) ?? null,
    result: 'failure', reason, detail,
  };
}

function uidOf(payload: Struct): string | undefined {
  const c = payload.value.find((x) => x.tag === Tag.UniqueIdentifier);
  if (c === undefined) return undefined;
  return c.type === 'TextString' ? c.value : `${c.type}:${String(c.value)}`;
}

function peekVersionOfResponse(resp: TtlvItem): ProtocolVersion {
  if (resp.type === 'Structure') {
    const h = resp.value[0];
    if (h?.type === 'Structure') {
      const pv = h.value[0];
      if (pv?.type === 'Structure') {
        const [a, b] = pv.value;
        if (a?.type === 'Integer' && b?.type === 'Integer') return { major: a.value, minor: b.value };
      }
    }
  }
  return OLDEST;
}

function shrinkToTooLarge(resp: TtlvItem, max: number, size: number): TtlvItem {
  if (resp.type !== 'Structure') return resp;
  const [header, ...items] = resp.value;
  const message = `response of ${size} bytes exceeds the Maximum Response Size of ${max} bytes`;
  const shrunk = items.map((it) => {
    if (it.type !== 'Structure') return it;
    const keep = it.value.filter((c) => c.tag === Tag.Operation || c.tag === Tag.UniqueBatchItemID);
    return structure(Tag.BatchItem, [
      ...keep,
      { tag: Tag.ResultStatus, type: 'Enumeration', value: ResultStatus.OperationFailed },
      { tag: Tag.ResultReason, type: 'Enumeration', value: ResultReason.ResponseTooLarge },
      { tag: Tag.ResultMessage, type: 'TextString', value: message },
    ]);
  });
  return structure(resp.tag, [header!, ...shrunk]);
}
