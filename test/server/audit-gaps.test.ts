// Audit without gaps (issue 16 §1), through the real runtime (SQLite store, hierarchy,
// executor middleware, audit log): every batch item is exactly one audit record, whatever
// the client sent and whatever path the item took; while the audit log cannot take records,
// requests are refused instead of served unaudited.
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  BatchErrorContinuationOption, CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm,
  ObjectType, Operation, ResultReason, ResultStatus,
} from '../../src/ttlv/generated/enumerations.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { boolean, byteString, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { buildRequestMessage, parseResponseMessage, type RequestHeaderOptions, type ResponseMessage } from '../../src/kmip/message.ts';
import type { ClientIdentity } from '../../src/operations/types.ts';
import { openAuditLog, type AuditLog, type AuditRecord } from '../../src/audit/index.ts';
import { KmipEngine } from '../../src/server/executor.ts';
import { silentLogger } from '../../src/log/index.ts';
import { ALPHA, BETA, V21, certIdentity, openWorld, type World } from '../isolation/world.ts';
import { HOSTILE, expectSafeRecord, expectStoredAs } from '../audit/hostile.ts';
import { encryptPayload, importPayload } from './audit-payloads.ts';
import { IDENTITY, IDENTITY_ADAPTERS, MemoryRepository, testOperations } from './helpers.ts';

type Item = { operation: number; payload: TtlvItem[] };
const msg = (items: Item[], header: Partial<RequestHeaderOptions> = {}) =>
  buildRequestMessage({ protocolVersion: V21, ...header }, items.map((i) => ({ operation: i.operation, payload: structure(Tag.RequestPayload, i.payload) })));
const UID = (u: string) => textString(Tag.UniqueIdentifier, u);

let w: World;
beforeAll(async () => { w = await openWorld(); }, 60_000);
afterAll(async () => { await w?.close(); });

/** Sends one message; returns the response and the audit records it produced. */
async function send(who: ClientIdentity, items: Item[], header: Partial<RequestHeaderOptions> = {}): Promise<{ resp: ResponseMessage; recs: AuditRecord[] }> {
  const before = w.rt.audit.lastSeq();
  const resp = parseResponseMessage(await w.rt.engine.handleMessage(msg(items, header), who));
  const n = w.rt.audit.lastSeq() - before;
  return { resp, recs: n > 0 ? w.rt.audit.tail(n) : [] };
}

