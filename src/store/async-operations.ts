// The table of asynchronous operations (SQLite migration 13): what a Poll or a Cancel of any
// process on this database needs to answer for an operation accepted with Result Status
// Pending (KMIP 2.1 §6.1.38 Poll, §6.1.5 Cancel; 1.4 §4.29, §4.28).
//
// Life of a row:  running ──(its first write)──▶ committing ──▶ succeeded | failed
//                    │ Cancel, seal, deadline                  (result kept until expires_at,
//                    ▼                                          deleted when delivered)
//                  canceled | failed
// Every transition is one conditional UPDATE (or DELETE … RETURNING for delivery), so when a
// Cancel in one worker and the commit of the run in another race, exactly one of them wins
// and the loser sees it (the run stores nothing; the Cancel answers Unable to Cancel).
// Rows are keyed by the SHA-256 of the correlation value, and every read names the tenant
// and identity that asked: another caller's value reads exactly like an unknown one.
import type Database from 'better-sqlite3';

export type AsyncState = 'running' | 'committing' | 'succeeded' | 'failed' | 'canceled';

export interface AsyncOwner {
  tenant: string;
  /** The governance identity that sent the request. */
  identity: string;
}

export interface NewAsyncOperation extends AsyncOwner {
  id: string;
  operation: number;
  acceptedAt: number;
  /** A run not committed by then is failed (its process may have died with it). */
  deadline: number;
}

export interface AsyncOutcome {
  state: 'succeeded' | 'failed' | 'canceled';
  operation: number;
  reason: number | undefined;
  message: string | undefined;
  /** The internal (2.1) response payload, TTLV-encoded; succeeded only. */
  payload: Buffer | undefined;
}

export type AsyncLookup =
  | { found: false }
  | { found: true; state: 'running' | 'committing'; operation: number }
  | ({ found: true } & AsyncOutcome);

export interface AsyncQuota {
  perTenant: number;
  total: number;
}

/** Over a quota: nothing was inserted. */
export class AsyncQuotaError extends Error {
  constructor(readonly scope: 'tenant' | 'total', readonly limit: number) {
    super(scope === 'tenant'
      ? `the tenant already has ${limit} asynchronous operations outstanding`
      : `the server already has ${limit} asynchronous operations outstanding`);
  }
}

interface Row {
  operation: number;
  state: AsyncState;
  reason: number | null;
  message: string | null;
  payload: Buffer | null;
}

const OUTSTANDING = `(state IN ('running', 'committing') OR expires_at > @now)`;

export class AsyncOperationStore {
  private readonly stmts = new Map<string, Database.Statement>();
  constructor(private readonly db: Database.Database) {}

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (s === undefined) this.stmts.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  /**
   * Drops results past their expiry and fails runs past their deadline (a run whose
   * process died never finishes; its result is then "failed" for its TTL, then dropped).
   */
  expire(now: number, ttlMs: number, lateReason: number): void {
    this.stmt('DELETE FROM async_operations WHERE expires_at <= ?').run(now);
    this.stmt(`UPDATE async_operations SET state = 'failed', reason = @reason, message = @message, payload = NULL, expires_at = @now + @ttl
      WHERE state IN ('running', 'committing') AND deadline <= @now`)
      .run({ now, ttl: ttlMs, reason: lateReason, message: 'the operation did not complete within its deadline; nothing of it is reported' });
  }

  /**
   * Inserts a running operation if the tenant and the server are under their quota of
   * outstanding operations (running, or a result not yet delivered and not expired). One
   * IMMEDIATE transaction: two workers cannot both take the last place.
   */
  insert(op: NewAsyncOperation, quota: AsyncQuota): void {
    this.db.transaction(() => {
      const now = op.acceptedAt;
      const t = this.stmt(`SELECT count(*) AS n FROM async_operations WHERE tenant = @tenant AND ${OUTSTANDING}`).get({ tenant: op.tenant, now }) as { n: number };
      if (t.n >= quota.perTenant) throw new AsyncQuotaError('tenant', quota.perTenant);
      const all = this.stmt(`SELECT count(*) AS n FROM async_operations WHERE ${OUTSTANDING}`).get({ now }) as { n: number };
      if (all.n >= quota.total) throw new AsyncQuotaError('total', quota.total);
      this.stmt(`INSERT INTO async_operations (id, tenant, identity, operation, state, accepted_at, deadline)
        VALUES (@id, @tenant, @identity, @operation, 'running', @acceptedAt, @deadline)`).run(op);
    }).immediate();
  }

