// `openkcm cmk` (issue 10 §1; DESIGN.md §1): the governance plane alone. It holds tenants,
// services, identities, roles, grants, L1 pointers (references, never secrets), issues
// certificates, keeps the global audit trail and exports it to SIEM, serves the admin API
// and the link routes its cores follow. It never holds key material of any level: this file
// opens no L1 provider, no hierarchy engine and no KMIP listener, and imports none of them
// (test/link/cmk-process.test.ts checks the modules a running CMK has loaded).
import { readFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { openSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import { GovernanceStore } from '../store/governance.ts';
import { sqliteGovernance, type Governance } from '../store/governance-async.ts';
import { openPgGovernance, type PgGovernance } from '../store/pg-governance.ts';
import { redactDatabaseUrl } from '../store/postgres.ts';
import { openAuditLog, sqliteAuditTrail, type AuditLog, type AuditTrail } from '../audit/index.ts';
import { PgAuditTrail } from '../audit/pg-trail.ts';
import { createCmkLink, type CmkLink } from '../link/cmk.ts';
import { LINK_MAX_STREAMS } from '../link/changes.ts';
import { ADMIN_MAX_CONNECTIONS, callerResolver, startAdminServer, type AdminPem, type ExporterStatsView, type RunningAdminServer, type SsoPort } from './admin.ts';
import type { CertificateAuthority } from './ca.ts';

/** The CMK's own database file: never the file of an all-in-one server (which holds wrapped keys). */
export const CMK_DATABASE_FILE = 'cmk.db';

export interface CmkOptions {
  /** Directory of cmk.db; undefined → in memory (tests). Unused with databaseUrl. */
  dataDir?: string;
  /**
   * PostgreSQL instead of cmk.db (issue 10 §4): governance and the audit trail in that
   * database (postgres://USER:PASSWORD@HOST:PORT/DATABASE). Never a regional vault's
   * database: the CMK holds no key material, and its schema has numbers of its own.
   */
  databaseUrl?: string;
  logger: Logger;
  /** Changes kept in the log (default DEFAULT_CHANGE_RETENTION of src/store/governance.ts). */
  changeRetention?: number;
  heartbeatMs?: number;
  /** First start only: this PEM certificate becomes admin of tenant default, service default. */
  bootstrapClientCertFile?: string;
  /** Audit group commit (tests pass { maxRecords: 1 }). */
  auditGroupCommit?: { maxRecords?: number; maxDelayMs?: number };
}

export interface Cmk {
  /** Where governance and the audit trail live. */
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  /** The SQLite store (cmk.db) when the CMK runs on SQLite. */
  sqlite?: SqliteStore;
  governance: Governance;
  audit: AuditTrail;
  link: CmkLink;
  close(): Promise<void>;
}

export async function openCmk(o: CmkOptions): Promise<Cmk> {
  if (o.databaseUrl !== undefined) return openPgCmk(o, o.databaseUrl);
  const file = o.dataDir !== undefined ? join(o.dataDir, CMK_DATABASE_FILE) : ':memory:';
  const store = await openSqliteStore(file);
  let log: AuditLog | undefined;
  try {
    const governance = sqliteGovernance(new GovernanceStore(store.database, o.changeRetention !== undefined ? { changeRetention: o.changeRetention } : {}));
    log = openAuditLog(store.database, {
      onError: (err) => o.logger.error({ err, event: 'audit_error' }, 'audit log write failed'),
      ...(o.auditGroupCommit ? { groupCommit: o.auditGroupCommit } : {}),
    });
    const audit = sqliteAuditTrail(log);
    if (o.bootstrapClientCertFile !== undefined && !(await governance.isInitialised())) await bootstrapAdmin(governance, audit, o.bootstrapClientCertFile, o.logger);
    const link = createCmkLink({
      governance, audit,
      ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
      onStreamError: (info, err) => o.logger.info({ event: 'link_stream_closed', node: info.node, region: info.region, cursor: info.cursor, reason: err.message }, 'link stream closed'),
    });
    let closed = false;
    return {
      database: { kind: 'sqlite', file }, sqlite: store, governance, audit, link,
      async close() {
        if (closed) return;
        closed = true;
        link.close();
        await audit.close();
        await store.close();
      },
    };
  } catch (e) {
    try { log?.close(); } catch { /* after a failed open */ }
    await store.close().catch(() => undefined);
    throw e;
  }
}

/**
 * The CMK on PostgreSQL: governance (src/store/pg-governance.ts) and the audit trail
 * (src/audit/pg-trail.ts) on one pool. A bad URL, a server that does not answer or a database
 * at a newer schema fail here with one line (StoreConnectionError / StoreSchemaError).
 */
async function openPgCmk(o: CmkOptions, url: string): Promise<Cmk> {
  const governance: PgGovernance = await openPgGovernance(url, {
    logger: o.logger,
    ...(o.changeRetention !== undefined ? { changeRetention: o.changeRetention } : {}),
  });
  let audit: PgAuditTrail | undefined;
  try {
    audit = await PgAuditTrail.open(governance.pool, {
      onError: (err) => o.logger.error({ err, event: 'audit_error' }, 'audit log write failed'),
      ...(o.auditGroupCommit?.maxRecords !== undefined ? { maxRecords: o.auditGroupCommit.maxRecords } : {}),
      ...(o.auditGroupCommit?.maxDelayMs !== undefined ? { maxDelayMs: o.auditGroupCommit.maxDelayMs } : {}),
    });
    const a = audit;
    if (o.bootstrapClientCertFile !== undefined && !(await governance.isInitialised())) await bootstrapAdmin(governance, a, o.bootstrapClientCertFile, o.logger);
    const link = createCmkLink({
      governance, audit: a,
      ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
      onStreamError: (info, err) => o.logger.info({ event: 'link_stream_closed', node: info.node, region: info.region, cursor: info.cursor, reason: err.message }, 'link stream closed'),
    });
    let closed = false;
    return {
      database: { kind: 'postgres', url: redactDatabaseUrl(url) }, governance, audit: a, link,
      async close() {
        if (closed) return;
        closed = true;
        link.close();
        await a.close().catch((err: unknown) => o.logger.error({ err, event: 'audit_error' }, 'audit records could not be committed at close'));
        await governance.close();
        await governance.pool.end();
      },
    };
  } catch (e) {
    await audit?.close().catch(() => undefined);
    await governance.close();
    await governance.pool.end().catch(() => undefined);
    throw e;
  }
}

/** As `openkcm serve` does at its first start (src/server/runtime.ts), without opening anything else. */
async function bootstrapAdmin(gov: Governance, audit: AuditTrail, certFile: string, logger: Logger): Promise<void> {
  let fingerprint: string;
  try {
    fingerprint = createHash('sha256').update(new X509Certificate(readFileSync(certFile)).raw).digest('hex');
  } catch (e) {
    throw new Error(`cannot read the bootstrap client certificate ${certFile}: ${(e as Error).message}`, { cause: e });
  }
  if (!(await gov.getTenant('default'))) await gov.createTenant({ id: 'default', name: 'Default tenant' });
  if (!(await gov.getService('default', 'default'))) await gov.createService({ tenant: 'default', id: 'default', name: 'Default service' });
  const id = await gov.addIdentity({ tenant: 'default', service: 'default', role: 'admin', match: { kind: 'fingerprint', sha256: fingerprint } });
  audit.append({
    kind: 'system', identity: id.id, tenant: 'default', service: 'default', operation: 'governance.bootstrap',
    result: 'success', detail: 'first start of the CMK: development client certificate registered as admin of default/default',
  });
  logger.warn({ event: 'governance_bootstrap', identity: id.id, fingerprint, certFile },
    'first start: registered the development client certificate as admin of tenant default, service default');
}

export interface CmkAdminOptions {
  listen: { host: string; port: number };
  tls: AdminPem;
  ca?: CertificateAuthority;
  logger: Logger;
  exporters?: () => ExporterStatsView[];
  info?: () => Record<string, unknown>;
  /** Single sign-on for administrators (issue 14 §4). */
  sso?: SsoPort;
}

/** The CMK's one listener: the admin API with the link routes. */
export function startCmkAdmin(cmk: Cmk, o: CmkAdminOptions): Promise<RunningAdminServer> {
  return startAdminServer({
    listen: o.listen,
    tls: o.tls,
    logger: o.logger,
    // Operators and scripts, plus one change stream per core node.
    maxConnections: ADMIN_MAX_CONNECTIONS + LINK_MAX_STREAMS,
    deps: {
      governance: cmk.governance,
      audit: cmk.audit,
      link: cmk.link,
      ...(o.ca ? { ca: o.ca } : {}),
      resolveCaller: callerResolver(cmk.governance),
      ...(o.exporters ? { exporters: o.exporters } : {}),
      ...(o.info ? { info: o.info } : {}),
      ...(o.sso ? { sso: o.sso } : {}),
    },
  });
}
