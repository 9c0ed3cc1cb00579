// The table of asynchronous operations (SQLite migration 13, src/store/async-operations.ts)
// through two connections to one database file, as two workers of `serve --workers 2` hold
// them: every transition is decided by the database, so a Cancel in one and the commit of
// the run in the other never both win, and a result is delivered once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { AsyncOperationStore, AsyncQuotaError, type NewAsyncOperation } from '../../src/store/async-operations.ts';

const TTL = 60_000;
const NOW = 1_700_000_000_000;
const QUOTA = { perTenant: 2, total: 3 };
const ALICE = { tenant: 't1', identity: 'alice' };

let dir: string;
let dbs: SqliteStore[];
let a: AsyncOperationStore;
let b: AsyncOperationStore;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'openkcm-async-'));
  dbs = [await openSqliteStore(join(dir, 'db')), await openSqliteStore(join(dir, 'db'))];
  a = new AsyncOperationStore(dbs[0]!.database);
  b = new AsyncOperationStore(dbs[1]!.database);
});
afterAll(async () => {
  for (const d of dbs ?? []) await d.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh running operation of `who`; the table is emptied first (every row past its expiry). */
function fresh(who = ALICE): NewAsyncOperation {
  a.expire(NOW + 10 * TTL, TTL, 1);
  a.expire(NOW + 100 * TTL, TTL, 1);
  const op = { id: `op-${++n}`, ...who, operation: 8, acceptedAt: NOW, deadline: NOW + TTL };
  a.insert(op, QUOTA);
  return op;
}

describe('async_operations over two connections', () => {
  it('Cancel on one connection wins against a later commit on the other: the run may not write', () => {
    const op = fresh();
    expect(b.cancel(op.id, ALICE, NOW, TTL)).toMatchObject({ found: true, state: 'canceled' });
    expect(a.enterCommit(op.id, NOW)).toBe(false);
    expect(a.finish(op.id, { state: 'succeeded', payload: Buffer.from('x') }, NOW, TTL)).toBe(false);
    expect(b.take(op.id, ALICE, NOW)).toMatchObject({ found: true, state: 'canceled' });
  });

  it('a commit that came first makes the Cancel see it (Unable to Cancel), and the result is delivered once', () => {
    const op = fresh();
    expect(a.enterCommit(op.id, NOW)).toBe(true);
    expect(b.cancel(op.id, ALICE, NOW, TTL)).toMatchObject({ found: true, state: 'committing' });
    expect(b.take(op.id, ALICE, NOW)).toMatchObject({ found: true, state: 'committing' });
    expect(a.finish(op.id, { state: 'succeeded', payload: Buffer.from('result') }, NOW, TTL)).toBe(true);
    const first = b.take(op.id, ALICE, NOW + 1);
    expect(first).toMatchObject({ found: true, state: 'succeeded', payload: Buffer.from('result') });
    expect(a.take(op.id, ALICE, NOW + 2)).toEqual({ found: false });
  });

  it('another identity or tenant finds nothing, and does not consume the owner\'s result', () => {
    const op = fresh();
    a.enterCommit(op.id, NOW);
    a.finish(op.id, { state: 'succeeded', payload: Buffer.from('r') }, NOW, TTL);
    expect(b.take(op.id, { tenant: 't1', identity: 'bob' }, NOW)).toEqual({ found: false });
    expect(b.take(op.id, { tenant: 't2', identity: 'alice' }, NOW)).toEqual({ found: false });
    expect(b.cancel(op.id, { tenant: 't2', identity: 'alice' }, NOW, TTL)).toEqual({ found: false });
    expect(b.take(op.id, ALICE, NOW)).toMatchObject({ state: 'succeeded' });
  });

  it('quota: outstanding operations per tenant and in total, results counting until they expire', () => {
    fresh();
    a.insert({ id: `op-${++n}`, ...ALICE, operation: 8, acceptedAt: NOW, deadline: NOW + TTL }, QUOTA);
    expect(() => b.insert({ id: `op-${++n}`, ...ALICE, operation: 8, acceptedAt: NOW, deadline: NOW + TTL }, QUOTA)).toThrow(AsyncQuotaError);
    b.insert({ id: `op-${++n}`, tenant: 't2', identity: 'x', operation: 8, acceptedAt: NOW, deadline: NOW + TTL }, QUOTA);
    let e: unknown;
    try { b.insert({ id: `op-${++n}`, tenant: 't3', identity: 'y', operation: 8, acceptedAt: NOW, deadline: NOW + TTL }, QUOTA); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(AsyncQuotaError);
    expect((e as AsyncQuotaError).scope).toBe('total');
  });

  it('a run past its deadline is failed and can no longer commit; its result expires after the TTL', () => {
    const op = fresh();
    a.expire(op.deadline, TTL, 0x0e);
    expect(a.enterCommit(op.id, op.deadline)).toBe(false);
    expect(b.take(op.id, ALICE, op.deadline + 1)).toMatchObject({ state: 'failed', reason: 0x0e });
    const late = fresh();
    a.enterCommit(late.id, NOW);
    a.finish(late.id, { state: 'succeeded', payload: Buffer.from('r') }, NOW, TTL);
    expect(b.take(late.id, ALICE, NOW + TTL)).toEqual({ found: false });
  });

  it('a sealed tenant: running and finished operations fail without their payload; other tenants are untouched', () => {
    const running = fresh();
    const done = { id: `op-${++n}`, ...ALICE, operation: 8, acceptedAt: NOW, deadline: NOW + TTL };
    a.insert(done, { perTenant: 10, total: 10 });
    a.enterCommit(done.id, NOW);
    a.finish(done.id, { state: 'succeeded', payload: Buffer.from('secret-free uid list') }, NOW, TTL);
    const other = { id: `op-${++n}`, tenant: 't2', identity: 'x', operation: 8, acceptedAt: NOW, deadline: NOW + TTL };
    a.insert(other, { perTenant: 10, total: 10 });
    expect(b.failTenant('t1', 0x0c, 'sealed', NOW, TTL)).toBe(2);
    expect(a.enterCommit(running.id, NOW)).toBe(false);
    for (const id of [running.id, done.id]) expect(a.take(id, ALICE, NOW)).toEqual({ found: true, state: 'failed', operation: 8, reason: 0x0c, message: 'sealed', payload: undefined });
    expect(a.enterCommit(other.id, NOW)).toBe(true);
  });
});
