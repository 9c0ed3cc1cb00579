// The governance change log (issue 10 §2, migration 6) on a real SQLite file: every mutation
// appends its change in its own transaction — one never commits without the other — with a
// seq that only grows, pruned to the retention.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { GovernanceStore, GovernanceError } from '../../src/store/governance.ts';

let dir: string;
let store: SqliteStore;
async function open(retention?: number): Promise<GovernanceStore> {
  dir = mkdtempSync(join(tmpdir(), 'openkcm-changelog-'));
  store = await openSqliteStore(join(dir, 'cmk.db'));
  return new GovernanceStore(store.database, retention !== undefined ? { changeRetention: retention } : {});
}
afterEach(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const FP = 'ab'.repeat(32);

describe('governance change log', () => {
  it('every kind of mutation appends one change describing the record after it', async () => {
    const g = await open();
    const kinds: string[] = [];
    const step = (f: () => unknown) => {
      const before = g.changeBounds().latest;
      f();
      const got = g.changesAfter(before, Number.MAX_SAFE_INTEGER, 100);
      for (const c of got) kinds.push(`${c.entity}.${c.op}${c.tenant ? `@${c.tenant}` : ''}`);
      return got;
    };
    step(() => g.createTenant({ id: 'acme', regions: ['eu', 'us'] }));
    step(() => g.createService({ tenant: 'acme', id: 'web' }));
    step(() => g.createService({ tenant: 'acme', id: 'batch' }));
    step(() => g.createRole({ name: 'reader', operations: ['Get'] }));
    const [added] = step(() => g.addIdentity({ tenant: 'acme', service: 'web', role: 'app', match: { kind: 'fingerprint', sha256: FP }, certSerial: '0A' }));
    step(() => g.revokeIdentity({ certSerial: '0a' }));
    step(() => g.removeIdentity((added as { value: { id: string } }).value.id));
    step(() => g.addGrant({ tenant: 'acme', fromService: 'web', toService: 'batch', operations: ['Get'] }));
    step(() => g.removeGrant({ tenant: 'acme', fromService: 'web', toService: 'batch' }));
    step(() => g.setL1Pointer({ tenant: 'acme', provider: 'aws-kms', config: { keyId: 'k' } }));
    step(() => g.setTenantState('acme', 'sealed'));
    step(() => g.setTenantState('acme', 'active'));
    step(() => g.requestRotation('acme', 'web'));
    step(() => g.setTenantState('acme', 'killed'));
    step(() => g.removeL1Pointer('acme'));
    expect(kinds).toEqual([
      'tenant.put@acme', 'service.put@acme', 'service.put@acme', 'role.put', 'identity.put@acme', 'identity.put@acme', 'identity.delete@acme',
      'grant.put@acme', 'grant.delete@acme', 'l1.put@acme', 'tenant.put@acme', 'tenant.put@acme', 'rotation.put@acme', 'tenant.put@acme', 'l1.put@acme',
    ]);
    const all = g.changesAfter(0, Number.MAX_SAFE_INTEGER, 100);
    expect(all.map((c) => c.seq)).toEqual(all.map((_c, i) => i + 1));
    expect(all[0]).toMatchObject({ entity: 'tenant', value: { id: 'acme', state: 'active', regions: ['eu', 'us'] } });
    expect(all[5]).toMatchObject({ entity: 'identity', value: { revoked: true, certSerial: 'A' } });
    expect(all.at(-1)).toMatchObject({ entity: 'l1', value: { state: 'removed', provider: 'aws-kms' } });
    // Region filter: a region not pinned sees the role only.
    expect(g.changesAfter(0, 1000, 100, 'ap').map((c) => c.entity)).toEqual(['role']);
    expect(g.changesAfter(0, 1000, 100, 'eu')).toHaveLength(all.length);
  });

  it('a refused mutation appends nothing', async () => {
    const g = await open();
    g.createTenant({ id: 'acme' });
    const n = g.changeBounds().latest;
    expect(() => g.createTenant({ id: 'acme' })).toThrow(GovernanceError);
    expect(() => g.createService({ tenant: 'nope', id: 'web' })).toThrow(GovernanceError);
    expect(() => g.removeL1Pointer('acme')).toThrow(GovernanceError);
    expect(() => g.createTenant({ id: 'x', regions: ['Not A Region'] })).toThrow(/region/);
    expect(() => g.createRole({ name: 'core', operations: ['Get'] })).toThrow(/reserved/);
    expect(g.changeBounds().latest).toBe(n);
  });

  it('when its change cannot be written, the mutation does not happen either', async () => {
    const g = await open();
    g.createTenant({ id: 'acme' });
    // Make the log refuse writes: the mutation's transaction must roll back as a whole.
    store.database.exec("CREATE TRIGGER refuse BEFORE INSERT ON gov_changes BEGIN SELECT RAISE(ABORT, 'log refused'); END;");
    expect(() => g.createTenant({ id: 'beta' })).toThrow(/log refused/);
    expect(() => g.setTenantState('acme', 'killed')).toThrow(/log refused/);
    expect(() => g.createService({ tenant: 'acme', id: 'web' })).toThrow(/log refused/);
    expect(g.getTenant('beta')).toBeUndefined();
    expect(g.getTenant('acme')!.state).toBe('active');
    expect(g.getService('acme', 'web')).toBeUndefined();
    expect(g.tenantRegions('beta')).toEqual([]);
    store.database.exec('DROP TRIGGER refuse');
    expect(g.changeBounds().latest).toBe(1);
    g.createTenant({ id: 'beta' });
    expect(g.changeBounds().latest).toBe(2);
  });

  it('the log keeps the newest `changeRetention` changes; seq never goes back, also across a reopen', async () => {
    const g = await open(3);
    g.createTenant({ id: 'acme' });
    for (let i = 0; i < 6; i++) g.createService({ tenant: 'acme', id: `s${i}` });
    expect(g.changeBounds()).toEqual({ latest: 7, oldest: 5 });
    expect(g.changesAfter(0, 7, 100).map((c) => c.seq)).toEqual([5, 6, 7]);
    await store.close();
    store = await openSqliteStore(join(dir, 'cmk.db'));
    const again = new GovernanceStore(store.database, { changeRetention: 3 });
    again.createService({ tenant: 'acme', id: 'later' });
    expect(again.changeBounds()).toEqual({ latest: 8, oldest: 6 });
  });

  it('listeners hear of a commit after it is committed, coalesced', async () => {
    const g = await open();
    let calls = 0;
    let seenInside = -1;
    g.onChange(() => { calls++; seenInside = g.changeBounds().latest; });
    g.createTenant({ id: 'acme' });
    g.createService({ tenant: 'acme', id: 'web' });
    expect(calls).toBe(0); // never inside the mutation
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1);
    expect(seenInside).toBe(2);
  });

  it('a process killed (SIGKILL) in the middle of mutations leaves every mutation with its change and no change without it', async () => {
    await open();
    await store.close();
    const file = join(dir, 'cmk.db');
    const src = fileURLToPath(new URL('../../src/', import.meta.url));
    // A writer that mutates as fast as it can until it is killed.
    const script = `
      const { openSqliteStore } = await import(${JSON.stringify(src + 'store/sqlite.ts')});
      const { GovernanceStore } = await import(${JSON.stringify(src + 'store/governance.ts')});
      const s = await openSqliteStore(${JSON.stringify(file)});
      const g = new GovernanceStore(s.database);
      process.stdout.write('ready\\n');
      for (let i = 0; ; i++) {
        g.createTenant({ id: 't' + i, regions: ['eu'] });
        g.setTenantState('t' + i, i % 2 ? 'sealed' : 'killed');
      }`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) res(); });
      child.on('exit', (code) => rej(new Error(`writer exited with ${code}`)));
    });
    await new Promise((r) => setTimeout(r, 700));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    store = await openSqliteStore(file);
    const g = new GovernanceStore(store.database);
    const tenants = g.listTenants();
    expect(tenants.length).toBeGreaterThan(10);
    const changes = g.changesAfter(0, Number.MAX_SAFE_INTEGER, 1_000_000);
    // Exactly the committed mutations: one create and at most one state change per tenant…
    const byTenant = new Map<string, typeof changes>();
    for (const c of changes) byTenant.set(c.tenant!, [...(byTenant.get(c.tenant!) ?? []), c]);
    expect([...byTenant.keys()].sort()).toEqual(tenants.map((t) => t.id).sort());
    for (const t of tenants) {
      const mine = byTenant.get(t.id)!;
      expect(mine[0]).toMatchObject({ entity: 'tenant', value: { state: 'active' } });
      // …and the last change says what the row says.
      expect((mine.at(-1) as { value: { state: string } }).value.state).toBe(t.state);
      expect(mine.length).toBe(t.state === 'active' ? 1 : 2);
    }
    expect(changes.map((c) => c.seq)).toEqual(changes.map((_c, i) => i + 1));
  }, 60_000);
});
