// Asynchronous operations (issue 13 §1; KMIP 2.1 §9.2 Asynchronous Indicator, §6.1.38 Poll,
// §6.1.5 Cancel; 1.4 §6.7, §4.29, §4.28). A batch item whose header allows asynchronous
// processing, for an operation listed in ASYNCHRONOUS_OPERATIONS, is answered at once with
// Result Status Operation Pending and an Asynchronous Correlation Value; the operation runs
// in the background of this process and its outcome waits in the database for a Poll.
//
// Choices the specification leaves to the server, made here:
// - Which operations: those whose work is long and whose response carries no key material —
//   Create Key Pair and Re-key Key Pair (an RSA-4096 pair takes seconds of CPU, on Node's
//   thread pool, so the event loop keeps serving). Every other operation is run synchronously
//   under Optional (2.1 §9.2: "the server MAY process each batch item … either
//   asynchronously … or synchronously"; 1.4 §6.7 likewise for True); under Mandatory it is
//   refused by the executor (Feature Not Supported), as is anything under Batch Error
//   Continuation Option Undo (an item that has not run cannot be undone). Poll and Cancel
//   are never asynchronous (2.1 §6.1.38: "The response to this operation SHALL NOT be
//   asynchronous").
// - The correlation value is 32 random bytes: unguessable, and bound to the identity and
//   tenant that asked (another caller's Poll reads "unknown", its Cancel "Unavailable").
//   Only its SHA-256 is stored.
// - Cancel before commit means nothing stored: the run's repository calls enterCommit()
//   before its first write (one conditional UPDATE). A Cancel that wins that race leaves the
//   run to finish its computation and throw it away; a Cancel that loses it answers Unable
//   to Cancel and the operation completes.
// - A result is delivered once: the Poll that reads it deletes it; a later Poll of the same
//   value gets Invalid Asynchronous Correlation Value, as for any value this caller does not
//   hold. Results not polled are dropped ASYNC_RESULT_TTL_MS after the operation ended.
// - Bounds: MAX_ASYNC_PER_TENANT and MAX_ASYNC_TOTAL outstanding operations (running, or a
//   result waiting for its Poll); over either, the item fails with Server Limit Exceeded
//   (General Failure for 1.x, the message kept). A run past ASYNC_RUN_DEADLINE_MS is failed
//   (its process may have died), and can no longer commit.
// - Sealed tenant or kill switch while outstanding: every operation of the tenant fails and
//   any result it had is dropped (nothing from before the seal is served after an unseal); a
//   run still computing cannot commit. While the tenant is sealed its Poll is refused like
//   any of its requests (executor tenant gate).
// - Workers: the state lives in the local SQLite database (migration 13) that every worker of
//   `serve --workers N` shares, so a Poll or Cancel may reach any worker; the run stays in
//   the worker that accepted it. Cores on a shared PostgreSQL vault each have their own
//   local database: there, Poll on the node that answered Pending.
// - Audit: the item that was accepted is one record (result success, "accepted for
//   asynchronous processing"); the outcome is a second, later record with the same
//   reference when the run ends. When that record cannot be written the result is withheld
//   (never served unaudited).
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CancellationResult, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { encode } from '../ttlv/encode.ts';
import { decode } from '../ttlv/decode.ts';
import { KmipError } from '../kmip/errors.ts';
import type { Struct } from '../kmip/items.ts';
import type { AuditInput } from '../audit/record.ts';
import { AsyncQuotaError, type AsyncOperationStore, type AsyncOwner } from '../store/async-operations.ts';
import { StoreConflictError, StoreUnavailableError } from '../store/types.ts';
import type { AsynchronousOperations, ObjectRepository, PolledOperation } from '../operations/types.ts';

/** Operations run asynchronously when the client allows it (see the header comment). */
export const ASYNCHRONOUS_OPERATIONS: ReadonlySet<number> = new Set([Operation.CreateKeyPair, Operation.ReKeyKeyPair]);
/** Outstanding asynchronous operations of one tenant: one tenant cannot take every place. */
export const MAX_ASYNC_PER_TENANT = 16;
/** Outstanding asynchronous operations of the server: bounds background CPU and the table. */
export const MAX_ASYNC_TOTAL = 128;
/** How long an ended operation's result waits for its Poll before it is dropped. */
export const ASYNC_RESULT_TTL_MS = 10 * 60_000;
/** A run not committed by then is failed (e.g. its worker died) and can no longer commit. */
export const ASYNC_RUN_DEADLINE_MS = 10 * 60_000;
/** Random bytes of an Asynchronous Correlation Value. */
export const CORRELATION_VALUE_BYTES = 32;

export interface AsyncSettings {
  maxPerTenant: number;
  maxTotal: number;
  resultTtlMs: number;
  runDeadlineMs: number;
}

export interface AsyncOperationsDeps {
  store: AsyncOperationStore;
  /** Appends one audit record; false when the trail cannot take it. */
  audit(record: AuditInput): boolean;
  log: Logger;
  now?: () => number;
  settings?: Partial<AsyncSettings>;
  /** Seal/unseal events of this process's hierarchy, and whether a tenant is sealed now. */
  tenantChanges?(listener: (tenant: string) => void): () => void;
  tenantSealed?(tenant: string): boolean;
}

