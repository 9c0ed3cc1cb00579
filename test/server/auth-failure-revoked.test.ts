// A revoked certificate passes TLS (it is signed by the CA) and is refused at every
// message by governance: each refusal is an auth-failure record, rate-limited per
// certificate (issue 16 §1) — over a real TLS socket, the real runtime and its SQLite
// audit log, read back from the database file after a clean shutdown.
import { describe, it, expect } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decode } from '../../src/ttlv/decode.ts';
import { ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { openRuntime, DATABASE_FILE } from '../../src/server/runtime.ts';
import { startServer } from '../../src/server/listener.ts';
import { KmipClient } from '../../src/client/index.ts';
import { AUTH_FAILURE_AUDIT_PER_SOURCE } from '../../src/server/auth-failures.ts';
import { generateDevPki } from '../../certs/devpki.ts';
import { discover } from './flood-helpers.ts';

describe('revoked certificate', () => {
  it(`25 refused messages: ${AUTH_FAILURE_AUDIT_PER_SOURCE} auth-failure records, then one summary counting the rest`, async () => {
    const pki = await generateDevPki();
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-revoked-'));
    const rt = await openRuntime({ dataDir: dir });
    let closed = false;
    try {
      const fingerprint = createHash('sha256').update(new X509Certificate(pki.client.certPem).raw).digest('hex');
      rt.governance.createTenant({ id: 'shop', name: 'Shop' });
      rt.governance.createService({ tenant: 'shop', id: 'web' });
      const id = rt.governance.addIdentity({ tenant: 'shop', service: 'web', role: 'app', match: { kind: 'fingerprint', sha256: fingerprint } });
      rt.governance.revokeIdentity({ id: id.id });
      const server = await startServer({ listen: { host: '127.0.0.1', port: 0 }, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem } }, rt);
      const c = await KmipClient.connect({ host: '127.0.0.1', port: server.address().port, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, timeoutMs: 20_000 });
      for (let i = 0; i < 25; i++) {
        const item = parseResponseMessage(decode(await c.sendBytes(discover()))).batchItems[0]!;
        expect(item.resultReason).toBe(ResultReason.PermissionDenied);
      }
      await c.close();
      await server.close();
      await rt.close();
      closed = true;
      const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
      const rows = db.prepare(`SELECT operation, identity, reason, detail FROM audit_log WHERE kind = 'auth-failure' ORDER BY seq`).all() as Array<{ operation: string; identity: string; reason: string; detail: string }>;
      db.close();
      const single = rows.filter((r) => r.operation === 'DiscoverVersions');
      expect(single).toHaveLength(AUTH_FAILURE_AUDIT_PER_SOURCE);
      expect(single[0]!.detail).toContain('revoked');
      const summaries = rows.filter((r) => r.operation === 'auth-failure.summary');
      expect(summaries).toHaveLength(1);
      expect(summaries[0]).toMatchObject({ identity: `sha256:${fingerprint}`, reason: 'PermissionDenied' });
      expect(summaries[0]!.detail).toMatch(new RegExp(`^${25 - AUTH_FAILURE_AUDIT_PER_SOURCE} more refused messages from sha256:${fingerprint} not recorded one by one`));
    } finally {
      if (!closed) await rt.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
