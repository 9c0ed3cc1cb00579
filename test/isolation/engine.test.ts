// Adversarial isolation through the real engine (issue 7 "Tenant isolation", DESIGN.md §3):
// every registered operation is tried with identifiers of foreign objects (real ones of
// another tenant or another service, and guessed ones), by attackers of every role. A
// foreign object must answer exactly like a missing one, stay unchanged, never appear in
// Locate (nor in its count), and no answer may carry a foreign tenant's, service's or
// object's name.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { integer, structure, textString, enumeration } from '../../src/kmip/items.ts';
import { NameType } from '../../src/ttlv/generated/enumerations.ts';
import { operationName } from '../../src/server/executor.ts';
import {
  ALPHA, BETA, V14, V21, call, createKey, message, openWorld, probePayload, shape, uidOf, type World,
} from './world.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';

// KMIP 2.x answers a missing object with Object Not Found (1.x: Item Not Found, NOTES.md §2).
const NOT_FOUND = ResultReason.ObjectNotFound;
/** Operations that take no object identifier: they may succeed; their answer must still not depend on the foreign id. */
const NOT_ADDRESSING_OBJECTS: ReadonlySet<number> = new Set([
  Operation.DiscoverVersions, Operation.Query, Operation.Locate, Operation.Log, Operation.Interop, Operation.RNGRetrieve,
  Operation.RNGSeed, Operation.Hash, Operation.CreateKeyPair, Operation.Create, Operation.Register,
]);
let w: World;
let alphaPayKey: string;
let alphaHrKey: string;
let betaKey: string;
const SECRET_WORDS = ['alpha-payroll-key', 'alpha-hr-key', 'beta-web-key', 'grp-alpha-pay', 'grp-alpha-hr', 'grp-beta'];

beforeAll(async () => {
  w = await openWorld();
  alphaPayKey = await createKey(w, w.who.alphaPayApp, 'alpha-payroll-key', 'grp-alpha-pay');
  alphaHrKey = await createKey(w, w.who.alphaHrApp, 'alpha-hr-key', 'grp-alpha-hr');
  betaKey = await createKey(w, w.who.betaApp, 'beta-web-key', 'grp-beta');
});
afterAll(async () => { await w.close(); });