/** One accepted request: who asked, and how to run it. */
export interface AsyncRequest {
  tenant: string;
  service: string;
  /** The governance identity. */
  identity: string;
  operation: number;
  operationName: string;
  /** The object the request names, for the audit records. */
  objectId: string | undefined;
  log: Logger;
  /** Runs the operation over a repository that `gate` has wrapped; resolves to the internal response payload. */
  run(gate: (repo: ObjectRepository) => ObjectRepository): Promise<Struct>;
}

/** Thrown by the gated repository when the run may no longer write. */
class RunStopped extends Error {}

const hashOf = (v: Buffer) => createHash('sha256').update(v).digest('hex');

export class AsyncOperations {
  readonly settings: AsyncSettings;
  private readonly now: () => number;
  private readonly inflight = new Set<Promise<void>>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: AsyncOperationsDeps) {
    this.settings = {
      maxPerTenant: deps.settings?.maxPerTenant ?? MAX_ASYNC_PER_TENANT,
      maxTotal: deps.settings?.maxTotal ?? MAX_ASYNC_TOTAL,
      resultTtlMs: deps.settings?.resultTtlMs ?? ASYNC_RESULT_TTL_MS,
      runDeadlineMs: deps.settings?.runDeadlineMs ?? ASYNC_RUN_DEADLINE_MS,
    };
    this.now = deps.now ?? Date.now;
    const sealed = deps.tenantSealed;
    if (deps.tenantChanges !== undefined && sealed !== undefined) {
      this.unsubscribe = deps.tenantChanges((tenant) => { if (sealed(tenant)) this.tenantSealed(tenant); });
    }
  }

  runsAsynchronously(operation: number): boolean {
    return ASYNCHRONOUS_OPERATIONS.has(operation);
  }

  /**
   * Accepts a request: records it (or refuses it over a limit, Server Limit Exceeded) and
   * starts it in the background. Returns the correlation value and the short reference the
   * audit records carry.
   */
  accept(req: AsyncRequest): { correlationValue: Buffer; ref: string } {
    const now = this.now();
    const s = this.settings;
    this.deps.store.expire(now, s.resultTtlMs, ResultReason.GeneralFailure);
    const value = randomBytes(CORRELATION_VALUE_BYTES);
    const id = hashOf(value);
    try {
      this.deps.store.insert({ id, tenant: req.tenant, identity: req.identity, operation: req.operation, acceptedAt: now, deadline: now + s.runDeadlineMs },
        { perTenant: s.maxPerTenant, total: s.maxTotal });
    } catch (e) {
      if (!(e instanceof AsyncQuotaError)) throw e;
      const limit = e.scope === 'tenant' ? 'MAX_ASYNC_PER_TENANT' : 'MAX_ASYNC_TOTAL';
      throw new KmipError(ResultReason.ServerLimitExceeded,
        `${e.message} (limit ${limit} = ${e.limit}); Poll or Cancel them, or send the request without the Asynchronous Indicator`);
    }
    const ref = id.slice(0, 16);
    const p: Promise<void> = this.execute(id, ref, req)
      .catch((err: unknown) => req.log.error({ err, event: 'async_operation_failed', ref }, 'asynchronous operation could not be concluded'))
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return { correlationValue: value, ref };
  }

  private async execute(id: string, ref: string, req: AsyncRequest): Promise<void> {
    const { store } = this.deps;
    const gate = (repo: ObjectRepository) => gatedRepository(repo, () => {
      if (!store.enterCommit(id, this.now())) throw new RunStopped('the asynchronous operation was canceled, its tenant sealed, or its deadline passed, before it stored anything');
    });
    let outcome: { state: 'succeeded'; payload: Struct } | { state: 'failed'; reason: number; message: string };
    try {
      outcome = { state: 'succeeded', payload: await req.run(gate) };
    } catch (e) {
      if (e instanceof RunStopped) {
        this.record(req, ref, 'failure', ResultReason.OperationCanceledByRequester, undefined, 'asynchronous operation stopped before it stored anything (canceled, tenant sealed, or past its deadline)');
        return;
      }
      outcome = { state: 'failed', ...failureOf(e, req.log) };
    }
    const now = this.now();
    const ttl = this.settings.resultTtlMs;
    if (outcome.state === 'succeeded') {
      const uid = firstUid(outcome.payload) ?? req.objectId;
      // Recorded before it can be served: a result whose record cannot be written is withheld.
      if (!this.record(req, ref, 'success', undefined, uid, 'asynchronous operation completed')) {
        store.finish(id, { state: 'failed', reason: ResultReason.GeneralFailure, message: 'the audit log cannot take records; the result of this operation is withheld' }, now, ttl);
        return;
      }
      if (!store.finish(id, { state: 'succeeded', payload: encode(outcome.payload) }, now, ttl)) {
        // Committed, then its tenant was sealed (or the deadline passed): the result stays withheld.
        req.log.warn({ event: 'async_result_withheld', ref }, 'asynchronous operation completed after its tenant was sealed; its result is withheld');
      }
      return;
    }
    this.record(req, ref, 'failure', outcome.reason, req.objectId, `asynchronous operation failed: ${outcome.message}`);
    store.finish(id, { state: 'failed', reason: outcome.reason, message: outcome.message }, now, ttl);
  }

  private record(req: AsyncRequest, ref: string, result: 'success' | 'failure', reason: number | undefined, objectId: string | undefined, detail: string): boolean {
    return this.deps.audit({
      kind: 'kmip', identity: req.identity, tenant: req.tenant, service: req.service, operation: req.operationName,
      objectId: objectId ?? null, result, reason: reason === undefined ? null : (REASON_NAME.get(reason) as AuditInput['reason']) ?? null,
      detail: `${detail} (asynchronous reference ${ref})`,
    });
  }

  /** The operations of one caller, for its Poll and Cancel (OperationContext.asynchronous). */
  forCaller(who: AsyncOwner): AsynchronousOperations {
    return {
      poll: async (value) => this.poll(who, value),
      cancel: async (value) => this.cancel(who, value),
    };
  }

  private poll(who: AsyncOwner, value: Buffer): PolledOperation {
    const now = this.now();
    this.deps.store.expire(now, this.settings.resultTtlMs, ResultReason.GeneralFailure);
    const r = this.deps.store.take(hashOf(value), who, now);
    if (!r.found) return { state: 'unknown' };
    switch (r.state) {
      case 'running':
      case 'committing':
        return { state: 'pending' };
      case 'succeeded':
        return { state: 'succeeded', operation: r.operation, payload: decode(r.payload!) as Struct };
      case 'canceled':
        return { state: 'failed', reason: ResultReason.OperationCanceledByRequester, message: 'the operation was canceled by the requester; nothing of it was stored' };
      case 'failed':
        return { state: 'failed', reason: r.reason ?? ResultReason.GeneralFailure, message: r.message ?? 'the asynchronous operation failed' };
    }
  }

  private cancel(who: AsyncOwner, value: Buffer): number {
    const now = this.now();
    this.deps.store.expire(now, this.settings.resultTtlMs, ResultReason.GeneralFailure);
    const r = this.deps.store.cancel(hashOf(value), who, now, this.settings.resultTtlMs);
    if (!r.found) return CancellationResult.Unavailable;
    switch (r.state) {
      case 'canceled': return CancellationResult.Canceled;
      case 'succeeded': return CancellationResult.Completed;
      case 'failed': return CancellationResult.Failed;
      // Already writing (or, at a deadline's edge, about to be failed): it can no longer be undone by us.
      default: return CancellationResult.UnableToCancel;
    }
  }

  private tenantSealed(tenant: string): void {
    try {
      const n = this.deps.store.failTenant(tenant, ResultReason.PermissionDenied,
        `tenant ${tenant} was sealed while the operation was outstanding; its result is withheld`, this.now(), this.settings.resultTtlMs);
      if (n > 0) this.deps.log.warn({ event: 'async_operations_sealed', tenant, operations: n }, 'asynchronous operations of a sealed tenant failed; their results are dropped');
    } catch (err) {
      this.deps.log.error({ err, event: 'async_seal_failed', tenant }, 'could not fail the asynchronous operations of a sealed tenant');
    }
  }

  /** Waits for the runs of this process (server shutdown), and stops following seals. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await Promise.allSettled([...this.inflight]);
  }
}

/** A repository whose first write must pass `enter` (the commit point of a run). */
function gatedRepository(inner: ObjectRepository, enter: () => void): ObjectRepository {
  let committed = false;
  const commit = () => {
    if (!committed) {
      enter();
      committed = true;
    }
  };
  return {
    create: async (obj) => { commit(); return inner.create(obj); },
    save: async (obj) => { commit(); return inner.save(obj); },
    load: (uid) => inner.load(uid),
    scan: (filter) => inner.scan(filter),
  };
}

const REASON_NAME = new Map<number, string>(Object.entries(ResultReason).map(([n, v]) => [v, n]));

/** What the client is told of an exception, as the executor tells it for a synchronous item. */
function failureOf(e: unknown, log: Logger): { reason: number; message: string } {
  if (e instanceof KmipError) return { reason: e.reason, message: e.message };
  if (e instanceof StoreConflictError) return { reason: ResultReason.ServerLimitExceeded, message: 'an object was changed concurrently by other requests; nothing was changed, retry the request' };
  if (e instanceof StoreUnavailableError) return { reason: ResultReason.ServerLimitExceeded, message: e.message };
  const ref = randomBytes(6).toString('hex');
  log.error({ err: e, ref }, 'asynchronous operation failed unexpectedly');
  return { reason: ResultReason.GeneralFailure, message: `internal error (reference ${ref})` };
}

function firstUid(payload: Struct): string | undefined {
  for (const c of payload.value) {
    if ((c.tag === Tag.UniqueIdentifier || c.tag === Tag.PrivateKeyUniqueIdentifier) && c.type === 'TextString') return c.value;
  }
  return undefined;
}