  /** The run is about to write: true when it still may (not canceled, sealed or late). */
  enterCommit(id: string, now: number): boolean {
    return this.stmt(`UPDATE async_operations SET state = 'committing' WHERE id = ? AND state = 'running' AND deadline > ?`).run(id, now).changes === 1;
  }

  /** The run ended; false when its row was meanwhile canceled, failed by a seal or expired. */
  finish(id: string, outcome: { state: 'succeeded' | 'failed'; reason?: number; message?: string; payload?: Buffer }, now: number, ttlMs: number): boolean {
    return this.stmt(`UPDATE async_operations SET state = @state, reason = @reason, message = @message, payload = @payload, expires_at = @expires
      WHERE id = @id AND state IN ('running', 'committing')`).run({
      id, state: outcome.state, reason: outcome.reason ?? null, message: outcome.message ?? null, payload: outcome.payload ?? null, expires: now + ttlMs,
    }).changes === 1;
  }

  /** Cancels a run that has not started writing; what the row says otherwise. */
  cancel(id: string, who: AsyncOwner, now: number, ttlMs: number): AsyncLookup {
    const done = this.stmt(`UPDATE async_operations SET state = 'canceled', expires_at = @expires
      WHERE id = @id AND tenant = @tenant AND identity = @identity AND state = 'running'`)
      .run({ id, tenant: who.tenant, identity: who.identity, expires: now + ttlMs }).changes === 1;
    if (done) return { found: true, state: 'canceled', operation: 0, reason: undefined, message: undefined, payload: undefined };
    return this.peek(id, who, now);
  }

  /**
   * Poll: a finished result is taken (deleted as it is read, so it is delivered once even
   * when two workers are asked at once); a running one is only reported.
   */
  take(id: string, who: AsyncOwner, now: number): AsyncLookup {
    const r = this.stmt(`DELETE FROM async_operations WHERE id = @id AND tenant = @tenant AND identity = @identity
      AND state IN ('succeeded', 'failed', 'canceled') AND expires_at > @now RETURNING operation, state, reason, message, payload`)
      .get({ id, tenant: who.tenant, identity: who.identity, now }) as Row | undefined;
    if (r !== undefined) return lookup(r);
    return this.peek(id, who, now);
  }

  private peek(id: string, who: AsyncOwner, now: number): AsyncLookup {
    const r = this.stmt(`SELECT operation, state, reason, message, payload FROM async_operations
      WHERE id = @id AND tenant = @tenant AND identity = @identity AND ${OUTSTANDING}`)
      .get({ id, tenant: who.tenant, identity: who.identity, now }) as Row | undefined;
    return r === undefined ? { found: false } : lookup(r);
  }

  /**
   * The tenant was sealed (or killed): every outstanding operation of it fails and any
   * result it had is dropped, so nothing is served from before the seal. Returns how many.
   */
  failTenant(tenant: string, reason: number, message: string, now: number, ttlMs: number): number {
    return this.stmt(`UPDATE async_operations SET state = 'failed', reason = @reason, message = @message, payload = NULL, expires_at = @expires
      WHERE tenant = @tenant AND (state IN ('running', 'committing') OR (state = 'succeeded' AND expires_at > @now))`)
      .run({ tenant, reason, message, now, expires: now + ttlMs }).changes;
  }
}

function lookup(r: Row): AsyncLookup {
  if (r.state === 'running' || r.state === 'committing') return { found: true, state: r.state, operation: r.operation };
  return { found: true, state: r.state, operation: r.operation, reason: r.reason ?? undefined, message: r.message ?? undefined, payload: r.payload ?? undefined };
}
