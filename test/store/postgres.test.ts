// The PostgreSQL vault store on a real PostgreSQL started by the test (test/helpers/postgres.ts):
// the same ObjectStore and HierarchyStore contracts as SQLite, then what is PostgreSQL's own —
// migrations, refusal of a newer schema, one-line connection errors, group commit, Locate
// plans, LISTEN/NOTIFY.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { LISTEN_APPLICATION_NAME, openPostgresStore, PG_SCAN_PAGE_SIZE, StoreConnectionError, type HierarchyChange } from '../../src/store/postgres.ts';
import { PG_LATEST_SCHEMA_VERSION, PG_MIGRATIONS } from '../../src/store/pg-migrations.ts';
import { StoreSchemaError } from '../../src/store/types.ts';
import { structure, textString, enumeration, integer, byteString } from '../../src/kmip/items.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { openHierarchy } from '../../src/hierarchy/hierarchy-protector.ts';
import { createObjectRepository } from '../../src/hierarchy/repository.ts';
import { KeyFormatType } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, ObjectType, State } from '../../src/ttlv/generated/enumerations.ts';
import { uniqueDatabaseName, usePostgres } from '../helpers/postgres.ts';
import { activeOrCompromisedKeysOfTenantA, makeStored, planObject, runObjectStoreContract } from './contract.ts';
import { runHierarchyStoreContract } from './hierarchy-contract.ts';

const cluster = usePostgres();
const freshDb = () => cluster().createDatabase(uniqueDatabaseName('t'));

runObjectStoreContract('postgres', async () => ({ store: await openPostgresStore(await freshDb(), { listen: false }) }));
runHierarchyStoreContract('postgres, two stores (two nodes) on one database', async () => {
  const url = await freshDb();
  return { a: await openPostgresStore(url, { listen: false }), b: await openPostgresStore(url, { listen: false }) };
});

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

