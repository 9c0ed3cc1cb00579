// Issue 15: the governance store accepts the kmip and vault-transit L1 providers. Migration 8
// widens the provider CHECK of gov_l1_pointers by rebuilding the table: a pointer stored under
// schema 7 survives it, and the generation counter still moves on every change.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { GovernanceError, GovernanceStore } from '../../src/store/governance.ts';

const dirs: string[] = [];

// Rows written as a store at that schema wrote them. Today's GovernanceStore reads columns
// later migrations added (the tenant's Name policy, migration 12), so it cannot stand in for
// an older server writing an older schema.
function oldTenant(db: Database.Database, id: string): void {
  db.prepare("INSERT INTO gov_tenants (id, name, state, created_at) VALUES (?, ?, 'active', ?)").run(id, id, new Date().toISOString());
}
function oldPointer(db: Database.Database, tenant: string, provider: string, config: Record<string, string>): void {
  db.prepare("INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES (?, ?, ?, 'active', ?)").run(tenant, provider, JSON.stringify(config), new Date().toISOString());
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('L1 pointers for kmip and vault-transit (migration 8)', () => {
  it('a schema-7 pointer survives the migration; kmip and vault-transit pointers are stored; unknown providers refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-l1-mig-'));
    dirs.push(dir);
    const path = join(dir, 'openkcm.db');
    const v7 = await openSqliteStore(path, MIGRATIONS.filter((m) => m.version <= 7));
    oldTenant(v7.database, 'acme');
    oldTenant(v7.database, 'hyok');
    oldPointer(v7.database, 'acme', 'aws-kms', { keyId: 'alias/acme', region: 'eu-west-1' });
    // Before migration 8 the schema itself refuses the new providers.
    expect(() => v7.database.prepare("INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES ('hyok', 'kmip', '{}', 'active', 'x')").run()).toThrow(/CHECK constraint/);
    await v7.close();

    const store = await openSqliteStore(path);
    try {
      const gov = new GovernanceStore(store.database);
      expect(gov.getL1Pointer('acme')).toMatchObject({ provider: 'aws-kms', config: { keyId: 'alias/acme', region: 'eu-west-1' }, state: 'active' });
      const gen = () => (store.database.prepare("SELECT value FROM gov_meta WHERE key = 'generation'").get() as { value: number }).value;
      const g0 = gen();
      gov.setL1Pointer({ tenant: 'hyok', provider: 'kmip', config: { host: 'hsm.example', keyUid: '42', caFile: '/c', certFile: '/c', clientKeyFile: '/k' } });
      expect(gen()).toBeGreaterThan(g0);
      gov.setL1Pointer({ tenant: 'acme', provider: 'vault-transit', config: { address: 'https://vault:8200', keyName: 'acme', tokenFile: '/run/vault-token' } });
      expect(gov.getL1Pointer('hyok')!.provider).toBe('kmip');
      expect(gov.getL1Pointer('acme')!.provider).toBe('vault-transit');
      const bad = (() => {
        try {
          gov.setL1Pointer({ tenant: 'acme', provider: 'azure' as never, config: {} });
        } catch (e) {
          return e;
        }
      })();
      expect(bad).toBeInstanceOf(GovernanceError);
      expect((bad as Error).message).toMatch(/provider: expected one of 'software', 'pkcs11', 'aws-kms', 'kmip', 'vault-transit'/);
    } finally {
      await store.close();
    }
  });

  it('migration 9: a schema-8 pointer survives; gcp-kms (and azure-keyvault) pointers pass the schema CHECK; the generation still moves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-l1-mig9-'));
    dirs.push(dir);
    const path = join(dir, 'openkcm.db');
    const v8 = await openSqliteStore(path, MIGRATIONS.filter((m) => m.version <= 8));
    oldTenant(v8.database, 'acme');
    oldTenant(v8.database, 'byok');
    oldPointer(v8.database, 'acme', 'vault-transit', { address: 'https://vault:8200', keyName: 'acme', tokenFile: '/run/vault-token' });
    expect(() => v8.database.prepare("INSERT INTO gov_l1_pointers (tenant, provider, config, state, updated_at) VALUES ('byok', 'gcp-kms', '{}', 'active', 'x')").run()).toThrow(/CHECK constraint/);
    await v8.close();

    const store = await openSqliteStore(path);
    try {
      const gov = new GovernanceStore(store.database);
      expect(gov.getL1Pointer('acme')).toMatchObject({ provider: 'vault-transit', config: { keyName: 'acme' }, state: 'active' });
      const gen = () => (store.database.prepare("SELECT value FROM gov_meta WHERE key = 'generation'").get() as { value: number }).value;
      const g0 = gen();
      const keyName = 'projects/p/locations/europe-west3/keyRings/r/cryptoKeys/byok-root';
      gov.setL1Pointer({ tenant: 'byok', provider: 'gcp-kms', config: { keyName, credentialsFile: '/run/secrets/gcp-sa.json' } });
      expect(gen()).toBeGreaterThan(g0);
      expect(gov.getL1Pointer('byok')).toMatchObject({ provider: 'gcp-kms', config: { keyName } });
      // The schema already admits the other cloud provider of issue 15 (one table rebuild for both).
      expect(() => store.database.prepare("UPDATE gov_l1_pointers SET provider = 'azure-keyvault' WHERE tenant = 'byok'").run()).not.toThrow();
      expect(() => store.database.prepare("UPDATE gov_l1_pointers SET provider = 'gcp' WHERE tenant = 'byok'").run()).toThrow(/CHECK constraint/);
    } finally {
      await store.close();
    }
  });
});
