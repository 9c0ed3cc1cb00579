// The contract of the hierarchy persistence (src/store/types.ts HierarchyStore and
// SystemBlobStore) that every VaultStore backend passes (DESIGN.md §6.6): SQLite in
// sqlite-hierarchy.test.ts, PostgreSQL in postgres.test.ts. `pair()` opens two stores on ONE
// database, as two server processes or two core nodes would: the races between them are
// decided by the database, exactly one writer wins.
import { afterEach, describe, expect, it } from 'vitest';
import type { VaultStore } from '../../src/store/types.ts';
import { makeStored } from './contract.ts';

export interface VaultPair {
  a: VaultStore;
  b: VaultStore;
  dispose?: () => Promise<void>;
}

const blob = (s: string) => Buffer.from(s);

export function runHierarchyStoreContract(label: string, pair: () => Promise<VaultPair>): void {
  describe(`HierarchyStore contract: ${label}`, () => {
    let p: VaultPair | undefined;
    const open = async () => (p = await pair());
    afterEach(async () => {
      if (p === undefined) return;
      await p.a.close();
      await p.b.close();
      await p.dispose?.();
      p = undefined;
    });

    it('tenant L1 pointers: upsert, read back from the other store, listed with L2 tenants', async () => {
      const { a, b } = await open();
      expect(await a.getTenantL1('acme')).toBeUndefined();
      await a.putTenantL1('acme', '{"provider":"software"}', 'active');
      expect(await b.getTenantL1('acme')).toMatchObject({ tenant: 'acme', providerRef: '{"provider":"software"}', state: 'active' });
      await b.putTenantL1('acme', '{"provider":"software"}', 'disabled');
      expect((await a.getTenantL1('acme'))?.state).toBe('disabled');
      expect(await a.insertFirstL2Key('globex', blob('l2-globex'))).toBe(true);
      expect(await b.listHierarchyTenants()).toEqual(['acme', 'globex']);
    });

    it('first L2: exactly one of two stores racing on one database wins, both then read the same row', async () => {
      const { a, b } = await open();
      for (let i = 0; i < 5; i++) {
        const t = `race-${i}`;
        const results = await Promise.all([a.insertFirstL2Key(t, blob(`a-${i}`)), b.insertFirstL2Key(t, blob(`b-${i}`))]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const rows = await a.listL2Keys(t);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ tenant: t, version: 1, current: true });
        expect(rows[0]!.wrapped).toEqual(blob(results[0] ? `a-${i}` : `b-${i}`));
        expect(await b.listL2Keys(t)).toEqual(rows);
        expect(await b.insertFirstL2Key(t, blob('late'))).toBe(false);
      }
    });

    it('L3 versions: insert with the expected current, rotate, refuse a stale expectation, a taken version or a non-current L2', async () => {
      const { a, b } = await open();
      await a.insertFirstL2Key('t', blob('l2'));
      expect(await a.insertL3Key({ tenant: 't', service: 's', version: 1, l2Version: 1, wrapped: blob('v1') }, undefined)).toBe(true);
      // The service already has an L3: "no L3 yet" is a stale expectation.
      expect(await b.insertL3Key({ tenant: 't', service: 's', version: 2, l2Version: 1, wrapped: blob('x') }, undefined)).toBe(false);
      expect(await b.insertL3Key({ tenant: 't', service: 's', version: 2, l2Version: 1, wrapped: blob('v2') }, 1)).toBe(true);
      expect(await a.insertL3Key({ tenant: 't', service: 's', version: 3, l2Version: 1, wrapped: blob('x') }, 1)).toBe(false);
      expect(await a.insertL3Key({ tenant: 't', service: 's', version: 2, l2Version: 1, wrapped: blob('x') }, 2)).toBe(false);
      expect(await a.insertL3Key({ tenant: 't', service: 's', version: 3, l2Version: 7, wrapped: blob('x') }, 2)).toBe(false);
      expect(await a.insertL3Key({ tenant: 't', service: 'other', version: 1, l2Version: 1, wrapped: blob('o1') }, undefined)).toBe(true);
      const rows = await b.listL3Keys('t', 's');
      expect(rows.map((r) => [r.version, r.current, r.wrapped.toString()])).toEqual([[1, false, 'v1'], [2, true, 'v2']]);
      expect((await a.listL3Keys('t')).map((r) => `${r.service}/${r.version}`)).toEqual(['other/1', 's/1', 's/2']);
      expect(await a.listL3Keys('nobody')).toEqual([]);
    });

    it('concurrent L3 rotation from two stores on one database: exactly one wins each round', async () => {
      const { a, b } = await open();
      await a.insertFirstL2Key('t', blob('l2'));
      let current: number | undefined;
      for (let round = 1; round <= 8; round++) {
        const results = await Promise.all([
          a.insertL3Key({ tenant: 't', service: 's', version: round, l2Version: 1, wrapped: blob(`a${round}`) }, current),
          b.insertL3Key({ tenant: 't', service: 's', version: round, l2Version: 1, wrapped: blob(`b${round}`) }, current),
        ]);
        expect(results.filter(Boolean), `round ${round}`).toHaveLength(1);
        current = round;
        const rows = await b.listL3Keys('t', 's');
        expect(rows.filter((r) => r.current).map((r) => r.version)).toEqual([round]);
        expect(rows.find((r) => r.version === round)!.wrapped).toEqual(blob(`${results[0] ? 'a' : 'b'}${round}`));
      }
      // Different version numbers from the same expectation: still one winner.
      const results = await Promise.all([
        a.insertL3Key({ tenant: 't', service: 's', version: 9, l2Version: 1, wrapped: blob('a9') }, 8),
        b.insertL3Key({ tenant: 't', service: 's', version: 10, l2Version: 1, wrapped: blob('b10') }, 8),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await a.listL3Keys('t', 's')).filter((r) => r.current)).toHaveLength(1);
    });

    it('L2 replacement re-wraps every L3 row and drops the old L2, or changes nothing', async () => {
      const { a, b } = await open();
      await a.insertFirstL2Key('t', blob('l2v1'));
      await a.insertL3Key({ tenant: 't', service: 's1', version: 1, l2Version: 1, wrapped: blob('s1v1') }, undefined);
      await a.insertL3Key({ tenant: 't', service: 's2', version: 1, l2Version: 1, wrapped: blob('s2v1') }, undefined);
      const l3s = [
        { service: 's1', version: 1, wrapped: blob('s1v1@2') },
        { service: 's2', version: 1, wrapped: blob('s2v1@2') },
      ];
      // Wrong current version, or an L3 row missing from the list: refused, nothing changed.
      expect(await b.replaceL2Key('t', 5, { version: 2, wrapped: blob('l2v2') }, l3s)).toBe(false);
      expect(await b.replaceL2Key('t', 1, { version: 2, wrapped: blob('l2v2') }, l3s.slice(0, 1))).toBe(false);
      expect((await a.listL2Keys('t')).map((r) => r.version)).toEqual([1]);
      expect((await a.listL3Keys('t')).map((r) => r.wrapped.toString())).toEqual(['s1v1', 's2v1']);
      expect(await b.replaceL2Key('t', 1, { version: 2, wrapped: blob('l2v2') }, l3s)).toBe(true);
      const l2 = await a.listL2Keys('t');
      expect(l2.map((r) => [r.version, r.current, r.wrapped.toString()])).toEqual([[2, true, 'l2v2']]);
      expect((await a.listL3Keys('t')).map((r) => [r.service, r.l2Version, r.wrapped.toString()])).toEqual([['s1', 2, 's1v1@2'], ['s2', 2, 's2v1@2']]);
      // An L3 under the replaced L2 is refused from now on.
      expect(await a.insertL3Key({ tenant: 't', service: 's3', version: 1, l2Version: 1, wrapped: blob('x') }, undefined)).toBe(false);
    });

    it('L2 replacement racing an L3 insert on the other store: never an L3 left under a deleted L2', async () => {
      const { a, b } = await open();
      for (let i = 0; i < 5; i++) {
        const t = `t${i}`;
        await a.insertFirstL2Key(t, blob('l2v1'));
        await a.insertL3Key({ tenant: t, service: 's1', version: 1, l2Version: 1, wrapped: blob('s1') }, undefined);
        const [replaced, added] = await Promise.all([
          a.replaceL2Key(t, 1, { version: 2, wrapped: blob('l2v2') }, [{ service: 's1', version: 1, wrapped: blob('s1@2') }]),
          b.insertL3Key({ tenant: t, service: 's2', version: 1, l2Version: 1, wrapped: blob('s2') }, undefined),
        ]);
        const l2 = (await a.listL2Keys(t)).map((r) => r.version);
        for (const r of await a.listL3Keys(t)) expect(l2, `${t}: L3 ${r.service} under L2 v${r.l2Version}`).toContain(r.l2Version);
        expect(replaced || added).toBe(true);
      }
    });

    it('wrapped values: paged in uid order, filtered by tenant, service and format; replaced by compare-and-set', async () => {
      const { a, b } = await open();
      const objs = [
        makeStored({ uid: 'u1', tenant: 'x', service: 's', wrappedValue: Buffer.from([1, 10]) }),
        makeStored({ uid: 'u2', tenant: 'x', service: 's', wrappedValue: Buffer.from([2, 20]) }),
        makeStored({ uid: 'u3', tenant: 'x', service: 'r', wrappedValue: Buffer.from([1, 30]) }),
        makeStored({ uid: 'u4', tenant: 'y', service: 's', wrappedValue: Buffer.from([1, 40]) }),
      ];
      const none = makeStored({ uid: 'u5', tenant: 'x', service: 's' });
      delete none.wrappedValue;
      for (const o of [...objs, none]) await a.insert(o);
      const ids = (rows: { uid: string }[]) => rows.map((r) => r.uid);
      expect(ids(await b.scanWrappedValues({ limit: 10 }))).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(ids(await b.scanWrappedValues({ limit: 2 }))).toEqual(['u1', 'u2']);
      expect(ids(await b.scanWrappedValues({ limit: 2, afterTenant: 'x', afterUid: 'u2' }))).toEqual(['u3', 'u4']);
      expect(ids(await b.scanWrappedValues({ limit: 2, afterTenant: 'x', afterUid: 'u3' }))).toEqual(['u4']);
      expect(ids(await b.scanWrappedValues({ tenant: 'x', limit: 2, afterUid: 'u2' }))).toEqual(['u3']);
      expect(ids(await b.scanWrappedValues({ tenant: 'x', limit: 10 }))).toEqual(['u1', 'u2', 'u3']);
      expect(ids(await b.scanWrappedValues({ tenant: 'x', service: 's', limit: 10 }))).toEqual(['u1', 'u2']);
      expect(ids(await b.scanWrappedValues({ format: 1, limit: 10 }))).toEqual(['u1', 'u3', 'u4']);
      const n = await b.replaceWrappedValues([
        { tenant: 'x', uid: 'u1', expected: Buffer.from([1, 10]), next: Buffer.from([2, 11]) },
        { tenant: 'x', uid: 'u3', expected: Buffer.from([1, 99]), next: Buffer.from([2, 31]) }, // stale
        { tenant: 'x', uid: 'u4', expected: Buffer.from([1, 40]), next: Buffer.from([2, 41]) }, // other tenant
      ]);
      expect(n).toBe(1);
      expect((await a.get('x', 'u1'))?.wrappedValue).toEqual(Buffer.from([2, 11]));
      expect((await a.get('x', 'u1'))?.revision).toBe(objs[0]!.revision);
      expect((await a.get('x', 'u3'))?.wrappedValue).toEqual(Buffer.from([1, 30]));
      expect((await a.get('y', 'u4'))?.wrappedValue).toEqual(Buffer.from([1, 40]));
      expect(await b.replaceWrappedValues([])).toBe(0);
    });

    it('wrapped values: one uid in several tenants (uids are per tenant) is paged once per tenant, and replaced in its tenant only', async () => {
      const { a, b } = await open();
      for (const [tenant, uid] of [['t2', 'same'], ['t1', 'same'], ['t1', 'a'], ['t2', 'b'], ['t3', 'same']] as const) {
        await a.insert(makeStored({ tenant, uid, wrappedValue: Buffer.from(`${tenant}:${uid}`) }));
      }
      const seen: string[] = [];
      let after: { tenant: string; uid: string } | undefined;
      for (;;) {
        const rows = await b.scanWrappedValues({ limit: 1, ...(after ? { afterTenant: after.tenant, afterUid: after.uid } : {}) });
        if (rows.length === 0) break;
        seen.push(rows[0]!.wrappedValue.toString());
        after = { tenant: rows[0]!.tenant, uid: rows[0]!.uid };
      }
      expect(seen).toEqual(['t1:a', 't1:same', 't2:b', 't2:same', 't3:same']);
      expect((await b.scanWrappedValues({ tenant: 't2', afterUid: 'b', limit: 10 })).map((r) => r.wrappedValue.toString())).toEqual(['t2:same']);
      // Without the last row's tenant a scan over every tenant cannot resume: refused, not restarted.
      await expect(b.scanWrappedValues({ afterUid: 'same', limit: 1 })).rejects.toThrow(/afterTenant/);
      expect(await b.replaceWrappedValues([{ tenant: 't2', uid: 'same', expected: blob('t2:same'), next: blob('t2:next') }])).toBe(1);
      expect((await a.get('t2', 'same'))?.wrappedValue).toEqual(blob('t2:next'));
      expect((await a.get('t1', 'same'))?.wrappedValue).toEqual(blob('t1:same'));
      expect((await a.get('t3', 'same'))?.wrappedValue).toEqual(blob('t3:same'));
    });

    it('system blobs: the first of two stores racing wins, and delete removes it', async () => {
      const { a, b } = await open();
      const [ra, rb] = await Promise.all([a.putSystemBlobIfAbsent('dek', blob('from-a')), b.putSystemBlobIfAbsent('dek', blob('from-b'))]);
      expect(ra).toEqual(rb);
      expect(await a.getSystemBlob('dek')).toEqual(ra);
      expect(await b.putSystemBlobIfAbsent('dek', blob('later'))).toEqual(ra);
      expect(await b.deleteSystemBlob('dek')).toBe(true);
      expect(await a.deleteSystemBlob('dek')).toBe(false);
      expect(await a.getSystemBlob('dek')).toBeUndefined();
    });

    it('two stores update one object from the same revision (a usage counter, a state change): exactly one wins each round', async () => {
      const { a, b } = await open();
      const o = makeStored({ tenant: 'race' });
      await a.insert(o);
      for (let round = 0; round < 6; round++) {
        const [x, y] = await Promise.all([a.get('race', o.uid), b.get('race', o.uid)]);
        x!.state = 2;
        y!.state = 3;
        const results = await Promise.allSettled([a.update(x!), b.update(y!)]);
        expect(results.filter((r) => r.status === 'fulfilled'), `round ${round}`).toHaveLength(1);
        const stored = (await a.get('race', o.uid))!;
        expect(stored.revision).toBe(round + 1);
        expect(stored.state).toBe(results[0]!.status === 'fulfilled' ? 2 : 3);
      }
    });

    it('an object written by one store is read, updated and locatable through the other at once', async () => {
      const { a, b } = await open();
      const o = makeStored({ tenant: 'n' });
      await a.insert(o);
      const got = await b.get('n', o.uid);
      expect(got).toEqual(o);
      await b.update(got!);
      const again = (await a.get('n', o.uid))!;
      expect(again.revision).toBe(1);
      const seen: string[] = [];
      for await (const x of a.scan('n', {})) seen.push(x.uid);
      expect(seen).toEqual([o.uid]);
    });
  });
}