/** What the owner sees of an object: state and attributes, to prove a probe changed nothing. */
async function snapshot(uid: string, owner = w.who.alphaAdmin): Promise<string> {
  const r = await call(w, owner, Operation.GetAttributes, [textString(Tag.UniqueIdentifier, uid)]);
  expect(r.resultStatus).toBe(ResultStatus.Success);
  return JSON.stringify(r.payload, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function noForeignWords(bytes: Buffer, words: readonly string[]) {
  const text = bytes.toString('latin1');
  for (const word of words) expect(text, `response leaks "${word}"`).not.toContain(word);
}

describe('tenant isolation through the engine', () => {
  it('every registered operation answers a foreign object exactly as a missing one, and changes nothing', async () => {
    const ops = [...w.rt.engine.operations.keys()].filter((op) => op !== Operation.Create && op !== Operation.Register);
    const victims = [
      { uid: alphaPayKey, owner: w.who.alphaAdmin, attackers: [w.who.betaAdmin, w.who.betaApp, w.who.alphaHrApp] },
      { uid: betaKey, owner: w.who.betaAdmin, attackers: [w.who.alphaAdmin, w.who.alphaPayApp, w.who.alphaReader] },
    ];
    let probes = 0;
    for (const v of victims) {
      const before = await snapshot(v.uid, v.owner);
      for (const attacker of v.attackers) {
        for (const op of ops) {
          for (const version of [V21, V14]) {
            // A guessed identifier of the same form (UUID) as the real one.
            const missing = randomUUID();
            const real = await call(w, attacker, op, probePayload(op, v.uid), version);
            const none = await call(w, attacker, op, probePayload(op, missing), version);
            expect(shape(real, v.uid), `${operationName(op)} v${version.major}.${version.minor}`).toBe(shape(none, missing));
            if (!NOT_ADDRESSING_OBJECTS.has(op)) expect(real.resultStatus, `${operationName(op)} must not succeed on a foreign object`).not.toBe(ResultStatus.Success);
            noForeignWords(real.bytes, SECRET_WORDS);
            probes++;
          }
        }
      }
      expect(await snapshot(v.uid, v.owner), 'a probe changed the foreign object').toBe(before);
    }
    expect(probes).toBeGreaterThan(100);
  });

  it('the probes reach the object for its owner (so the refusals above are not payload errors)', async () => {
    const checked: string[] = [];
    for (const op of [Operation.Get, Operation.GetAttributes, Operation.GetAttributeList, Operation.AddAttribute, Operation.SetAttribute,
      Operation.ModifyAttribute, Operation.DeleteAttribute, Operation.Activate, Operation.Revoke, Operation.Destroy]) {
      if (!w.rt.engine.operations.has(op)) continue;
      const uid = await createKey(w, w.who.alphaAdmin, `owner-probe-${op}`, 'grp-owner');
      if (op === Operation.Revoke) {
        expect((await call(w, w.who.alphaAdmin, Operation.Activate, [textString(Tag.UniqueIdentifier, uid)])).resultStatus).toBe(ResultStatus.Success);
      }
      if (op === Operation.ModifyAttribute || op === Operation.DeleteAttribute) {
        expect((await call(w, w.who.alphaAdmin, Operation.SetAttribute, probePayload(Operation.SetAttribute, uid))).resultStatus).toBe(ResultStatus.Success);
        if (op === Operation.DeleteAttribute) {
          expect((await call(w, w.who.alphaAdmin, Operation.ModifyAttribute, probePayload(Operation.ModifyAttribute, uid))).resultStatus).toBe(ResultStatus.Success);
        }
      }
      const r = await call(w, w.who.alphaAdmin, op, probePayload(op, uid));
      expect(r.resultStatus, `${operationName(op)}: ${r.resultMessage}`).toBe(ResultStatus.Success);
      checked.push(operationName(op));
    }
    expect(checked.length).toBeGreaterThanOrEqual(8);
  });

  it('guessed identifiers (sequential, UUIDs, placeholders of another tenant) reveal nothing either', async () => {
    const a = await call(w, w.who.betaApp, Operation.Get, [textString(Tag.UniqueIdentifier, '1')]);
    const b = await call(w, w.who.betaApp, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)]);
    expect(a.resultReason).toBe(NOT_FOUND);
    expect(b.resultReason).toBe(NOT_FOUND);
    expect(shape(b, alphaPayKey)).toBe(shape(a, '1'));
  });

  it('Locate never returns a foreign object and counts after filtering', async () => {
    const located = async (who: World['who'][keyof World['who']], attrs: ReturnType<typeof textString>[] = [], max?: number) => {
      const payload = [...(max !== undefined ? [integer(Tag.MaximumItems, max)] : []), structure(Tag.Attributes, attrs)];
      const r = await call(w, who, Operation.Locate, payload);
      expect(r.resultStatus, r.resultMessage).toBe(ResultStatus.Success);
      const uids = r.payload!.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value as string);
      const count = r.payload!.value.find((c) => c.tag === Tag.LocatedItems)?.value as number | undefined;
      noForeignWords(r.bytes, SECRET_WORDS.filter((s) => !s.includes('beta')));
      return { uids, count };
    };
    const beta = await located(w.who.betaApp, [], 1);
    expect(beta.uids).toEqual([betaKey]);
    expect(beta.count).toBe(1);
    const betaAll = await located(w.who.betaAdmin);
    expect(betaAll.uids).toEqual([betaKey]);
    // By a foreign object's name and group: nothing.
    const byName = await call(w, w.who.betaApp, Operation.Locate, [structure(Tag.Attributes, [
      structure(Tag.Name, [textString(Tag.NameValue, 'alpha-payroll-key'), enumeration(Tag.NameType, NameType.UninterpretedTextString)])])]);
    expect(byName.payload!.value.filter((c) => c.tag === Tag.UniqueIdentifier)).toEqual([]);
    const byGroup = await call(w, w.who.alphaHrApp, Operation.Locate, [integer(Tag.MaximumItems, 10), structure(Tag.Attributes, [textString(Tag.ObjectGroup, 'grp-alpha-pay')])]);
    expect(byGroup.payload!.value.filter((c) => c.tag === Tag.UniqueIdentifier)).toEqual([]);
    expect(byGroup.payload!.value.find((c) => c.tag === Tag.LocatedItems)?.value).toBe(0);
    // Within alpha: the HR service sees its own key only; the tenant admin sees both services, never beta.
    const hr = await located(w.who.alphaHrApp, [], 5);
    expect(hr.uids).toEqual([alphaHrKey]);
    expect(hr.count).toBe(1);
    const admin = await call(w, w.who.alphaAdmin, Operation.Locate, [structure(Tag.Attributes, [])]);
    const adminUids = admin.payload!.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value);
    expect(adminUids).toContain(alphaPayKey);
    expect(adminUids).toContain(alphaHrKey);
    expect(adminUids).not.toContain(betaKey);
  });

  it('the tenant and service a caller claims are ignored: they come from the certificate\'s identity', async () => {
    const liar = { ...w.who.betaApp, tenant: ALPHA.tenant, service: ALPHA.pay };
    const r = await call(w, liar, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)]);
    expect(r.resultReason).toBe(NOT_FOUND);
    const created = uidOf(await call(w, liar, Operation.Create, (await import('./world.ts')).createPayload('liar-key', 'grp-beta-liar')));
    expect((await w.rt.store.get(BETA.tenant, created))?.service).toBe(BETA.web);
    expect(await w.rt.store.get(ALPHA.tenant, created)).toBeUndefined();
  });
});