describe('hostile field values: exactly one record per batch item', () => {
  it('a Get of each hostile Unique Identifier is one record holding the identifier, escaped (table H01–H18)', async () => {
    for (const h of HOSTILE) {
      const { resp, recs } = await send(w.who.alphaAdmin, [{ operation: Operation.Get, payload: [UID(h.value)] }]);
      const label = `${h.id} ${h.what}`;
      expect(resp.batchItems[0]!.resultStatus, label).toBe(ResultStatus.OperationFailed);
      expect(recs, label).toHaveLength(1);
      expect(recs[0], label).toMatchObject({ kind: 'kmip', operation: 'Get', result: 'failure', tenant: ALPHA.tenant, service: ALPHA.pay });
      expectSafeRecord(recs[0]!, label);
      expectStoredAs(recs[0]!.objectId, h.value, 'objectId', label);
    }
    expect(w.rt.audit.verify().ok).toBe(true);
  });

  it('all of them in one batch (Continue): one record each, in item order', async () => {
    const { resp, recs } = await send(w.who.alphaAdmin, HOSTILE.map((h): Item => ({ operation: Operation.Locate, payload: [
      structure(Tag.Attributes, [structure(Tag.Name, [textString(Tag.NameValue, h.value), enumeration(Tag.NameType, 1)])]),
    ] })).concat(HOSTILE.map((h) => ({ operation: Operation.GetAttributes, payload: [UID(h.value)] }))),
    { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    expect(resp.batchItems).toHaveLength(HOSTILE.length * 2);
    expect(recs).toHaveLength(HOSTILE.length * 2);
    HOSTILE.forEach((h, i) => {
      expect(recs[i]!.operation).toBe('Locate');
      expect(recs[HOSTILE.length + i]!.operation).toBe('GetAttributes');
      expectStoredAs(recs[HOSTILE.length + i]!.objectId, h.value, 'objectId', `${h.id} ${h.what}`);
    });
  });

  it('the issue\'s scenario: a key imported under a control-character UID, activated, used and read back is four records', async () => {
    const uid = `evil\n{"kind":"kmip","result":"success"}\u202e\u0000-${randomBytes(4).toString('hex')}`;
    const key = randomBytes(32);
    const steps: Item[] = [
      { operation: Operation.Import, payload: importPayload(uid, key) },
      { operation: Operation.Activate, payload: [UID(uid)] },
      { operation: Operation.Encrypt, payload: encryptPayload(uid) },
      { operation: Operation.Get, payload: [UID(uid)] },
    ];
    const all: AuditRecord[] = [];
    for (const s of steps) {
      const { resp, recs } = await send(w.who.alphaAdmin, [s]);
      expect(resp.batchItems[0]!.resultStatus, `${s.operation}: ${resp.batchItems[0]!.resultMessage}`).toBe(ResultStatus.Success);
      all.push(...recs);
    }
    expect(all.map((r) => [r.operation, r.result])).toEqual([['Import', 'success'], ['Activate', 'success'], ['Encrypt', 'success'], ['Get', 'success']]);
    for (const r of all) {
      expectSafeRecord(r, r.operation!);
      expectStoredAs(r.objectId, uid, 'objectId', r.operation!);
    }
    expect(w.rt.audit.verify().ok).toBe(true);
  });
});

describe('every path of a batch item ends in one record', () => {
  it('Stop: the items after a failure are not processed, and each is a record saying so', async () => {
    const { resp, recs } = await send(w.who.alphaAdmin, [
      { operation: Operation.Get, payload: [UID('no-such\nkey')] },
      { operation: Operation.DiscoverVersions, payload: [] },
      { operation: Operation.Get, payload: [UID('second\u202e')] },
    ]);
    expect(resp.batchItems).toHaveLength(1);
    expect(recs.map((r) => [r.operation, r.result])).toEqual([['Get', 'failure'], ['DiscoverVersions', 'failure'], ['Get', 'failure']]);
    expect(recs[1]!.detail).toBe('not processed: item 1 failed and the Batch Error Continuation Option is Stop');
    expect(recs[2]!.objectId).toBe('second\\u{202e}');
  });

  it('Undo with the ID Placeholder: the undone items are one record each, saying they were undone', async () => {
    const { resp, recs } = await send(w.who.alphaAdmin, [
      { operation: Operation.Create, payload: [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.Attributes, [
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256),
        integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt)])] },
      { operation: Operation.Activate, payload: [] }, // the ID Placeholder: the created key
      { operation: Operation.Get, payload: [UID('missing')] },
      { operation: Operation.Query, payload: [] },
    ], { batchErrorContinuationOption: BatchErrorContinuationOption.Undo });
    expect(resp.batchItems.map((i) => i.resultStatus)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
    expect(recs).toHaveLength(4);
    expect(recs.map((r) => [r.operation, r.result])).toEqual([['Create', 'failure'], ['Activate', 'failure'], ['Get', 'failure'], ['Query', 'failure']]);
    expect(recs[0]!.detail).toBe('undone: item 3 failed and the Batch Error Continuation Option is Undo');
    expect(recs[1]!.objectId).toBe(recs[0]!.objectId); // the placeholder resolved to the created key
    expect(recs[1]!.objectId).toMatch(/\S/);
    expect(recs[1]!.detail).toBe('undone: item 3 failed and the Batch Error Continuation Option is Undo');
    expect(recs[3]!.detail).toMatch(/^not processed: item 3 failed/);
  });

  it('a multi-part stream: one record per part', async () => {
    const params = structure(Tag.CryptographicParameters, [enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256)]);
    const p1 = await send(w.who.alphaAdmin, [{ operation: Operation.Hash, payload: [params, byteString(Tag.Data, Buffer.from('ab')), boolean(Tag.InitIndicator, true)] }]);
    const cv = p1.resp.batchItems[0]!.payload!.value.find((c) => c.tag === Tag.CorrelationValue)!;
    const p2 = await send(w.who.alphaAdmin, [{ operation: Operation.Hash, payload: [byteString(Tag.Data, Buffer.from('cd')), cv as TtlvItem] }]);
    const p3 = await send(w.who.alphaAdmin, [{ operation: Operation.Hash, payload: [byteString(Tag.Data, Buffer.from('ef')), cv as TtlvItem, boolean(Tag.FinalIndicator, true)] }]);
    // A part with a forged correlation value fails, and is a record too.
    const bad = await send(w.who.alphaAdmin, [{ operation: Operation.Hash, payload: [byteString(Tag.Data, Buffer.from('x')), byteString(Tag.CorrelationValue, randomBytes(16))] }]);
    for (const p of [p1, p2, p3]) expect(p.recs.map((r) => [r.operation, r.result])).toEqual([['Hash', 'success']]);
    expect(bad.recs.map((r) => [r.operation, r.result])).toEqual([['Hash', 'failure']]);
  });

  it('refused identities: an unknown certificate with a hostile subject, a revoked one — one auth-failure record per item', async () => {
    const forged = certIdentity('x', { subject: `CN=evil\nkind=kmip result=success\u202e, O=${'QUJD'.repeat(60)}` });
    for (const who of [forged, w.who.revoked]) {
      const { resp, recs } = await send(who, [
        { operation: Operation.Get, payload: [UID('k\u0000')] },
        { operation: Operation.Destroy, payload: [UID('other')] },
        { operation: Operation.Query, payload: [] },
      ]);
      expect(resp.batchItems).toHaveLength(1);
      expect(resp.batchItems[0]!.resultReason).toBe(ResultReason.PermissionDenied);
      expect(recs.map((r) => [r.kind, r.operation, r.objectId, r.reason])).toEqual([
        ['auth-failure', 'Get', 'k\\u{0}', 'PermissionDenied'], ['auth-failure', 'Destroy', 'other', 'PermissionDenied'], ['auth-failure', 'Query', null, 'PermissionDenied'],
      ]);
      for (const r of recs) { expectSafeRecord(r, who.subject); expect(r.identity).toBe(`sha256:${who.fingerprint}`); }
    }
    const first = (await send(forged, [{ operation: Operation.Query, payload: [] }])).recs[0]!;
    expect(first.detail).toMatch(/; subject CN=evil\\u\{a\}kind=kmip result=success\\u\{202e\}, \\\[redacted: \d+ chars of base64\/hex alphabet\]$/);
  });

  it('a sealed tenant: one record per item', async () => {
    w.rt.governance.setTenantState(BETA.tenant, 'sealed');
    try {
      const { resp, recs } = await send(w.who.betaApp, [{ operation: Operation.Get, payload: [UID('a\n')] }, { operation: Operation.Locate, payload: [] }]);
      expect(resp.batchItems[0]!.resultReason).toBe(ResultReason.PermissionDenied);
      expect(recs.map((r) => [r.operation, r.result, r.reason])).toEqual([['Get', 'failure', 'PermissionDenied'], ['Locate', 'failure', 'PermissionDenied']]);
    } finally {
      w.rt.governance.setTenantState(BETA.tenant, 'active');
    }
  });

  it('messages that cannot be read as a request are one record each (undecodable, invalid UTF-8, Batch Count, version)', async () => {
    const who = w.who.alphaAdmin;
    const count = async (bytes: Buffer) => {
      const before = w.rt.audit.lastSeq();
      await w.rt.engine.handleBytes(bytes, who);
      const n = w.rt.audit.lastSeq() - before;
      return { n, rec: w.rt.audit.tail(1)[0]! };
    };
    const good = encode(msg([{ operation: Operation.Get, payload: [UID('abcd')] }]));
    const badUtf8 = Buffer.from(good);
    const at = badUtf8.indexOf(Buffer.from('abcd'));
    badUtf8[at] = 0xff; badUtf8[at + 1] = 0xfe;
    const wrongCount = encode(msg([{ operation: Operation.Query, payload: [] }]));
    // Batch Count (tag 42000D, Integer): patch its value from 1 to 3.
    const bc = wrongCount.indexOf(Buffer.from([0x42, 0x00, 0x0d, 0x02, 0, 0, 0, 4]));
    expect(wrongCount.readInt32BE(bc + 8)).toBe(1);
    wrongCount.writeInt32BE(3, bc + 8);
    const v30 = encode(buildRequestMessage({ protocolVersion: { major: 3, minor: 0 } }, [{ operation: Operation.Query, payload: structure(Tag.RequestPayload, []) }]));
    for (const [label, bytes, reason] of [
      ['garbage', randomBytes(40), 'InvalidMessage'], ['invalid UTF-8', badUtf8, 'InvalidMessage'],
      ['Batch Count', wrongCount, 'InvalidMessage'], ['version 3.0', v30, 'UnsupportedProtocolVersion'],
    ] as const) {
      const { n, rec } = await count(bytes);
      expect(n, label).toBe(1);
      expect(rec, label).toMatchObject({ kind: 'kmip', identity: `sha256:${who.fingerprint}`, operation: null, result: 'failure', reason });
      expect(rec.detail, label).toMatch(/^message refused: /);
    }
  });
});

