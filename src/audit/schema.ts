// The audit tables. They live in whatever better-sqlite3 database the caller hands over —
// by default the store's own file (one backup, one file to protect) — but the audit module
// creates and versions them itself (`audit_schema_version`), so it never touches the
// store's migrations (src/store/migrations.ts). A deployment that wants the audit trail on
// another disk or with other permissions opens a separate file with openAuditDatabase().
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export const AUDIT_SCHEMA_VERSION = 1;

export class AuditSchemaError extends Error {
  override readonly name = 'AuditSchemaError';
}

const DDL_V1 = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq       INTEGER PRIMARY KEY,
  time      TEXT NOT NULL,
  kind      TEXT NOT NULL,
  identity  TEXT,
  tenant    TEXT,
  service   TEXT,
  operation TEXT,
  object_id TEXT,
  result    TEXT NOT NULL,
  reason    TEXT,
  detail    TEXT,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
-- Append-only at the SQL level. Whoever can write the file can drop these; the hash
-- chain (verify.ts) is what catches that.
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
-- Last seq each SIEM exporter has delivered (export/exporter.ts). Mutable by design.
CREATE TABLE IF NOT EXISTS audit_export_cursor (
  name    TEXT PRIMARY KEY,
  seq     INTEGER NOT NULL,
  updated TEXT NOT NULL
);
`;

/** Creates the audit tables when absent; refuses a database written by a newer version. */
export function ensureAuditSchema(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS audit_schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM audit_schema_version').get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > AUDIT_SCHEMA_VERSION) {
    throw new AuditSchemaError(`audit schema version ${current} is newer than this build supports (${AUDIT_SCHEMA_VERSION}); upgrade OpenKCM`);
  }
  if (current === AUDIT_SCHEMA_VERSION) {
    // Triggers are re-created if someone dropped them; the chain still reports past tampering.
    db.exec(DDL_V1);
    return;
  }
  db.transaction(() => {
    db.exec(DDL_V1);
    db.prepare('INSERT INTO audit_schema_version (version) VALUES (?)').run(AUDIT_SCHEMA_VERSION);
  })();
}

/** True when the database holds an audit log. */
export function hasAuditLog(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get() !== undefined;
}

/**
 * Opens (creating) a database file of its own for the audit log: WAL so that readers
 * (kmipctl audit tail/verify) never block the writer, synchronous FULL so a committed
 * group survives power loss.
 */
export function openAuditDatabase(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  if (path !== ':memory:') {
    const mode = String(db.pragma('journal_mode = WAL', { simple: true })).toLowerCase();
    if (mode !== 'wal') {
      db.close();
      throw new AuditSchemaError(`cannot switch ${path} to WAL journal mode (got ${mode})`);
    }
  }
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** A row of audit_log as SQLite returns it. */
export interface AuditRow {
  seq: number;
  time: string;
  kind: string;
  identity: string | null;
  tenant: string | null;
  service: string | null;
  operation: string | null;
  object_id: string | null;
  result: string;
  reason: string | null;
  detail: string | null;
  prev_hash: string;
  hash: string;
  /** Only in a chain several core nodes append to (PostgreSQL, src/audit/pg-chain.ts). */
  node?: string | null;
}

export const AUDIT_COLUMNS = 'seq, time, kind, identity, tenant, service, operation, object_id, result, reason, detail, prev_hash, hash';
