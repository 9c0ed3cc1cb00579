import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { lookupValuesSql, openSqliteStore, StoreSchemaError, SCAN_PAGE_SIZE } from '../../src/store/sqlite.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/migrations.ts';
import { deriveIndexColumns } from '../../src/store/attributes-index.ts';
import { SoftwareL1Provider } from '../../src/hsm/software.ts';
import { createInterimProtector } from '../../src/hierarchy/interim.ts';
import { createObjectRepository } from '../../src/hierarchy/repository.ts';
import { byteString, enumeration, integer, structure, textString, dateTime } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, State } from '../../src/ttlv/generated/enumerations.ts';
import { activeOrCompromisedKeysOfTenantA, makeStored, planObject, runObjectStoreContract } from './contract.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'openkcm-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runObjectStoreContract('sqlite :memory:', async () => ({ store: await openSqliteStore(':memory:') }));
runObjectStoreContract('sqlite on disk (WAL)', async () => {
  const dir = tempDir();
  return { store: await openSqliteStore(join(dir, 'store.db')), dispose: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('SQLite store: pragmas and migrations', () => {
  it('opens on-disk databases in WAL mode with synchronous=FULL and foreign keys on', async () => {
    const store = await openSqliteStore(join(tempDir(), 'p.db'));
    try {
      const db = store.database;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('records every migration once and does not reapply on reopen', async () => {
    const path = join(tempDir(), 'm.db');
    const s1 = await openSqliteStore(path);
    await s1.insert(makeStored({ uid: 'kept' }));
    await s1.close();
    const s2 = await openSqliteStore(path);
    try {
      const rows = s2.database.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(rows.at(-1)?.version).toBe(LATEST_SCHEMA_VERSION);
      expect(await s2.get('tenant-a', 'kept')).toBeDefined();
    } finally {
      await s2.close();
    }
  });

  it('refuses a database whose schema is newer than the code, naming both versions', async () => {
    const path = join(tempDir(), 'newer.db');
    (await openSqliteStore(path)).close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST_SCHEMA_VERSION + 7, 'from the future', 'x');
    raw.close();
    const err = await openSqliteStore(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreSchemaError);
    expect((err as Error).message).toContain(`version ${LATEST_SCHEMA_VERSION + 7}`);
    expect((err as Error).message).toContain(`(${LATEST_SCHEMA_VERSION})`);
  });

  it('a failing migration rolls back every migration of that open', async () => {
    const path = join(tempDir(), 'broken.db');
    const broken = [MIGRATIONS[0]!, { version: 2, name: 'broken', sql: 'CREATE TABLE oops (' }];
    await expect(openSqliteStore(path, broken)).rejects.toThrow();
    const raw = new Database(path);
    const tables = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    const applied = raw.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number };
    raw.close();
    expect(tables).not.toContain('objects');
    expect(applied.n).toBe(0);
  });

  it('migration 3 backfills the creation order into name/group rows and folds duplicates', async () => {
    const path = join(tempDir(), 'v2.db');
    (await openSqliteStore(path, MIGRATIONS.slice(0, 2))).close();
    const raw = new Database(path);
    const attrs = encode(structure(Tag.Attributes, []));
    raw.prepare("INSERT INTO objects (uid, tenant, service, object_type, state, revision, created_seq, attributes) VALUES ('old', 't', 's', 2, 1, 0, 41, ?)").run(attrs);
    raw.prepare("INSERT INTO object_names (uid, tenant, name) VALUES ('old', 't', 'n'), ('old', 't', 'n')").run();
    raw.prepare("INSERT INTO object_groups (uid, tenant, grp) VALUES ('old', 't', 'g')").run();
    raw.close();
    const store = await openSqliteStore(path);
    try {
      expect(store.database.prepare('SELECT uid, name, created_seq FROM object_names').all()).toEqual([{ uid: 'old', name: 'n', created_seq: 41 }]);
      expect(store.database.prepare('SELECT uid, grp, created_seq FROM object_groups').all()).toEqual([{ uid: 'old', grp: 'g', created_seq: 41 }]);
      const found: string[] = [];
      for await (const o of store.scan('t', { name: 'n' })) found.push(o.uid);
      expect(found).toEqual(['old']);
    } finally {
      await store.close();
    }
  });

  it('migration 6 re-keys objects, names and groups by (tenant, uid), keeping every row of a version 5 database', async () => {
    const path = join(tempDir(), 'v5.db');
    const v5 = await openSqliteStore(path, MIGRATIONS.slice(0, 5));
    expect(v5.database.prepare('SELECT MAX(version) AS v FROM schema_migrations').get()).toEqual({ v: 5 });
    const named = (n: string) => structure(Tag.Name, [textString(Tag.NameValue, n), enumeration(Tag.NameType, 1)]);
    const objs = [
      makeStored({ uid: 'k1', tenant: 'alpha', service: 'pay', attributes: [named('alpha-key'), textString(Tag.ObjectGroup, 'g'), integer(Tag.CryptographicLength, 256), dateTime(Tag.InitialDate, 1_600_000_000n)] }),
      makeStored({ uid: 'k2', tenant: 'beta', service: 'web', objectType: ObjectType.SecretData, state: State.Active, attributes: [named('beta-key'), named('beta-alias'), textString(Tag.ObjectGroup, 'g')] }),
      makeStored({ uid: 'k3', tenant: 'alpha', service: 'hr', state: State.Destroyed, attributes: [named('gone')] }),
    ];
    delete objs[2]!.wrappedValue;
    for (const o of objs) await v5.insert(o);
    objs[0]!.state = State.Active;
    await v5.update(objs[0]!);
    await v5.putSystemBlobIfAbsent('kept-blob', Buffer.from('blob'));
    await v5.putTenantL1('alpha', '{"provider":"software"}', 'active');
    const seqBefore = v5.database.prepare('SELECT tenant, uid, created_seq, cryptographic_length, initial_date FROM objects ORDER BY created_seq').all();
    await v5.close();

    const store = await openSqliteStore(path);
    try {
      const db = store.database;
      expect(db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get()).toEqual({ v: LATEST_SCHEMA_VERSION });
      // Every object, column for column, and the derived columns and creation order with it.
      for (const o of objs) expect(await store.get(o.tenant, o.uid)).toEqual(o);
      expect(db.prepare('SELECT tenant, uid, created_seq, cryptographic_length, initial_date FROM objects ORDER BY created_seq').all()).toEqual(seqBefore);
      const pk = (db.prepare("SELECT name, pk FROM pragma_table_info('objects') WHERE pk > 0 ORDER BY pk").all() as { name: string }[]).map((r) => r.name);
      expect(pk).toEqual(['tenant', 'uid']);
      for (const t of ['object_names', 'object_groups']) {
        const fks = db.prepare(`SELECT "table", "from", "to" FROM pragma_foreign_key_list('${t}') ORDER BY seq`).all();
        expect(fks, t).toEqual([{ table: 'objects', from: 'tenant', to: 'tenant' }, { table: 'objects', from: 'uid', to: 'uid' }]);
      }
      expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
      expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
      // Lookups survive, per tenant.
      const scan = async (tenant: string, f: Parameters<typeof store.scan>[1]) => {
        const out: string[] = [];
        for await (const o of store.scan(tenant, f)) out.push(o.uid);
        return out;
      };
      expect(await scan('beta', { name: 'beta-alias' })).toEqual(['k2']);
      expect(await scan('alpha', { objectGroup: 'g' })).toEqual(['k1']);
      expect(await scan('alpha', { name: 'gone', includeDestroyed: true })).toEqual(['k3']);
      // Other tables are untouched.
      expect(await store.getSystemBlob('kept-blob')).toEqual(Buffer.from('blob'));
      expect((await store.getTenantL1('alpha'))?.state).toBe('active');
      // The migrated database now lets another tenant hold an existing uid, and deletes cascade per tenant.
      await store.insert(makeStored({ uid: 'k1', tenant: 'beta', attributes: [named('beta-k1'), textString(Tag.ObjectGroup, 'g')] }));
      expect((await store.get('alpha', 'k1'))?.service).toBe('pay');
      expect(await scan('beta', { objectGroup: 'g' })).toEqual(['k1', 'k2']);
      expect(await store.delete('beta', 'k1')).toBe(true);
      expect(db.prepare("SELECT tenant, name FROM object_names WHERE uid = 'k1'").all()).toEqual([{ tenant: 'alpha', name: 'alpha-key' }]);
      expect(await scan('alpha', { name: 'alpha-key' })).toEqual(['k1']);
    } finally {
      await store.close();
    }
  });

  it('close commits writes that were issued but not yet awaited', async () => {
    const path = join(tempDir(), 'flush.db');
    const store = await openSqliteStore(path);
    const pending = store.insert(makeStored({ uid: 'late' }));
    await store.close();
    await pending;
    const again = await openSqliteStore(path);
    try {
      expect(await again.get('tenant-a', 'late')).toBeDefined();
    } finally {
      await again.close();
    }
  });

  it('system blobs: the first writer wins', async () => {
    const store = await openSqliteStore(':memory:');
    try {
      expect(await store.getSystemBlob('k')).toBeUndefined();
      expect(await store.putSystemBlobIfAbsent('k', Buffer.from('first'))).toEqual(Buffer.from('first'));
      expect(await store.putSystemBlobIfAbsent('k', Buffer.from('second'))).toEqual(Buffer.from('first'));
      expect(await store.getSystemBlob('k')).toEqual(Buffer.from('first'));
    } finally {
      await store.close();
    }
  });
});

describe('SQLite store: derived index columns', () => {
  it('reads names, groups, algorithm, length and dates from the attributes', () => {
    const d = deriveIndexColumns([
      structure(Tag.Name, [textString(Tag.NameValue, 'n1'), enumeration(Tag.NameType, 1)]),
      structure(Tag.Name, [textString(Tag.NameValue, 'n2')]),
      textString(Tag.ObjectGroup, 'g'),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 192),
      dateTime(Tag.ActivationDate, 1_700_000_123n),
      // Wrong item types are not indexed rather than guessed.
      textString(Tag.CryptographicLength, '256'),
      textString(Tag.InitialDate, 'yesterday'),
    ]);
    expect(d).toMatchObject({
      names: ['n1', 'n2'],
      groups: ['g'],
      cryptographicAlgorithm: CryptographicAlgorithm.AES,
      cryptographicLength: 192,
      activationDate: 1_700_000_123,
      initialDate: null,
    });
  });

  it('stores them in the objects row', async () => {
    const store = await openSqliteStore(':memory:');
    try {
      await store.insert(makeStored({ uid: 'cols', attributes: [integer(Tag.CryptographicLength, 128), dateTime(Tag.InitialDate, 1_600_000_000n)] }));
      const row = store.database.prepare('SELECT cryptographic_length, initial_date, cryptographic_algorithm FROM objects WHERE uid = ?').get('cols');
      expect(row).toEqual({ cryptographic_length: 128, initial_date: 1_600_000_000, cryptographic_algorithm: null });
    } finally {
      await store.close();
    }
  });
});

describe('SQLite store: Locate queries use indexes', () => {
  it('with 1 000 objects, name, type/state, group and algorithm lookups search indexes, never scan the objects table', async () => {
    const store = await openSqliteStore(':memory:');
    try {
      for (let i = 0; i < 1000; i++) {
        await store.insert(planObject(i));
      }
      const cases: Array<[Parameters<typeof store.explainScan>[1], RegExp]> = [
        [{ name: 'name-17' }, /SEARCH l USING COVERING INDEX object_names_by_name \(tenant=\? AND name=\?\)/],
        [{ name: 'name-17', objectType: ObjectType.SymmetricKey, states: [State.Active, State.PreActive] }, /object_names_by_name/],
        [{ objectType: ObjectType.SymmetricKey, states: [State.Active] }, /SEARCH o USING INDEX objects_by_type_state \(tenant=\? AND object_type=\? AND state=\?\)/],
        [{ objectType: ObjectType.SymmetricKey, states: [State.Active, State.Deactivated] }, /objects_by_type_state/],
        [{ objectType: ObjectType.SymmetricKey }, /objects_by_type_state/],
        [{ states: [State.Active] }, /objects_by_state/],
        [{}, /objects_by_state/],
        [{ objectGroup: 'group-3' }, /SEARCH l USING COVERING INDEX object_groups_by_group/],
        [{ objectGroup: 'group-3', name: 'name-13' }, /object_names_by_name/],
        [{ cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 256 }, /objects_by_algorithm/],
      ];
      for (const [filter, want] of cases) {
        const plan = store.explainScan('tenant-a', filter);
        const text = plan.join('\n');
        expect(text, JSON.stringify(filter)).toMatch(want);
        // A SCAN line is a full pass over a table or index.
        expect(plan.filter((l) => /^SCAN\b/.test(l)), JSON.stringify(filter)).toEqual([]);
        // Every walk follows the creation order of an index: no sort of all matches per page.
        expect(text, JSON.stringify(filter)).not.toMatch(/TEMP B-TREE/);
      }
      // And the answers agree with a brute-force filter.
      const got: string[] = [];
      for await (const o of store.scan('tenant-a', { objectType: ObjectType.SymmetricKey, states: [State.Active, State.Compromised] })) got.push(o.uid);
      const want = activeOrCompromisedKeysOfTenantA(1000);
      expect(got).toEqual(want);
      expect(want.length).toBeGreaterThan(SCAN_PAGE_SIZE);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite store: every index of objects earns its write', () => {
  // An update reads an object's Name / Object Group rows to write only what changed: by the
  // object's key, never a walk of the tenant's by-value index (bench/scale at 1 M objects).
  it('an update reads the object\'s lookup rows through the by-uid index', async () => {
    const store = await openSqliteStore(':memory:');
    try {
      for (let i = 0; i < 50; i++) await store.insert(planObject(i));
      for (const [table, column] of [['object_names', 'name'], ['object_groups', 'grp']] as const) {
        const plan = (store.database.prepare(`EXPLAIN QUERY PLAN ${lookupValuesSql(table, column)}`).all('tenant-a', 'p1') as { detail: string }[]).map((r) => r.detail).join('\n');
        expect(plan).toMatch(new RegExp(`SEARCH ${table} USING INDEX ${table}_by_uid \\(tenant=\\? AND uid=\\?\\)`));
      }
    } finally {
      await store.close();
    }
  });

  // Each Create writes one entry per index (issue 12 §1: durable Creates): an index no
  // statement of the store uses is a cost without a reader (migration 14 dropped three).
  it('each index on objects shows up in the query plan of a statement the store runs', async () => {
    const store = await openSqliteStore(':memory:');
    try {
      for (let i = 0; i < 200; i++) await store.insert(planObject(i));
      const db = store.database;
      const filters: Array<Parameters<typeof store.explainScan>[1]> = [
        {}, { states: [State.Active] }, { objectType: ObjectType.SymmetricKey }, { objectType: ObjectType.SymmetricKey, states: [State.Active] },
        { cryptographicAlgorithm: CryptographicAlgorithm.AES }, { cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 256 },
        { name: 'name-17' }, { objectGroup: 'group-3' }, { includeDestroyed: true },
      ];
      const plans = filters.flatMap((f) => store.explainScan('tenant-a', f));
      // The fixed statements of sqlite.ts: get / update / delete by key, the next creation order.
      for (const [sql, params] of [
        ['SELECT revision FROM objects WHERE tenant = ? AND uid = ?', ['tenant-a', 'p1']],
        ['SELECT COALESCE(MAX(created_seq), 0) + 1 FROM objects', []],
      ] as const) {
        plans.push(...(db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail));
      }
      const text = plans.join('\n');
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects'").all() as { name: string }[]).map((r) => r.name);
      // The primary key (tenant, uid) and UNIQUE created_seq are SQLite's automatic indexes.
      expect(indexes.filter((n) => n.startsWith('sqlite_autoindex_objects_'))).toHaveLength(2);
      expect(indexes.filter((n) => !n.startsWith('sqlite_autoindex_')).sort()).toEqual(['objects_by_algorithm', 'objects_by_state', 'objects_by_type_state']);
      for (const name of indexes) expect(text, name).toContain(name);
    } finally {
      await store.close();
    }
  });

  it('migration 14 drops the three unused indexes of a version 13 database and keeps every row findable', async () => {
    const path = join(tempDir(), 'v13.db');
    const v12 = await openSqliteStore(path, MIGRATIONS.slice(0, 13));
    const objs = Array.from({ length: 20 }, (_, i) => planObject(i));
    for (const o of objs) await v12.insert(o);
    const indexNames = (db: Database.Database) => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    expect(indexNames(v12.database)).toEqual(expect.arrayContaining(['objects_by_activation_date', 'objects_by_initial_date', 'objects_by_tenant_seq']));
    await v12.close();
    const store = await openSqliteStore(path);
    try {
      const names = indexNames(store.database);
      for (const gone of ['objects_by_activation_date', 'objects_by_initial_date', 'objects_by_tenant_seq']) expect(names).not.toContain(gone);
      expect(names).toEqual(expect.arrayContaining(['objects_by_algorithm', 'objects_by_state', 'objects_by_type_state']));
      for (const o of objs) expect(await store.get(o.tenant, o.uid)).toEqual(o);
      const got: string[] = [];
      for await (const o of store.scan('tenant-a', { objectType: ObjectType.SymmetricKey, states: [State.Active, State.Compromised] })) got.push(o.uid);
      expect(got).toEqual(activeOrCompromisedKeysOfTenantA(20));
      expect(store.database.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    } finally {
      await store.close();
    }
  });
});

describe('SQLite store: group commit', () => {
  it('a write that fails after changing rows is rolled back alone; the other writes of its batch are stored whole', async () => {
    const store = await openSqliteStore(join(tempDir(), 'batch.db'));
    try {
      // A write that fails half-way: its objects row goes in, then its Name row is refused.
      store.database.exec("CREATE TRIGGER poison BEFORE INSERT ON object_names WHEN NEW.name = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned name'); END;");
      const named = (n: string) => structure(Tag.Name, [textString(Tag.NameValue, n)]);
      const objs = Array.from({ length: 9 }, (_, i) => makeStored({ uid: `b${i}`, attributes: [named(i === 4 ? 'poison' : `name-${i}`)] }));
      const results = await Promise.allSettled(objs.map((o) => store.insert(o)));
      expect(results.map((r) => r.status)).toEqual(objs.map((_, i) => (i === 4 ? 'rejected' : 'fulfilled')));
      expect(String((results[4] as PromiseRejectedResult).reason)).toContain('poisoned name');
      expect(await store.get('tenant-a', 'b4')).toBeUndefined();
      for (const i of [0, 1, 2, 3, 5, 6, 7, 8]) {
        expect(await store.get('tenant-a', `b${i}`)).toEqual(objs[i]);
        const found: string[] = [];
        for await (const o of store.scan('tenant-a', { name: `name-${i}` })) found.push(o.uid);
        expect(found).toEqual([`b${i}`]);
      }
      // Alone in its batch, the same failure rejects it and leaves nothing either.
      await expect(store.insert(makeStored({ uid: 'alone', attributes: [named('poison')] }))).rejects.toThrow('poisoned name');
      expect(await store.get('tenant-a', 'alone')).toBeUndefined();
      // The next batch commits normally.
      await Promise.all([store.insert(makeStored({ uid: 'after-1' })), store.insert(makeStored({ uid: 'after-2' }))]);
      expect(await store.get('tenant-a', 'after-2')).toBeDefined();
    } finally {
      await store.close();
    }
  });
});

describe('SQLite store: key material at rest', () => {
  it('a known 32-byte key written through the repository never appears in the database files', async () => {
    const dir = tempDir();
    const dbPath = join(dir, 'secret.db');
    const store = await openSqliteStore(dbPath);
    const l1 = await SoftwareL1Provider.open(join(dir, 'l1.key'));
    const protector = await createInterimProtector(l1, store);
    const repo = createObjectRepository(store, protector, { tenant: 't', service: 's' });
    // A recognisable key: any accidental cleartext copy (value, log of it, index) would match.
    const key = Buffer.from('0123456789abcdef'.repeat(2), 'latin1');
    const marker = 'findable-name-marker';
    await repo.create({
      uid: 'secret-1',
      objectType: ObjectType.SymmetricKey,
      state: State.Active,
      attributes: [structure(Tag.Name, [textString(Tag.NameValue, marker)])],
      value: structure(Tag.SymmetricKey, [
        structure(Tag.KeyBlock, [
          enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
          structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          integer(Tag.CryptographicLength, 256),
        ]),
      ]),
    });
    // Read the files while the WAL still holds the write (before close checkpoints it), and after.
    const scanFiles = () => {
      const files = readdirSync(dir).filter((f) => f.startsWith('secret.db'));
      let markerSeen = false;
      for (const f of files) {
        const bytes = readFileSync(join(dir, f));
        expect(bytes.includes(key), `${f} holds the key in the clear`).toBe(false);
        expect(bytes.includes(key.subarray(0, 16)), `${f} holds half the key in the clear`).toBe(false);
        if (bytes.includes(Buffer.from(marker))) markerSeen = true;
      }
      return { files, markerSeen };
    };
    const during = scanFiles();
    expect(during.files).toContain('secret.db-wal');
    // The search works: the (non-secret) name written in the same transaction is found.
    expect(during.markerSeen).toBe(true);
    const loaded = await repo.load('secret-1');
    expect(loaded?.value).toBeDefined();
    await store.close();
    protector.close();
    const after = scanFiles();
    expect(after.markerSeen).toBe(true);
    expect(existsSync(join(dir, 'secret.db'))).toBe(true);
  });
});

describe('SQLite store: opening', () => {
  it('creates the database directory, private to the server user', async () => {
    const dir = join(tempDir(), 'nested', 'data');
    const store = await openSqliteStore(join(dir, 'kms.db'));
    await store.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('names the path when the database cannot be opened', async () => {
    const dir = tempDir();
    // A directory where the database file should be.
    mkdirSync(join(dir, 'is-a-dir.db'));
    await expect(openSqliteStore(join(dir, 'is-a-dir.db'))).rejects.toThrow(/is-a-dir\.db/);
  });
});