describe('PostgreSQL store: migrations', () => {
  it('records every migration once and does not reapply on reopen; two nodes opening together migrate once', async () => {
    const url = await freshDb();
    const [s1, s2] = await Promise.all([openPostgresStore(url, { listen: false }), openPostgresStore(url, { listen: false })]);
    await s1.insert(makeStored({ uid: 'kept' }));
    await s1.close();
    await s2.close();
    const s3 = await openPostgresStore(url, { listen: false });
    try {
      const rows = await sql<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
      expect(await s3.get('tenant-a', 'kept')).toBeDefined();
    } finally {
      await s3.close();
    }
  });

  it('refuses a database whose schema is newer than the code, in one line naming both versions and what to do', async () => {
    const url = await freshDb();
    await (await openPostgresStore(url, { listen: false })).close();
    await sql(url, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [PG_LATEST_SCHEMA_VERSION + 7, 'from the future', 'x']);
    const err = await openPostgresStore(url, { listen: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreSchemaError);
    const msg = (err as Error).message;
    expect(msg).toContain(`version ${PG_LATEST_SCHEMA_VERSION + 7}`);
    expect(msg).toContain(`(${PG_LATEST_SCHEMA_VERSION})`);
    expect(msg).toMatch(/run the OpenKCM version that wrote it/);
    expect(msg).not.toContain('\n');
  });

  it('a failing migration rolls back every migration of that open', async () => {
    const url = await freshDb();
    const broken = [PG_MIGRATIONS[0]!, { version: 2, name: 'broken', sql: 'CREATE TABLE oops (' }];
    await expect(openPostgresStore(url, { listen: false, migrations: broken })).rejects.toThrow();
    const tables = await sql<{ n: string }>(url, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'objects'");
    expect(tables[0]!.n).toBe('0');
  });
});

describe('PostgreSQL store: connection errors are one line naming what to fix', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['not a URL', () => 'nonsense', /is not a URL; write it as postgres:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/],
    ['another scheme', () => 'mysql://u:p@localhost/db', /is not a PostgreSQL URL \(scheme mysql\)/],
    ['no database', () => `postgres://u:p@127.0.0.1:${cluster().port}`, /names no database/],
    ['wrong password', () => cluster().urlFor('openkcm_test', { password: 'not-it' }), /password authentication failed .* check the user and password/],
    ['missing database', () => cluster().urlFor('no_such_db'), /database "no_such_db" does not exist — create it/],
    ['nobody listening', () => 'postgres://u:secret@127.0.0.1:1/db', /connection refused — is PostgreSQL running/],
  ];
  for (const [label, url, want] of cases) {
    it(label, async () => {
      const err = await openPostgresStore(url(), { listen: false, connectTimeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreConnectionError);
      const msg = (err as Error).message;
      expect(msg).toMatch(want);
      expect(msg).not.toContain('\n');
      // The password never appears in the message.
      expect(msg).not.toContain(cluster().password);
      expect(msg).not.toContain('secret');
    });
  }
});

describe('PostgreSQL store: group commit', () => {
  it('a burst of inserts shares few transactions; every acknowledged insert is committed, in call order', async () => {
    const url = await freshDb();
    const store = await openPostgresStore(url, { listen: false });
    try {
      const objs = Array.from({ length: 200 }, (_, i) => makeStored({ tenant: 'gc', attributes: [structure(Tag.Name, [textString(Tag.NameValue, `gc-${i}`)])] }));
      await Promise.all(objs.map((o) => store.insert(o)));
      // Read through a separate connection: what was acknowledged is there.
      const rows = await sql<{ uid: string }>(url, "SELECT uid FROM objects WHERE tenant = 'gc' ORDER BY created_seq");
      expect(rows.map((r) => r.uid)).toEqual(objs.map((o) => o.uid));
      expect((await sql<{ n: string }>(url, "SELECT COUNT(*) AS n FROM object_names WHERE tenant = 'gc'"))[0]!.n).toBe('200');
      // Each row's xmin is the transaction that inserted it: 200 inserts one by one would be
      // 200 transactions; grouped, the burst shares a handful.
      const txns = Number((await sql<{ n: string }>(url, "SELECT COUNT(DISTINCT xmin::text) AS n FROM objects WHERE tenant = 'gc'"))[0]!.n);
      expect(txns).toBeGreaterThanOrEqual(1);
      expect(txns).toBeLessThanOrEqual(10);
    } finally {
      await store.close();
    }
  });

  it('close commits inserts that were issued but not yet awaited', async () => {
    const url = await freshDb();
    const store = await openPostgresStore(url, { listen: false });
    const pending = store.insert(makeStored({ uid: 'late' }));
    await store.close();
    await pending;
    const again = await openPostgresStore(url, { listen: false });
    try {
      expect(await again.get('tenant-a', 'late')).toBeDefined();
    } finally {
      await again.close();
    }
  });
});

describe('PostgreSQL store: Locate queries use indexes', () => {
  it('with 3 000 objects, name, type/state, group and algorithm lookups walk indexes: the first page never reads the table nor sorts', async () => {
    const url = await freshDb();
    const store = await openPostgresStore(url, { listen: false });
    try {
      const inserts: Promise<void>[] = [];
      for (let i = 0; i < 3000; i++) {
        inserts.push(store.insert(planObject(i)));
      }
      await Promise.all(inserts);
      await sql(url, 'ANALYZE');
      const cases: Array<[Parameters<typeof store.explainScan>[1], RegExp]> = [
        [{ name: 'name-17' }, /Index Only Scan using object_names_by_name on object_names l/],
        [{ name: 'name-17', objectType: ObjectType.SymmetricKey, states: [State.Active, State.PreActive] }, /object_names_by_name/],
        [{ objectType: ObjectType.SymmetricKey, states: [State.Active] }, /Index Scan using objects_by_type_state on objects o/],
        [{ objectType: ObjectType.SymmetricKey, states: [State.Active, State.Deactivated] }, /objects_by_type_state/],
        [{ objectType: ObjectType.SymmetricKey }, /objects_by_type_state/],
        [{ states: [State.Active] }, /objects_by_state/],
        [{}, /objects_by_state/],
        [{ objectGroup: 'group-3' }, /object_groups_by_group/],
        [{ objectGroup: 'group-3', name: 'name-13' }, /object_names_by_name/],
        // Every object here is AES-256: the planner rightly walks the state index instead.
        [{ cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 256 }, /objects_by_(algorithm|state)/],
      ];
      for (const [filter, want] of cases) {
        const first = (await store.explainScan('tenant-a', filter, 'first')).join('\n');
        const later = (await store.explainScan('tenant-a', filter, 'later')).join('\n');
        expect(first, JSON.stringify(filter)).toMatch(want);
        expect(later, JSON.stringify(filter)).toMatch(/Index (Only )?Scan/);
        // The first page (what Locate with a small MaximumItems reads, and the start of every
        // Locate) is an ordered index walk: never a pass over a table, never a sort of every
        // match. A later page of 256 rows uses the same index, but PostgreSQL plans by cost:
        // on a table this small it may hash-join or sort a few hundred rows when that is
        // cheaper than the walk; as the table grows the walk wins.
        expect(first, JSON.stringify(filter)).not.toMatch(/Seq Scan/);
        expect(first, JSON.stringify(filter)).not.toMatch(/\bSort\b/);
      }
      const got: string[] = [];
      for await (const o of store.scan('tenant-a', { objectType: ObjectType.SymmetricKey, states: [State.Active, State.Compromised] })) got.push(o.uid);
      const want = activeOrCompromisedKeysOfTenantA(3000);
      expect(got).toEqual(want);
      expect(want.length).toBeGreaterThan(PG_SCAN_PAGE_SIZE);
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL store: hierarchy change notifications', () => {
  it('an L3 insert, an L2 replacement and an L1 pointer change on one node reach the other node through LISTEN/NOTIFY; a refused one does not', async () => {
    const url = await freshDb();
    const a = await openPostgresStore(url);
    const b = await openPostgresStore(url);
    try {
      const seen: HierarchyChange[] = [];
      b.onHierarchyChange((c) => seen.push(c));
      const waitFor = async (n: number) => {
        for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      };
      await a.insertFirstL2Key('t', Buffer.from('l2'));
      await a.insertL3Key({ tenant: 't', service: 's', version: 1, l2Version: 1, wrapped: Buffer.from('l3') }, undefined);
      expect(await a.insertL3Key({ tenant: 't', service: 's', version: 2, l2Version: 1, wrapped: Buffer.from('x') }, 9)).toBe(false);
      await a.replaceL2Key('t', 1, { version: 2, wrapped: Buffer.from('l2b') }, [{ service: 's', version: 1, wrapped: Buffer.from('l3b') }]);
      await a.putTenantL1('t', '{}', 'disabled');
      await waitFor(4);
      expect(seen).toEqual([
        { kind: 'l2', tenant: 't', version: 1 },
        { kind: 'l3', tenant: 't', service: 's', version: 1 },
        { kind: 'l2', tenant: 't', version: 2 },
        { kind: 'l1', tenant: 't', state: 'disabled' },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a lost notification connection is re-opened, announced as a resync, and delivers again', async () => {
    const url = await freshDb();
    const a = await openPostgresStore(url, { listen: false });
    const b = await openPostgresStore(url);
    try {
      const seen: HierarchyChange[] = [];
      let resyncs = 0;
      b.onHierarchyChange((c) => seen.push(c));
      b.onResync(() => resyncs++);
      // The server drops the listener (a PostgreSQL restart, a proxy timeout…).
      const killed = await sql<{ ok: boolean }>(url, 'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [LISTEN_APPLICATION_NAME]);
      expect(killed.map((r) => r.ok)).toEqual([true]);
      for (let i = 0; i < 400 && resyncs === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(resyncs).toBe(1);
      await a.putTenantL1('t', '{}', 'disabled');
      for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual([{ kind: 'l1', tenant: 't', state: 'disabled' }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

});

describe('PostgreSQL store: a lock held elsewhere', () => {
  it('a write stuck behind a row lock of a hung transaction fails after the statement limit instead of hanging', async () => {
    const url = await freshDb();
    const store = await openPostgresStore(url, { listen: false, statementTimeoutMs: 1_000 });
    const o = makeStored({ tenant: 'lk' });
    await store.insert(o);
    const hung = new pg.Client({ connectionString: url });
    await hung.connect();
    try {
      await hung.query('BEGIN');
      await hung.query("SELECT 1 FROM objects WHERE tenant = 'lk' FOR UPDATE");
      const copy = (await store.get('lk', o.uid))!;
      const err = await store.update(copy).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/statement timeout/);
      await hung.query('ROLLBACK');
      // Once the lock is gone the same update goes through.
      await store.update(copy);
      expect((await store.get('lk', o.uid))!.revision).toBe(1);
    } finally {
      await hung.end();
      await store.close();
    }
  });
});

describe('PostgreSQL store: key material at rest', () => {
  it('a known 32-byte key written through the hierarchy never appears in the cluster files (WAL and tables), the name next to it does', async () => {
    const url = await freshDb();
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-pg-secret-'));
    const store = await openPostgresStore(url, { listen: false });
    const l1 = await SoftwareL1Provider.open(join(dir, 'l1.key'));
    const h = await openHierarchy(store, { defaultL1: l1 });
    try {
      const repo = createObjectRepository(store, h.protector, { tenant: 't', service: 's' });
      const key = Buffer.from('0123456789abcdef'.repeat(2), 'latin1');
      const marker = 'findable-pg-name-marker';
      await repo.create({
        uid: 'secret-1', objectType: ObjectType.SymmetricKey, state: State.Active,
        attributes: [structure(Tag.Name, [textString(Tag.NameValue, marker)])],
        value: structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
          enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
          structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          integer(Tag.CryptographicLength, 256),
        ])]),
      });
      expect((await repo.load('secret-1'))?.value).toBeDefined();
      await sql(url, 'CHECKPOINT');
      let markerSeen = false;
      const walk = (d: string) => {
        for (const f of readdirSync(d)) {
          const p = join(d, f);
          const st = statSync(p);
          if (st.isDirectory()) walk(p);
          else if (st.isFile() && st.size < 64 * 1024 * 1024) {
            const bytes = readFileSync(p);
            expect(bytes.includes(key), `${p} holds the key in the clear`).toBe(false);
            expect(bytes.includes(key.subarray(0, 16)), `${p} holds half the key in the clear`).toBe(false);
            if (bytes.includes(Buffer.from(marker))) markerSeen = true;
          }
        }
      };
      walk(cluster().dataDir);
      // The search works: the (non-secret) name written in the same statement is found.
      expect(markerSeen).toBe(true);
    } finally {
      await h.close();
      await store.close();
      await l1.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
