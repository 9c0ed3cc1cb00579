// Recomputes the audit hash chain and names the first record that breaks it (issue 7:
// "`kmipctl audit verify` detects a modified, deleted or reordered record and names it").
//
// The SQL triggers (schema.ts) stop honest mistakes; this is what catches someone who drops
// them. Every record's hash covers its seq and its predecessor's hash, so:
//   modified  — a record's hash does not match its content;
//   deleted   — a gap in seq (the successor still chains to the missing record's hash);
//   reordered — a record is intact but sits at another seq than the one it was written at
//               (its hash matches its content once its original seq is put back);
//   inserted  — a self-consistent record that does not belong to the chain (forged with a
//               correct hash of its own, but chained from a hash no record has).
// Limits, by construction: whoever can rewrite the file can also recompute every hash from
// the point of tampering onwards, and deleting the newest records leaves a shorter chain
// that is still valid. Both are caught only against an external anchor: a copy of head()
// (seq and hash) kept elsewhere — the SIEM export carries every hash, so a SIEM is one.
import type Database from 'better-sqlite3';
import { GENESIS_HASH, recordHash, type AuditRecord } from './record.ts';
import { AUDIT_COLUMNS, AuditSchemaError, hasAuditLog, type AuditRow } from './schema.ts';

export type VerifyProblem = 'modified' | 'deleted' | 'reordered' | 'inserted';

export type VerifyResult =
  | { ok: true; count: number; lastSeq: number; head: string }
  | { ok: false; seq: number; problem: VerifyProblem; detail: string; count: number };

/** The newest record as seen at some time, kept outside the database. */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

export interface VerifyOptions {
  /** An anchor exported earlier (`auditLog.anchor()`, or just the hash from `head()`). */
  anchor?: AuditAnchor | string;
}

/** Rows read per query: bounds memory on a log of millions of records. */
const PAGE = 2_000;
/** Most records followed backwards when looking for the seq a moved record was written at. */
const MAX_BACKTRACK = 10_000;

export function rowToRecord(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    time: row.time,
    kind: row.kind as AuditRecord['kind'],
    identity: row.identity,
    tenant: row.tenant,
    service: row.service,
    operation: row.operation,
    objectId: row.object_id,
    result: row.result as AuditRecord['result'],
    reason: row.reason as AuditRecord['reason'],
    detail: row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
    ...(row.node !== undefined && row.node !== null ? { node: row.node } : {}),
  };
}

/** Whether the row's stored hash matches its content, were its seq `seq`. */
function hashMatches(row: AuditRow, seq: number): boolean {
  try {
    const { hash, ...rest } = rowToRecord(row);
    return recordHash({ ...rest, seq }) === hash;
  } catch {
    return false; // e.g. prev_hash edited into something that is not hex
  }
}

/**
 * What the chain check asks of the table, one question at a time. The check itself
 * (verifyChain) is a generator that yields these and is resumed with the answer, so one
 * algorithm serves a synchronous reader (SQLite, verifyAuditLog) and an asynchronous one
 * (PostgreSQL, verifyAuditChainAsync) without being written twice.
 */
export type ChainQuery =
  | { q: 'page'; afterSeq: number | undefined; limit: number }
  | { q: 'byHash'; hash: string }
  | { q: 'bySeq'; seq: number }
  | { q: 'next'; afterSeq: number };

/** Answers ChainQuery with rows of the audit table (AuditRow shape, oldest first). */
export interface ChainReader<R> {
  page(afterSeq: number | undefined, limit: number): R;
  byHash(hash: string): R;
  bySeq(seq: number): R;
  next(afterSeq: number): R;
}

type Answer = AuditRow[] | AuditRow | undefined;

function* ask(query: ChainQuery): Generator<ChainQuery, Answer, Answer> {
  return yield query;
}

