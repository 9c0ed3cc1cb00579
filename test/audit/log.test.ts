// Audit log: record validation, canonical form, chain, group commit, SQL append-only
// triggers, and verify against tampering done by someone who drops the triggers.
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AuditInputError, AuditUnavailableError, GENESIS_HASH, canonicalForm, openAuditDatabase, openAuditLog, recordHash, verifyAuditLog,
  type AuditInput, type AuditLog,
} from '../../src/audit/index.ts';

const dbs: Database.Database[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function memLog(opts: Parameters<typeof openAuditLog>[1] = {}): { db: Database.Database; log: AuditLog } {
  const db = new Database(':memory:');
  dbs.push(db);
  let t = Date.parse('2025-01-02T03:04:05.000Z');
  return { db, log: openAuditLog(db, { clock: () => new Date(t++), ...opts }) };
}

const OPS = ['Create', 'Get', 'Encrypt', 'Destroy', 'Locate', 'Activate', 'Revoke', 'GetAttributes'] as const;
function fill(log: AuditLog, n: number): void {
  for (let i = 0; i < n; i++) {
    log.append({ kind: 'kmip', identity: `CN=app-${i % 3}`, tenant: 'acme', service: 'db', operation: OPS[i % OPS.length]!, objectId: `uid-${i}`, result: i % 5 === 4 ? 'failure' : 'success', reason: i % 5 === 4 ? 'ItemNotFound' : null });
  }
  log.flush();
}

const dropTriggers = (db: Database.Database) => db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');

describe('records', () => {
  it('canonical form: sorted keys, no whitespace, explicit nulls; hash = SHA-256(prevHash ‖ canonical)', () => {
    const rec = { seq: 1, time: '2025-01-02T03:04:05.000Z', kind: 'kmip' as const, identity: 'CN=a', tenant: 't', service: null, operation: 'Get', objectId: 'u1', result: 'success' as const, reason: null, detail: null, prevHash: GENESIS_HASH };
    const c = canonicalForm(rec);
    expect(c).toBe('{"detail":null,"identity":"CN=a","kind":"kmip","objectId":"u1","operation":"Get","prevHash":"' + GENESIS_HASH + '","reason":null,"result":"success","seq":1,"service":null,"tenant":"t","time":"2025-01-02T03:04:05.000Z"}');
    const keys = Object.keys(JSON.parse(c) as object);
    expect(keys).toEqual([...keys].sort());
    const expected = createHash('sha256').update(Buffer.alloc(32)).update(c).digest('hex');
    expect(recordHash(rec)).toBe(expected);
  });

  it('append assigns seq, time and chains each record from its predecessor (first from genesis)', () => {
    const { log } = memLog();
    fill(log, 5);
    const recs = log.tail(10);
    expect(recs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(recs[0]!.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < recs.length; i++) expect(recs[i]!.prevHash).toBe(recs[i - 1]!.hash);
    for (const r of recs) { const { hash, ...rest } = r; expect(recordHash(rest)).toBe(hash); }
    expect(recs[0]!.time).toBe('2025-01-02T03:04:05.000Z');
    expect(recs[4]!.reason).toBe('ItemNotFound');
    expect(log.head()).toBe(recs[4]!.hash);
    expect(log.anchor()).toEqual({ seq: 5, hash: recs[4]!.hash });
  });

  it('refuses unknown fields, bytes, non-strings and bad enums at run time (programming errors, never text content)', () => {
    const { log } = memLog();
    const base = { kind: 'kmip', result: 'success' } as const;
    const bad: Array<[unknown, RegExp]> = [
      [{ ...base, keyMaterial: 'abc' }, /unknown field\(s\) keyMaterial/],
      [{ ...base, detail: Buffer.from('secret') }, /detail: expected a string or null, got bytes/],
      [{ ...base, objectId: new Uint8Array(16) }, /objectId: expected a string or null, got bytes/],
      [{ ...base, identity: 42 }, /identity: expected a string or null, got number/],
      [{ ...base, tenant: { toString: () => 'x' } }, /tenant: expected a string or null, got object/],
      [{ ...base, kind: 'other' }, /kind: expected one of/],
      [{ ...base, result: 'ok' }, /result: expected 'success' or 'failure'/],
      [{ ...base, reason: 'NoSuchReason' }, /reason: expected a ResultReason name/],
      [{ ...base, operation: 'Frobnicate' }, /expected a KMIP Operation name/],
      [{ kind: 'admin', result: 'success', operation: 'tenant create' }, /expected a token/],
      [{ ...base, operation: 'Get\n' }, /expected a KMIP Operation name/],
      [{ kind: 'admin', result: 'success', operation: `t${'x'.repeat(80)}` }, /operation: longer than 64/],
      [{ ...base, [Symbol('x')]: 'y' }, /unknown field/],
      [Buffer.from('{}'), /expected an object/],
      [null, /expected an object/],
    ];
    for (const [input, msg] of bad) {
      expect(() => log.append(input as AuditInput), String(msg)).toThrow(AuditInputError);
      expect(() => log.append(input as AuditInput)).toThrow(msg);
    }
    expect(log.lastSeq()).toBe(0);
    // A 64-hex fingerprint in identity and a UUID are ordinary values.
    log.append({ kind: 'auth-failure', identity: 'a'.repeat(64), result: 'failure', reason: 'AuthenticationNotSuccessful', detail: 'unknown certificate' });
    expect(log.tail(1)[0]!.identity).toBe('a'.repeat(64));
  });

  it('refuses unknown fields and byte values at the type level', () => {
    const { log } = memLog();
    const extra = { kind: 'kmip' as const, result: 'success' as const, key: 'x' };
    // @ts-expect-error — `key` is not an audit field, even on a variable (no excess-property check there)
    expect(() => log.append(extra)).toThrow(AuditInputError);
    // @ts-expect-error — bytes are not a string
    expect(() => log.append({ kind: 'kmip', result: 'success', detail: Buffer.from('k') })).toThrow(AuditInputError);
    // @ts-expect-error — reason must be a ResultReason name
    expect(() => log.append({ kind: 'kmip', result: 'failure', reason: 'Oops' })).toThrow(AuditInputError);
    expectTypeOf<AuditInput['detail']>().toEqualTypeOf<string | null | undefined>();
  });
});

describe('storage', () => {
  it('group commit: queued until maxRecords or maxDelayMs, flushed on close', async () => {
    const { db, log } = memLog({ groupCommit: { maxRecords: 4, maxDelayMs: 20 } });
    const count = () => (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
    for (let i = 0; i < 3; i++) log.append({ kind: 'kmip', operation: 'Get', result: 'success' });
    expect(count()).toBe(0);
    expect(log.pendingCount()).toBe(3);
    log.append({ kind: 'kmip', operation: 'Get', result: 'success' });
    expect(count()).toBe(4); // the 4th reached maxRecords
    log.append({ kind: 'seal', tenant: 'acme', result: 'success' });
    expect(count()).toBe(4);
    await new Promise((r) => setTimeout(r, 60));
    expect(count()).toBe(5); // the delay elapsed
    log.append({ kind: 'unseal', tenant: 'acme', result: 'success' });
    log.close();
    expect(count()).toBe(6);
    expect(() => log.append({ kind: 'kmip', result: 'success' })).toThrow(/closed/);
  });

  it('the table is append-only at the SQL level', () => {
    const { db, log } = memLog();
    fill(log, 3);
    expect(() => db.prepare("UPDATE audit_log SET operation = 'Get' WHERE seq = 2").run()).toThrow(/append-only: UPDATE refused/);
    expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(/append-only: DELETE refused/);
    expect(log.verify()).toMatchObject({ ok: true, count: 3 });
  });

  it('reopening continues the chain; a second writer on the same file is re-chained, not forked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    dirs.push(dir);
    const path = join(dir, 'audit.db');
    const db1 = openAuditDatabase(path); dbs.push(db1);
    const db2 = openAuditDatabase(path); dbs.push(db2);
    expect(String(db1.pragma('journal_mode', { simple: true }))).toBe('wal');
    const a = openAuditLog(db1);
    fill(a, 3);
    const b = openAuditLog(db2); // sees seq 3
    a.append({ kind: 'admin', operation: 'tenant.create', tenant: 't1', result: 'success' });
    a.flush(); // seq 4
    b.append({ kind: 'admin', operation: 'tenant.create', tenant: 't2', result: 'success' });
    b.flush(); // queued as seq 4, written as 5
    expect(b.tail(5).map((r) => [r.seq, r.tenant])).toEqual([[1, 'acme'], [2, 'acme'], [3, 'acme'], [4, 't1'], [5, 't2']]);
    expect(verifyAuditLog(db1)).toMatchObject({ ok: true, count: 5 });
    a.close(); b.close();
    const c = openAuditLog(db1);
    c.append({ kind: 'system', operation: 'start', result: 'success' });
    expect(c.verify()).toMatchObject({ ok: true, count: 6, lastSeq: 6 });
  });

  it('a database that refuses writes: records stay queued, errors reported, append refuses past maxPending, nothing lost', () => {
    const errors: Error[] = [];
    const { db, log } = memLog({ groupCommit: { maxRecords: 2 }, maxPending: 5, onError: (e) => errors.push(e) });
    db.pragma('query_only = ON');
    for (let i = 0; i < 5; i++) log.append({ kind: 'kmip', operation: 'Get', objectId: `u${i}`, result: 'success' });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.message).toMatch(/readonly|read-only|query_only/i);
    expect(log.pendingCount()).toBe(5);
    expect(() => log.append({ kind: 'kmip', operation: 'Get', result: 'success' })).toThrow(AuditUnavailableError);
    db.pragma('query_only = OFF');
    log.flush();
    expect(log.tail(10).map((r) => r.objectId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
    expect(log.verify()).toMatchObject({ ok: true, count: 5 });
  });

  it('availability: not ok after a failed commit (read-only, disk full), at maxPending, closed; ok again after a commit succeeds', () => {
    const { db, log } = memLog({ groupCommit: { maxRecords: 1000, maxDelayMs: 60_000 }, maxPending: 50 });
    expect(log.availability()).toEqual({ ok: true });
    // Read-only: SQLite refuses the write.
    db.pragma('query_only = ON');
    log.append({ kind: 'kmip', operation: 'Get', result: 'success' });
    expect(log.availability()).toEqual({ ok: true }); // not known before a commit is tried
    expect(() => log.flush()).toThrow(/readonly/i);
    expect(log.availability()).toMatchObject({ ok: false, reason: expect.stringMatching(/^the audit database refuses writes \(.*readonly.*\); 1 record\(s\) queued$/) });
    db.pragma('query_only = OFF');
    log.flush();
    expect(log.availability()).toEqual({ ok: true });
    // Disk full: the database may not grow past its current size (SQLITE_FULL).
    const pages = Number(db.pragma('page_count', { simple: true }));
    db.pragma(`max_page_count = ${pages}`);
    let full: unknown;
    for (let i = 0; i < 50 && full === undefined; i++) {
      log.append({ kind: 'kmip', operation: 'Get', objectId: 'x'.repeat(250), result: 'success', detail: 'y'.repeat(1000) });
      try { log.flush(); } catch (e) { full = e; }
    }
    expect(String(full)).toMatch(/full/i);
    expect(log.availability()).toMatchObject({ ok: false, reason: expect.stringMatching(/full/i) });
    db.pragma('max_page_count = 1073741823');
    log.flush();
    expect(log.availability()).toEqual({ ok: true });
    expect(log.verify()).toMatchObject({ ok: true });
    // maxPending records queued (the commit never tried yet): not ok.
    for (let i = 0; i < 50; i++) log.append({ kind: 'kmip', operation: 'Get', result: 'success' });
    expect(log.availability()).toMatchObject({ ok: false, reason: '50 audit records are queued uncommitted' });
    log.flush();
    expect(log.availability()).toEqual({ ok: true });
    log.close();
    expect(log.availability()).toEqual({ ok: false, reason: 'the audit log is closed' });
    const other = memLog();
    other.db.close();
    expect(other.log.availability()).toEqual({ ok: false, reason: 'the audit database is closed' });
  });

  it('refuses to commit inside a foreign transaction of the same connection, and commits after it', () => {
    const { db, log } = memLog({ groupCommit: { maxRecords: 1 } });
    db.exec('CREATE TABLE other (x)');
    db.transaction(() => {
      db.prepare('INSERT INTO other VALUES (1)').run();
      log.append({ kind: 'kmip', operation: 'Create', result: 'success' });
      expect(() => log.flush()).toThrow(/open transaction/);
    })();
    expect(log.pendingCount()).toBe(1);
    log.flush();
    expect(log.verify()).toMatchObject({ ok: true, count: 1 });
  });
});

describe('record time with the default clock (made once per millisecond)', () => {
  it('is the ISO text of the millisecond of each append, across millisecond, year and backward steps', () => {
    const db = new Database(':memory:');
    dbs.push(db);
    const log = openAuditLog(db);
    const steps = ['2025-12-31T23:59:59.998Z', '2025-12-31T23:59:59.998Z', '2025-12-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z', '2025-06-01T12:00:00.000Z', '2025-06-01T12:00:00.001Z'];
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const at of steps) {
        vi.setSystemTime(new Date(at));
        log.append({ kind: 'system', operation: 'clock.test', result: 'success' });
      }
    } finally {
      vi.useRealTimers();
    }
    expect(log.tail(steps.length).map((r) => r.time)).toEqual(steps);
    expect(log.verify().ok).toBe(true);
  });
});

describe('verify detects tampering done by someone who dropped the triggers', () => {
  it('an untouched log verifies', () => {
    const { db, log } = memLog();
    fill(log, 50);
    expect(verifyAuditLog(db)).toEqual({ ok: true, count: 50, lastSeq: 50, head: log.head() });
    const empty = memLog();
    expect(empty.log.verify()).toEqual({ ok: true, count: 0, lastSeq: 0, head: GENESIS_HASH });
  });

  it('modified: one row\'s operation changed → names its seq', () => {
    const { db, log } = memLog();
    fill(log, 20);
    dropTriggers(db);
    db.prepare("UPDATE audit_log SET operation = 'Activate' WHERE seq = 7").run();
    expect(verifyAuditLog(db)).toMatchObject({ ok: false, seq: 7, problem: 'modified', count: 6 });
  });

  it('modified: a field set to null, or the stored hash edited', () => {
    const { db, log } = memLog();
    fill(log, 10);
    dropTriggers(db);
    db.prepare('UPDATE audit_log SET reason = NULL WHERE seq = 5').run();
    expect(verifyAuditLog(db)).toMatchObject({ ok: false, seq: 5, problem: 'modified' });
    const other = memLog();
    fill(other.log, 10);
    dropTriggers(other.db);
    other.db.prepare("UPDATE audit_log SET prev_hash = 'zz' WHERE seq = 3").run();
    expect(verifyAuditLog(other.db)).toMatchObject({ ok: false, seq: 3, problem: 'modified' });
  });

  it('deleted: a middle row removed → names the missing seq', () => {
    const { db, log } = memLog();
    fill(log, 20);
    dropTriggers(db);
    db.prepare('DELETE FROM audit_log WHERE seq = 12').run();
    const v = verifyAuditLog(db);
    expect(v).toMatchObject({ ok: false, seq: 12, problem: 'deleted', count: 11 });
    expect(v.ok ? '' : v.detail).toMatch(/record 12 is missing/);
    db.prepare('DELETE FROM audit_log WHERE seq IN (1, 2)').run();
    expect(verifyAuditLog(db)).toMatchObject({ ok: false, seq: 1, problem: 'deleted' });
  });

  it('reordered: two rows swap seq → names the first, with the seq it was written at', () => {
    const { db, log } = memLog();
    fill(log, 20);
    dropTriggers(db);
    db.transaction(() => {
      db.prepare('UPDATE audit_log SET seq = -1 WHERE seq = 9').run();
      db.prepare('UPDATE audit_log SET seq = 9 WHERE seq = 10').run();
      db.prepare('UPDATE audit_log SET seq = 10 WHERE seq = -1').run();
    })();
    const v = verifyAuditLog(db);
    expect(v).toMatchObject({ ok: false, seq: 9, problem: 'reordered' });
    expect(v.ok ? '' : v.detail).toMatch(/seq 9 was written as seq 10/);
  });

  it('reordered: a row moved far away (renumbered past the end)', () => {
    const { db, log } = memLog();
    fill(log, 10);
    dropTriggers(db);
    db.prepare('UPDATE audit_log SET seq = 11 WHERE seq = 10').run();
    expect(verifyAuditLog(db)).toMatchObject({ ok: false, seq: 11, problem: 'reordered' });
  });

  it('inserted: a forged row with a self-consistent hash that does not chain', () => {
    const { db, log } = memLog();
    fill(log, 10);
    dropTriggers(db);
    const forged = { seq: 11, time: '2025-01-02T03:04:06.000Z', kind: 'kmip' as const, identity: 'CN=attacker', tenant: 'acme', service: 'db', operation: 'Get', objectId: 'uid-x', result: 'success' as const, reason: null, detail: null, prevHash: 'ab'.repeat(32) };
    const ins = db.prepare('INSERT INTO audit_log (seq, time, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash) VALUES (@seq, @time, @kind, @identity, @tenant, @service, @operation, @objectId, @result, @reason, @detail, @prevHash, @hash)');
    ins.run({ ...forged, hash: recordHash(forged) });
    expect(verifyAuditLog(db)).toMatchObject({ ok: false, seq: 11, problem: 'inserted' });
  });

  it('inserted: a row replaced by a forged one chained to its predecessor → names the replaced seq', () => {
    const { db, log } = memLog();
    fill(log, 10);
    dropTriggers(db);
    const prev = log.tail(10)[4]!; // seq 5
    db.prepare('DELETE FROM audit_log WHERE seq = 6').run();
    const forged = { seq: 6, time: '2025-01-02T03:04:06.000Z', kind: 'kmip' as const, identity: 'CN=attacker', tenant: 'acme', service: 'db', operation: 'Get', objectId: 'uid-x', result: 'success' as const, reason: null, detail: null, prevHash: prev.hash };
    db.prepare('INSERT INTO audit_log (seq, time, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash) VALUES (@seq, @time, @kind, @identity, @tenant, @service, @operation, @objectId, @result, @reason, @detail, @prevHash, @hash)')
      .run({ ...forged, hash: recordHash(forged) });
    expect(verifyAuditLog(db)).toMatchObject({ ok: false, seq: 6, problem: 'inserted' });
  });

  it('a truncated tail is invisible without an anchor and caught with one', () => {
    const { db, log } = memLog();
    fill(log, 10);
    const anchor = log.anchor();
    const head = log.head();
    dropTriggers(db);
    db.prepare('DELETE FROM audit_log WHERE seq > 8').run();
    expect(verifyAuditLog(db)).toMatchObject({ ok: true, count: 8 }); // the documented limitation
    expect(verifyAuditLog(db, { anchor })).toMatchObject({ ok: false, seq: 9, problem: 'deleted' });
    expect(verifyAuditLog(db, { anchor: head })).toMatchObject({ ok: false, problem: 'deleted' });
    expect(log.verify()).toMatchObject({ ok: false, seq: 9, problem: 'deleted' }); // the writer anchors at its own head
  });

  it('a chain recomputed after an edit passes alone but fails against an anchor', () => {
    const { db, log } = memLog();
    fill(log, 6);
    const anchor = log.anchor();
    dropTriggers(db);
    const rows = log.readAfter(0, 100);
    rows[2]!.operation = 'Destroy';
    let prevHash = GENESIS_HASH;
    const upd = db.prepare('UPDATE audit_log SET operation = ?, prev_hash = ?, hash = ? WHERE seq = ?');
    for (const r of rows) {
      const { hash: _h, ...rest } = r;
      const h = recordHash({ ...rest, prevHash });
      upd.run(r.operation, prevHash, h, r.seq);
      prevHash = h;
    }
    expect(verifyAuditLog(db)).toMatchObject({ ok: true, count: 6 });
    expect(verifyAuditLog(db, { anchor })).toMatchObject({ ok: false, seq: 6, problem: 'modified' });
  });
});