describe('roles and grants', () => {
  it('a read-only identity cannot Create (PermissionDenied) but can Get its service\'s objects', async () => {
    const r = await call(w, w.who.alphaReader, Operation.Create, (await import('./world.ts')).createPayload('ro-key', 'grp-ro'));
    expect(r.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(r.resultReason).toBe(ResultReason.PermissionDenied);
    expect(r.resultMessage).toBe('not permitted: role read-only does not allow Create');
    expect((await call(w, w.who.alphaReader, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)])).resultStatus).toBe(ResultStatus.Success);
    expect((await call(w, w.who.alphaReader, Operation.Destroy, [textString(Tag.UniqueIdentifier, alphaPayKey)])).resultReason).toBe(ResultReason.PermissionDenied);
  });

  it('an auditor runs no KMIP operation at all', async () => {
    const r = await call(w, w.who.alphaAuditor, Operation.DiscoverVersions, []);
    expect(r.resultReason).toBe(ResultReason.PermissionDenied);
  });

  it('an app identity of service A reaches service B\'s object only through a grant, and only for the granted operations', async () => {
    const get = () => call(w, w.who.alphaHrApp, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)]);
    const attrs = () => call(w, w.who.alphaHrApp, Operation.GetAttributes, [textString(Tag.UniqueIdentifier, alphaPayKey)]);
    expect((await get()).resultReason).toBe(NOT_FOUND);
    w.rt.governance.addGrant({ tenant: ALPHA.tenant, fromService: ALPHA.pay, toService: ALPHA.hr, operations: ['Get'] });
    try {
      expect((await get()).resultStatus).toBe(ResultStatus.Success);
      expect((await attrs()).resultReason).toBe(NOT_FOUND);
      // The grant is one-way: pay does not see hr's key.
      expect((await call(w, w.who.alphaPayApp, Operation.Get, [textString(Tag.UniqueIdentifier, alphaHrKey)])).resultReason).toBe(NOT_FOUND);
      // And it never crosses tenants.
      expect((await call(w, w.who.betaApp, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)])).resultReason).toBe(NOT_FOUND);
    } finally {
      w.rt.governance.removeGrant({ tenant: ALPHA.tenant, fromService: ALPHA.pay, toService: ALPHA.hr });
    }
    expect((await get()).resultReason).toBe(NOT_FOUND);
  });

  it('a role limited to an object group reaches only that group', async () => {
    w.rt.governance.createRole({ name: 'pay-group-only', operations: ['Get', 'Locate'], objectGroups: ['grp-owner'] });
    const c = (await import('./world.ts')).certIdentity('group-limited');
    w.rt.governance.addIdentity({ tenant: ALPHA.tenant, service: ALPHA.pay, role: 'pay-group-only', match: { kind: 'fingerprint', sha256: c.fingerprint } });
    expect((await call(w, c, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)])).resultReason).toBe(NOT_FOUND);
  });

  it('unknown and revoked certificates are refused at the first batch item; the rest is not processed; both audited', async () => {
    for (const who of [w.who.stranger, w.who.revoked]) {
      const resp = parseResponseMessage(await w.rt.engine.handleMessage(message(V21, [
        { operation: Operation.DiscoverVersions, payload: [] },
        { operation: Operation.Get, payload: [textString(Tag.UniqueIdentifier, alphaPayKey)] },
      ]), who));
      expect(resp.batchItems).toHaveLength(1);
      expect(resp.batchItems[0]!.operation).toBe(Operation.DiscoverVersions);
      expect(resp.batchItems[0]!.resultReason).toBe(ResultReason.PermissionDenied);
      expect(resp.batchItems[0]!.resultMessage).toMatch(/^the client certificate is not authorised: /);
    }
    const tail = w.rt.audit.tail(50).filter((r) => r.kind === 'auth-failure');
    expect(tail.map((r) => r.identity)).toEqual(expect.arrayContaining([`sha256:${w.who.stranger.fingerprint}`, `sha256:${w.who.revoked.fingerprint}`]));
    expect(tail.find((r) => r.identity === `sha256:${w.who.revoked.fingerprint}`)?.detail).toContain('revoked');
  });

  it('a sealed tenant is refused; unsealed it serves again', async () => {
    w.rt.governance.setTenantState(BETA.tenant, 'sealed');
    try {
      const r = await call(w, w.who.betaApp, Operation.Get, [textString(Tag.UniqueIdentifier, betaKey)]);
      expect(r.resultReason).toBe(ResultReason.PermissionDenied);
      expect(r.resultMessage).toContain('tenant-beta is sealed');
    } finally {
      w.rt.governance.setTenantState(BETA.tenant, 'active');
    }
    expect((await call(w, w.who.betaApp, Operation.Get, [textString(Tag.UniqueIdentifier, betaKey)])).resultStatus).toBe(ResultStatus.Success);
  });

  it('every batch item is an audit record with identity, tenant, service, operation, object and result; the chain verifies', async () => {
    const r = await call(w, w.who.betaApp, Operation.Get, [textString(Tag.UniqueIdentifier, alphaPayKey)]);
    expect(r.resultReason).toBe(NOT_FOUND);
    const rec = w.rt.audit.tail(5).filter((x) => x.kind === 'kmip').at(-1)!;
    expect(rec).toMatchObject({ tenant: BETA.tenant, service: BETA.web, operation: 'Get', objectId: alphaPayKey, result: 'failure', reason: 'ObjectNotFound' });
    expect(rec.identity).toMatch(/^id-/);
    expect(w.rt.audit.verify().ok).toBe(true);
  });
});
