// The CMK's global audit trail on PostgreSQL (issue 10 §4: the CMK on PostgreSQL keeps its
// trail there too). The chain itself is PgAuditChain (pg-chain.ts) as a chain of one writer
// (no node in the records): group commits under the chain's advisory lock, numbered and
// hashed at commit. This file adds what the CMK needs beyond a core's chain, behind the
// AuditTrail contract (trail.ts) that its SQLite form also meets:
//   - appendShipped: records shipped by the cores, appended after the node's (or region's)
//     acknowledgement in one transaction with its move, under the same chain lock, so a
//     batch sent twice is stored once and the chain stays one chain;
//   - the SIEM exporters' cursors (audit_ship_cursor, names prefixed "export:");
//   - tail / lastSeq for the admin API and the exporters' counters.
// The link_audit_cursors table belongs to the CMK's governance schema (as in SQLite, where
// migration 7 creates it): src/store/pg-governance-migrations.ts.
import type pg from 'pg';
import { GENESIS_HASH, type AuditInput, type AuditRecord, type ExactAuditInput } from './record.ts';
import type { AuditRow } from './schema.ts';
import { rowToRecord, type AuditAnchor, type VerifyOptions, type VerifyResult } from './verify.ts';
import type { AuditAvailability, AuditSubscriber } from './log.ts';
import { AUDIT_CHAIN_LOCK_KEY, PgAuditChain, type PgAuditChainOptions } from './pg-chain.ts';
import { chainShipped, type AuditTrail, type ShippedRecord, type ShippedResult } from './trail.ts';

const SELECT = 'seq::float8 AS seq, time, node, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash';
const EXPORT_PREFIX = 'export:';

export class PgAuditTrail implements AuditTrail {
  readonly backend = 'postgres' as const;
  /** Newest seq known committed (any writer's: ours, shipped records). */
  private head = 0;

  private constructor(private readonly chain: PgAuditChain, readonly pool: pg.Pool) {
    chain.subscribe((records) => { this.seen(records[records.length - 1]!.seq); });
  }

  /** The trail on `pool` (the CMK's pool, kept open by its owner); creates the audit tables when absent. */
  static async open(pool: pg.Pool, options: Omit<PgAuditChainOptions, 'node'> = {}): Promise<PgAuditTrail> {
    const chain = await PgAuditChain.open(pool, options);
    const t = new PgAuditTrail(chain, pool);
    t.seen((await chain.anchor()).seq);
    return t;
  }

  private seen(seq: number): void {
    if (seq > this.head) this.head = seq;
  }

  append<T extends AuditInput>(record: ExactAuditInput<T>): void { this.chain.append(record); }
  flush(): Promise<void> { return this.chain.flush(); }
  verify(options?: VerifyOptions): Promise<VerifyResult> { return this.chain.verify(options); }
  readAfter(afterSeq: number, limit: number): Promise<AuditRecord[]> { return this.chain.readAfter(afterSeq, limit); }
  pendingCount(): number { return this.chain.pendingCount(); }
  availability(): AuditAvailability { return this.chain.availability(); }
  subscribe(fn: AuditSubscriber): () => void { return this.chain.subscribe(fn); }

  /** Queued records get their seq at commit; counted after the newest known one. */
  lastSeq(): number { return this.head + this.chain.pendingCount(); }

  async anchor(): Promise<AuditAnchor> {
    await this.flush();
    const a = await this.chain.anchor();
    this.seen(a.seq);
    return a;
  }

  async tail(n: number): Promise<AuditRecord[]> {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`tail: expected a non-negative integer, got ${n}`);
    await this.flush();
    const rows = (await this.pool.query<AuditRow>(`SELECT ${SELECT} FROM audit_log ORDER BY seq DESC LIMIT $1`, [n])).rows;
    return rows.reverse().map(rowToRecord);
  }

  async readExportCursor(name: string): Promise<number | undefined> {
    const r = (await this.pool.query<{ seq: number }>('SELECT seq::float8 AS seq FROM audit_ship_cursor WHERE name = $1', [EXPORT_PREFIX + name])).rows[0];
    return r?.seq;
  }

  async saveExportCursor(name: string, seq: number): Promise<void> {
    await this.chain.saveCursor(EXPORT_PREFIX + name, seq);
  }

  async appendShipped(cursorKey: string, region: string, records: readonly ShippedRecord[], time: string): Promise<ShippedResult> {
    // Our own queued records first: the shipped ones follow them on the chain.
    await this.flush();
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      // The chain's turn (the same lock as every group commit), then the acknowledgement.
      await c.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK_KEY]);
      const cur = (await c.query<{ through: number }>('SELECT accepted_through::float8 AS through FROM link_audit_cursors WHERE node = $1', [cursorKey])).rows[0];
      const through = cur?.through ?? 0;
      const fresh = records.filter((r) => r.nodeSeq > through);
      if (fresh.length === 0) {
        await c.query('COMMIT');
        return { acceptedThrough: through, stored: 0, first: 0, last: 0 };
      }
      const head = (await c.query<{ seq: number; hash: string }>('SELECT seq::float8 AS seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0];
      const chained = chainShipped(fresh, head?.seq ?? 0, head?.hash ?? GENESIS_HASH, time);
      const col = <K extends keyof AuditRecord>(k: K) => chained.map((r) => r[k] ?? null);
      await c.query(
        'INSERT INTO audit_log (seq, time, node, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash) ' +
          'SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])',
        [col('seq'), col('time'), col('node'), col('kind'), col('identity'), col('tenant'), col('service'), col('operation'), col('objectId'), col('result'), col('reason'), col('detail'), col('prevHash'), col('hash')],
      );
      const acceptedThrough = fresh[fresh.length - 1]!.nodeSeq;
      await c.query('INSERT INTO link_audit_cursors (node, region, accepted_through, updated_at) VALUES ($1, $2, $3, $4) ' +
        'ON CONFLICT (node) DO UPDATE SET region = excluded.region, accepted_through = excluded.accepted_through, updated_at = excluded.updated_at',
      [cursorKey, region, acceptedThrough, time]);
      await c.query('COMMIT');
      this.seen(chained[chained.length - 1]!.seq);
      return { acceptedThrough, stored: fresh.length, first: fresh[0]!.nodeSeq, last: acceptedThrough };
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** Commits what is queued and stops; the pool is the caller's. */
  close(): Promise<void> { return this.chain.close(); }
}
