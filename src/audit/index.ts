// Audit log and SIEM export (issue 7, "Audit"). API for the server and governance code:
//
//   import Database from 'better-sqlite3';
//   import { openAuditLog, startExporters } from '../audit/index.ts';
//
//   const audit = openAuditLog(db, { groupCommit: { maxRecords: 512, maxDelayMs: 5 } });
//     db: a better-sqlite3 handle — the store's (`SqliteStore.database`) or one of its own
//     (`openAuditDatabase(path)`, WAL). The module creates its own tables (audit_log,
//     audit_export_cursor, audit_schema_version) and never touches the store's migrations.
//
//   audit.append({ kind: 'kmip', identity, tenant, service, operation: 'Get', objectId,
//                  result: 'failure', reason: 'ItemNotFound' });            → void
//     Synchronous, no disk wait (group commit every maxDelayMs ms or maxRecords records).
//     Only the AuditInput fields, only strings/null: unknown fields and bytes are refused
//     at compile time and at run time (AuditInputError). Text is never refused: control,
//     format and bidi characters and lone surrogates are escaped (\u{hex}), long values cut
//     with a marker and the SHA-256 of the whole (record.ts, README "Audit log"). kind: kmip | admin | seal | unseal
//     | kill | auth-failure | system. For kind 'kmip' `operation` is an Operation name; for
//     the others a token such as 'tenant.create'. `reason` is a ResultReason name.
//     Throws AuditUnavailableError when the log is closed or the database has refused
//     writes for maxPending records: records are never dropped silently.
//   audit.availability()           → { ok: true } | { ok: false, reason }: not ok while closed,
//                                  after a failed commit (until one succeeds), or at maxPending.
//                                  The KMIP executor refuses service while not ok.
//   audit.flush()                  commit the queued records now
//   audit.verify(opts?)            → { ok: true, count, lastSeq, head }
//                                  | { ok: false, seq, problem: 'modified'|'deleted'|'reordered'|'inserted', detail, count }
//   audit.tail(n)                  → AuditRecord[] (newest n, oldest first)
//   audit.readAfter(seq, limit)    → AuditRecord[]
//   audit.head()                   → hash of the newest record (hex); audit.anchor() → { seq, hash }
//     Keep an anchor outside the database: truncating the tail, or rewriting and re-hashing
//     the chain, is invisible to verify without one (verifyAuditLog(db, { anchor })).
//   audit.subscribe(fn)            fn(records) after each commit; returns unsubscribe
//   audit.close()                  flush and stop (the db handle stays open: it is the caller's)
//
//   verifyAuditLog(db, { anchor? }) — the same check without a writer (kmipctl audit verify).
//
//   const exporters = startExporters(audit, [
//     { type: 'file', path: 'audit/audit.jsonl', format: 'json', maxBytes: 10 << 20, keep: 5 },
//     { type: 'syslog', transport: 'tls', host: 'siem.example', port: 6514, payload: 'cef',
//       tls: { caFile: 'siem-ca.pem' } },
//   ]);                            config validated: AuditConfigError names the bad key
//   exporters.stats()              → [{ name, connected, cursor, undelivered, buffered, droppedFromBuffer, delivered, failures, lastError }]
//   await exporters.drain(ms)      → true when every exporter has delivered everything
//   await exporters.close()        drain briefly, save cursors, close connections
export * from './record.ts';
export * from './schema.ts';
export * from './verify.ts';
export * from './log.ts';
export * from './trail.ts';
export * from './export/config.ts';
export * from './export/format.ts';
export * from './export/transports.ts';
export * from './export/exporter.ts';