/** The chain check over any reader (see ChainQuery). */
export function* verifyChain(options: VerifyOptions = {}): Generator<ChainQuery, VerifyResult, Answer> {
  const find = function* (hash: string) { return (yield* ask({ q: 'byHash', hash })) as AuditRow | undefined; };

  /** The seq `row` was written at, following prev_hash links back to an intact record. */
  const writtenSeq = function* (row: AuditRow): Generator<ChainQuery, number | null, Answer> {
    const moved: AuditRow[] = [row];
    const seen = new Set<number>([row.seq]);
    let base: number | null = null;
    for (let cur = row; moved.length <= MAX_BACKTRACK;) {
      if (cur.prev_hash === GENESIS_HASH) { base = 0; break; }
      const q = yield* find(cur.prev_hash);
      if (!q || seen.has(q.seq)) return null; // gone, or a loop of edited links
      if (hashMatches(q, q.seq)) { base = q.seq; break; }
      seen.add(q.seq);
      moved.push(q);
      cur = q;
    }
    if (base === null) return null;
    for (let i = moved.length - 1; i >= 0; i--) {
      base += 1;
      if (!hashMatches(moved[i]!, base)) return null;
    }
    return base;
  };

  let count = 0;
  let prev: AuditRow | null = null;
  let page = (yield* ask({ q: 'page', afterSeq: undefined, limit: PAGE })) as AuditRow[];
  const fail = (seq: number, problem: VerifyProblem, detail: string): VerifyResult => ({ ok: false, seq, problem, detail, count });

  while (page.length > 0) {
    for (let i = 0; i < page.length; i++) {
      const r = page[i]!;
      const expectedSeq = prev ? prev.seq + 1 : 1;
      const expectedPrev = prev ? prev.hash : GENESIS_HASH;
      const intact = hashMatches(r, r.seq);

      if (r.seq < expectedSeq) {
        return fail(r.seq, 'inserted', `record ${r.seq} precedes the first record of the chain (seq starts at 1)`);
      }
      if (r.seq > expectedSeq) {
        if (!intact && (yield* writtenSeq(r)) === expectedSeq) {
          return fail(r.seq, 'reordered', `record at seq ${r.seq} was written as seq ${expectedSeq}`);
        }
        const missing = r.seq - 1 === expectedSeq ? `record ${expectedSeq} is` : `records ${expectedSeq}..${r.seq - 1} are`;
        return fail(expectedSeq, 'deleted', `${missing} missing (next present record: ${r.seq})`);
      }
      if (!intact) {
        const was = yield* writtenSeq(r);
        if (was !== null && was !== r.seq) return fail(r.seq, 'reordered', `record at seq ${r.seq} was written as seq ${was}`);
        return fail(r.seq, 'modified', `record ${r.seq}: stored hash does not match its content`);
      }
      if (r.prev_hash !== expectedPrev) {
        if (r.prev_hash === GENESIS_HASH) return fail(r.seq, 'inserted', `record ${r.seq} claims to be the first record of the chain`);
        const q = yield* find(r.prev_hash);
        if (q && q.seq > r.seq) return fail(r.seq, 'reordered', `record ${r.seq} chains from record ${q.seq}, which comes after it`);
        if (q && q.seq < r.seq - 1) {
          return fail(q.seq + 1, 'inserted', `record ${r.seq} chains from record ${q.seq}: records ${q.seq + 1}..${r.seq - 1} are not part of the chain`);
        }
        // No record has the hash r was chained from: either the previous record was replaced
        // by a forged one, or r itself is forged. If the next record chains from r, r is
        // genuine and the previous one is the intruder.
        const next = i + 1 < page.length ? page[i + 1] : ((yield* ask({ q: 'next', afterSeq: r.seq })) as AuditRow | undefined);
        if (prev && next && next.seq === r.seq + 1 && next.prev_hash === r.hash) {
          return fail(prev.seq, 'inserted', `record ${prev.seq} is not the record that ${r.seq} was chained from (it was replaced)`);
        }
        return fail(r.seq, 'inserted', `record ${r.seq} is chained from a hash no record has`);
      }
      prev = r;
      count++;
    }
    page = (yield* ask({ q: 'page', afterSeq: prev!.seq, limit: PAGE })) as AuditRow[];
  }

  const lastSeq = prev ? prev.seq : 0;
  const head = prev ? prev.hash : GENESIS_HASH;
  if (options.anchor !== undefined) {
    const a = options.anchor;
    if (typeof a === 'string') {
      if (a !== GENESIS_HASH && !(yield* find(a))) {
        return fail(lastSeq + 1, 'deleted', `the anchor hash ${a.slice(0, 16)}… is not in the log: its newest records were removed, or the chain was rewritten`);
      }
    } else {
      if (a.seq > lastSeq) {
        return fail(lastSeq + 1, 'deleted', `the log ends at seq ${lastSeq} but the anchor says record ${a.seq} existed: the tail was truncated`);
      }
      const row = a.seq === 0 ? undefined : ((yield* ask({ q: 'bySeq', seq: a.seq })) as AuditRow | undefined);
      const stored = row ? row.hash : GENESIS_HASH;
      if (stored !== a.hash) {
        return fail(a.seq, 'modified', `record ${a.seq} differs from the anchor: the chain was rewritten up to it`);
      }
    }
  }
  return { ok: true, count, lastSeq, head };
}

function answer<R>(reader: ChainReader<R>, query: ChainQuery): R {
  switch (query.q) {
    case 'page': return reader.page(query.afterSeq, query.limit);
    case 'byHash': return reader.byHash(query.hash);
    case 'bySeq': return reader.bySeq(query.seq);
    case 'next': return reader.next(query.afterSeq);
  }
}

/** Runs the chain check against a reader that answers at once (SQLite). */
export function runChainCheck(reader: ChainReader<Answer>, options: VerifyOptions = {}): VerifyResult {
  const gen = verifyChain(options);
  for (let step = gen.next(undefined); ; step = gen.next(answer(reader, step.value))) {
    if (step.done) return step.value;
  }
}

/** Runs the chain check against a reader that answers later (PostgreSQL). */
export async function runChainCheckAsync(reader: ChainReader<Promise<Answer>>, options: VerifyOptions = {}): Promise<VerifyResult> {
  const gen = verifyChain(options);
  for (let step = gen.next(undefined); ; step = gen.next(await answer(reader, step.value))) {
    if (step.done) return step.value;
  }
}

export function verifyAuditLog(db: Database.Database, options: VerifyOptions = {}): VerifyResult {
  if (!hasAuditLog(db)) throw new AuditSchemaError('this database has no audit_log table');
  const firstPage = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY seq LIMIT ?`);
  const nextPage = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`);
  const byHash = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE hash = ? ORDER BY seq LIMIT 1`);
  const bySeq = db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq = ?`);
  return runChainCheck({
    page: (after, limit) => (after === undefined ? firstPage.all(limit) : nextPage.all(after, limit)) as AuditRow[],
    byHash: (hash) => byHash.get(hash) as AuditRow | undefined,
    bySeq: (seq) => bySeq.get(seq) as AuditRow | undefined,
    next: (after) => nextPage.get(after, 1) as AuditRow | undefined,
  }, options);
}