describe('exceptions and an audit log that cannot take records (real SQLite conditions)', () => {
  function engineOn(audit: AuditLog, over: Partial<ConstructorParameters<typeof KmipEngine>[0]> = {}) {
    const repo = new MemoryRepository();
    return new KmipEngine({
      operations: testOperations(), adapters: IDENTITY_ADAPTERS,
      access: { authenticate: () => ({ ok: true, principal: {
        identity: { id: 'id-1', tenant: 'acme', service: 'web', role: 'admin', match: { kind: 'fingerprint', sha256: IDENTITY.fingerprint }, revoked: false },
        role: { name: 'admin', operations: ['*'], builtIn: true }, grants: [], bootstrap: false,
      } }) },
      audit, repositoryFor: () => repo, removeObject: async (_i, uid) => repo.remove(uid),
      server: { vendor: 'OpenKCM', product: 'test', version: '0', l1: { provider: 'software', keyRef: 'test', developmentOnly: true } },
      logger: silentLogger(), ...over,
    });
  }
  const items = (ops: number[]) => buildRequestMessage({ protocolVersion: V21, batchErrorContinuationOption: BatchErrorContinuationOption.Continue },
    ops.map((operation) => ({ operation, payload: structure(Tag.RequestPayload, []) })));

  it('a handler that throws, a tenant gate that throws, an access check that throws: one record per item, no exception escapes', async () => {
    const db = new Database(':memory:');
    const audit = openAuditLog(db);
    try {
      const e1 = engineOn(audit);
      let out = parseResponseMessage(await e1.handleMessage(items([Operation.Check, Operation.DiscoverVersions]), IDENTITY));
      expect(out.batchItems.map((i) => i.resultReason)).toEqual([ResultReason.GeneralFailure, undefined]);
      expect(audit.tail(2).map((r) => [r.operation, r.result, r.reason])).toEqual([['Check', 'failure', 'GeneralFailure'], ['DiscoverVersions', 'success', null]]);

      const e2 = engineOn(audit, { tenantGate: async () => { throw new Error('hierarchy exploded'); } });
      let before = audit.lastSeq();
      out = parseResponseMessage(await e2.handleMessage(items([Operation.Create, Operation.Activate, Operation.Query]), IDENTITY));
      expect(out.batchItems[0]).toMatchObject({ resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.GeneralFailure });
      expect(out.batchItems[0]!.resultMessage).toMatch(/^internal error \(reference [0-9a-f]{12}\)$/);
      expect(audit.lastSeq() - before).toBe(3);

      const e3 = engineOn(audit, { access: { authenticate: () => { throw new Error('governance database gone'); } } });
      before = audit.lastSeq();
      out = parseResponseMessage(await e3.handleMessage(items([Operation.Create, Operation.Query]), IDENTITY));
      expect(out.batchItems[0]!.resultReason).toBe(ResultReason.GeneralFailure);
      expect(audit.tail(2).map((r) => [r.identity, r.operation, r.reason])).toEqual([
        [`sha256:${IDENTITY.fingerprint}`, 'Create', 'GeneralFailure'], [`sha256:${IDENTITY.fingerprint}`, 'Query', 'GeneralFailure'],
      ]);
      expect(audit.lastSeq() - before).toBe(2);
      expect(audit.verify().ok).toBe(true);
    } finally {
      audit.close();
      db.close();
    }
  });

  it('the audit database turns read-only: requests are refused (no key material served), the refusals are kept; service resumes when it is writable', async () => {
    const { resp: created } = await send(w.who.alphaAdmin, [{ operation: Operation.Import, payload: importPayload(`ro-${randomBytes(4).toString('hex')}`) }]);
    const uid = (created.batchItems[0]!.payload!.value[0] as { value: string }).value;
    const db = w.rt.local.database;
    db.pragma('query_only = ON'); // SQLite refuses every write on this connection: "attempt to write a readonly database"
    try {
      // A record appended before the failure is known is queued; the next commit fails.
      await w.rt.engine.handleMessage(msg([{ operation: Operation.Query, payload: [] }]), w.who.alphaAdmin);
      expect(() => w.rt.audit.flush()).toThrow(/readonly|read-only/i);
      expect(w.rt.audit.availability()).toMatchObject({ ok: false, reason: expect.stringMatching(/refuses writes/) });
      const before = w.rt.audit.lastSeq();
      const out = parseResponseMessage(await w.rt.engine.handleMessage(msg([
        { operation: Operation.Get, payload: [UID(uid)] }, { operation: Operation.Query, payload: [] },
      ]), w.who.alphaAdmin));
      expect(out.batchItems).toHaveLength(1); // Stop after the refused first item
      expect(out.batchItems[0]).toMatchObject({ resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.GeneralFailure });
      expect(out.batchItems[0]!.resultMessage).toMatch(/^the audit log cannot take records \(the audit database refuses writes .*\); requests are refused until it can$/);
      expect(out.batchItems[0]!.payload).toBeUndefined();
      expect(w.rt.audit.lastSeq() - before).toBe(2); // both refusals queued for when the database takes writes again
    } finally {
      db.pragma('query_only = OFF');
    }
    // The background retry commits the queue; then the same Get is served.
    const deadline = Date.now() + 30_000;
    while (!w.rt.audit.availability().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(w.rt.audit.availability()).toEqual({ ok: true });
    const { resp, recs } = await send(w.who.alphaAdmin, [{ operation: Operation.Get, payload: [UID(uid)] }]);
    expect(resp.batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    expect(recs.map((r) => [r.operation, r.result])).toEqual([['Get', 'success']]);
    const refused = w.rt.audit.tail(5).filter((r) => r.detail?.startsWith('not processed') || r.reason === 'GeneralFailure');
    expect(refused.map((r) => r.operation)).toEqual(['Get', 'Query']);
    expect(w.rt.audit.verify().ok).toBe(true);
  });

  it('a closed audit database: refused; a log closed while an item runs: the result is withheld', async () => {
    const db = new Database(':memory:');
    const audit = openAuditLog(db);
    const engine = engineOn(audit);
    expect(parseResponseMessage(await engine.handleMessage(items([Operation.DiscoverVersions]), IDENTITY)).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    audit.flush();
    db.close();
    const out = parseResponseMessage(await engine.handleMessage(items([Operation.DiscoverVersions]), IDENTITY));
    expect(out.batchItems[0]).toMatchObject({ resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.GeneralFailure });
    expect(out.batchItems[0]!.resultMessage).toContain('the audit database is closed');

    // The check passes, then the log closes while the operation runs: its answer is not sent.
    const db2 = new Database(':memory:');
    const audit2 = openAuditLog(db2);
    const ops = testOperations();
    ops.set(Operation.Query, { operation: Operation.Query, name: 'Query', since: '1.0', async run() {
      audit2.close();
      return structure(Tag.ResponsePayload, [textString(Tag.VendorIdentification, 'secret-bearing answer')]);
    } });
    const e2 = engineOn(audit2, { operations: ops });
    const r2 = parseResponseMessage(await e2.handleMessage(items([Operation.Query]), IDENTITY));
    expect(r2.batchItems[0]).toMatchObject({ resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.GeneralFailure });
    expect(r2.batchItems[0]!.resultMessage).toMatch(/results of this request are withheld/);
    expect(r2.batchItems[0]!.payload).toBeUndefined();
    db2.close();
  });

  it('audit.durable: a reply waits until its records are on disk; a failed flush withholds the results (issue 12 §2)', async () => {
    const db = new Database(':memory:');
    const real = openAuditLog(db);
    let release!: () => void;
    let fail = false;
    const sink = {
      append: (r: Parameters<AuditLog['append']>[0]) => real.append(r),
      availability: () => real.availability(),
      whenDurable: () => new Promise<void>((resolve, reject) => { release = () => (fail ? reject(new Error('EIO: fdatasync')) : resolve()); }),
    };
    try {
      const e = engineOn(real, { audit: sink, auditDurable: true });
      let answered = false;
      const reply = e.handleMessage(items([Operation.DiscoverVersions]), IDENTITY).then((r) => { answered = true; return r; });
      await new Promise((r) => setTimeout(r, 50));
      expect(answered).toBe(false);
      release();
      expect(parseResponseMessage(await reply).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);

      fail = true;
      const refused = e.handleMessage(items([Operation.DiscoverVersions]), IDENTITY);
      await new Promise((r) => setTimeout(r, 20));
      release();
      const out = parseResponseMessage(await refused).batchItems[0]!;
      expect(out.resultReason).toBe(ResultReason.GeneralFailure);
      expect(out.resultMessage).toMatch(/results of this request are withheld/);

      // Without the setting the same sink is never waited for.
      const quick = engineOn(real, { audit: { ...sink, whenDurable: () => new Promise<void>(() => undefined) } });
      expect(parseResponseMessage(await quick.handleMessage(items([Operation.DiscoverVersions]), IDENTITY)).batchItems[0]!.resultStatus).toBe(ResultStatus.Success);
    } finally {
      real.close();
      db.close();
    }
  });
});
