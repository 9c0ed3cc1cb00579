// A real admin API for tests: SQLite store (in memory or in a directory), the governance
// store, the audit log, the hierarchy engine over a software L1, OpenKCM's CA, and the
// HTTPS mutual-TLS listener on 127.0.0.1 port 0. The development client certificate is the
// admin (tenant default, service default), as in bootstrap mode.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { GovernanceStore } from '../../src/store/governance.ts';
import { openAuditLog, sqliteAuditTrail, type AuditLog } from '../../src/audit/index.ts';
import { sqliteGovernance } from '../../src/store/governance-async.ts';
import { HierarchyEngine } from '../../src/hierarchy/engine.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { ensureDevPki, describeCertificate, type DevPkiFiles } from '../../src/server/devpki.ts';
import { loadCa } from '../../src/server/ca.ts';
import { callerResolver, startAdminServer, type RunningAdminServer, type SsoPort } from '../../src/server/admin.ts';
import { silentLogger } from '../../src/log/index.ts';
import { vaultKeyMetadata } from '../../src/server/key-metadata.ts';
import { AdminClient, resolveSettings } from '../../src/cli/admin/connection.ts';

export interface AdminEnv {
  dir: string;
  pki: DevPkiFiles;
  l1KeyFile: string;
  store: SqliteStore;
  governance: GovernanceStore;
  audit: AuditLog;
  hierarchy: HierarchyEngine;
  server: RunningAdminServer;
  url: string;
  adminFingerprint: string;
  /** An admin API client with the given certificate files (default: the admin's). */
  client(files?: { cert: string; key: string }): AdminClient;
  /** Writes PEM text to a file in the env's directory; returns the path. */
  write(name: string, pem: string): string;
  close(): Promise<void>;
}

export async function startAdminEnv(opts: { dataDir?: boolean; withoutHierarchy?: boolean; sso?: SsoPort } = {}): Promise<AdminEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'openkcm-admin-'));
  const { files: pki } = await ensureDevPki(join(dir, 'certs'));
  const store = await openSqliteStore(opts.dataDir ? join(dir, 'openkcm.db') : ':memory:');
  const governance = new GovernanceStore(store.database);
  const audit = openAuditLog(store.database, { groupCommit: { maxRecords: 1 } });
  const l1KeyFile = join(dir, 'l1.key');
  const defaultL1 = await SoftwareL1Provider.open(l1KeyFile);
  const hierarchy = new HierarchyEngine({ store, defaultL1, statusCheckIntervalMs: 0, retryIntervalMs: 0 });
  const { fingerprint } = await describeCertificate(pki.clientCert);
  governance.createTenant({ id: 'default' });
  governance.createService({ tenant: 'default', id: 'default' });
  governance.addIdentity({ tenant: 'default', service: 'default', role: 'admin', match: { kind: 'fingerprint', sha256: fingerprint } });
  const ca = await loadCa(pki.caCert, pki.caKey);
  const server = await startAdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    tls: { caFile: pki.caCert, certFile: pki.serverCert, keyFile: pki.serverKey },
    deps: {
      governance: sqliteGovernance(governance), audit: sqliteAuditTrail(audit), ...(opts.withoutHierarchy ? {} : { hierarchy }), ca, resolveCaller: callerResolver(sqliteGovernance(governance)),
      kmip: { host: '127.0.0.1', port: 5696 }, info: () => ({ version: 'test' }), keys: vaultKeyMetadata(store), ...(opts.sso ? { sso: opts.sso } : {}),
    },
    logger: silentLogger(),
  });
  const url = `https://127.0.0.1:${server.address().port}`;
  return {
    dir, pki, l1KeyFile, store, governance, audit, hierarchy, server, url, adminFingerprint: fingerprint,
    client(files = { cert: pki.clientCert, key: pki.clientKey }) {
      return new AdminClient(resolveSettings({ server: url, cert: files.cert, key: files.key, ca: pki.caCert }, {}));
    },
    write(name, pem) {
      const p = join(dir, name);
      writeFileSync(p, pem, { mode: 0o600 });
      return p;
    },
    async close() {
      await server.close();
      await hierarchy.close();
      audit.close();
      await defaultL1.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One raw HTTPS call to the env's admin API with a client certificate (default: the admin's),
 * answering the status and the parsed JSON body ({} when empty). Raw, not AdminClient: the
 * suites check statuses and bodies the client would turn into errors.
 */
export function adminCall(
  env: AdminEnv, method: string, path: string, body?: unknown, files?: { cert: string; key: string },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; json: Record<string, any> }> {
  const f = files ?? { cert: env.pki.clientCert, key: env.pki.clientKey };
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, env.url), {
      method, cert: readFileSync(f.cert), key: readFileSync(f.key), ca: readFileSync(env.pki.caCert),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}
