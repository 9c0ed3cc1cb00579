// Findings of the long fuzz run (README "Reliability"), replayed over the real engine
// (SQLite store, hierarchy, executor): each ended as General Failure "internal error
// (reference …)" and must now be a KMIP error with its ResultReason, or a clean answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { structure, textString } from '../../src/kmip/items.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { V14, V21, call, createKey, message, openWorld, type World } from '../isolation/world.ts';

let w: World;
beforeAll(async () => { w = await openWorld(); }, 60_000);
afterAll(async () => { await w?.close(); });

const UID = (u: string) => textString(Tag.UniqueIdentifier, u);
const vendor = (name: string, value?: TtlvItem): TtlvItem => structure(Tag.Attribute, [
  textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeName, name), ...(value ? [value] : []),
]);
/** A Date Time Extended (2.0+, 2.1 s.10.1.2) Attribute Value: a 1.x client cannot be shown it. */
const dtx = (): TtlvItem => ({ tag: Tag.AttributeValue, type: 'DateTimeExtended', value: 1_700_000_000_000_000n });
const attrNames = (payload: TtlvItem | undefined): string[] =>
  ((payload?.value ?? []) as TtlvItem[]).filter((c) => c.tag === Tag.Attribute)
    .map((a) => ((a.value as TtlvItem[]).find((c) => c.tag === Tag.AttributeName)?.value as string));

describe('vendor attribute without an Attribute Value (fuzz finding: Error "has no Attribute Value")', () => {
  it('2.1: a vendor attribute whose value 1.x cannot express is left out of a 1.4 Get Attributes, not General Failure', async () => {
    const uid = await createKey(w, w.who.alphaAdmin, 'fz-dtx', 'fz');
    const add = await call(w, w.who.alphaAdmin, Operation.AddAttribute, [UID(uid), structure(Tag.NewAttribute, [vendor('attribute2', dtx())])], V21);
    expect(add.resultStatus, add.resultMessage).toBe(ResultStatus.Success);
    await call(w, w.who.alphaAdmin, Operation.AddAttribute, [UID(uid), structure(Tag.NewAttribute, [vendor('plain', textString(Tag.AttributeValue, 'v'))])], V21);
    const all = await call(w, w.who.alphaAdmin, Operation.GetAttributes, [UID(uid)], V14);
    expect(all.resultStatus, all.resultMessage).toBe(ResultStatus.Success);
    expect(attrNames(all.payload)).toContain('x-plain');
    expect(attrNames(all.payload)).not.toContain('x-attribute2');
    const one = await call(w, w.who.alphaAdmin, Operation.GetAttributes, [UID(uid), textString(Tag.AttributeName, 'x-attribute2')], V14);
    expect(one.resultStatus, one.resultMessage).toBe(ResultStatus.Success);
    expect(attrNames(one.payload)).toEqual([]);
    // 2.1 still sees it as stored
    const v2 = await call(w, w.who.alphaAdmin, Operation.GetAttributes, [UID(uid)], V21);
    const attrs = (v2.payload?.value as TtlvItem[]).find((c) => c.tag === Tag.Attributes)!.value as TtlvItem[];
    expect(attrs.some((a) => a.tag === Tag.Attribute && (a.value as TtlvItem[]).some((c) => c.type === 'DateTimeExtended'))).toBe(true);
  });

  it('1.4: Delete Attribute of such a vendor attribute succeeds (its echo is left out), not General Failure', async () => {
    const uid = await createKey(w, w.who.alphaAdmin, 'fz-dtx-del', 'fz');
    await call(w, w.who.alphaAdmin, Operation.AddAttribute, [UID(uid), structure(Tag.NewAttribute, [vendor('attribute2', dtx())])], V21);
    const del = await call(w, w.who.alphaAdmin, Operation.DeleteAttribute, [UID(uid), textString(Tag.AttributeName, 'x-attribute2')], V14);
    expect(del.resultStatus, del.resultMessage).toBe(ResultStatus.Success);
    const after = await call(w, w.who.alphaAdmin, Operation.GetAttributes, [UID(uid)], V21);
    expect(JSON.stringify(after.payload, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('attribute2');
  });

  it('1.4: a request Attribute Value of a type 1.x does not define is Invalid Field (2.1: stored as given)', async () => {
    const uid = await createKey(w, w.who.alphaAdmin, 'fz-dtx-14', 'fz');
    const a = structure(Tag.Attribute, [textString(Tag.AttributeName, 'x-attribute2'), dtx()]);
    for (const op of [Operation.AddAttribute, Operation.ModifyAttribute]) {
      const r = await call(w, w.who.alphaAdmin, op, [UID(uid), a], V14);
      expect(r.resultStatus, r.resultMessage).toBe(ResultStatus.OperationFailed);
      expect(r.resultReason, r.resultMessage).toBe(ResultReason.InvalidField);
      expect(r.resultMessage).toMatch(/Attribute Value/);
    }
  });

  it('malformed vendor attributes nearby answer their reason (1.4 and 2.1), never General Failure', async () => {
    const uid = await createKey(w, w.who.alphaAdmin, 'fz-shapes', 'fz');
    const cases: Array<[string, number, TtlvItem[], typeof V21, number]> = [
      ['2.1 Add without value', Operation.AddAttribute, [UID(uid), structure(Tag.NewAttribute, [vendor('attribute2')])], V21, ResultReason.InvalidAttributeValue],
      ['2.1 Set without value', Operation.SetAttribute, [UID(uid), structure(Tag.NewAttribute, [vendor('attribute2')])], V21, ResultReason.InvalidAttributeValue],
      ['2.1 Modify without value', Operation.ModifyAttribute, [UID(uid), structure(Tag.NewAttribute, [vendor('attribute2')])], V21, ResultReason.InvalidAttributeValue],
      ['2.1 Add without name', Operation.AddAttribute, [UID(uid), structure(Tag.NewAttribute, [structure(Tag.Attribute, [textString(Tag.VendorIdentification, 'x'), textString(Tag.AttributeValue, 'v')])])], V21, ResultReason.InvalidAttribute],
      ['1.4 Add without value', Operation.AddAttribute, [UID(uid), structure(Tag.Attribute, [textString(Tag.AttributeName, 'x-attribute2')])], V14, ResultReason.InvalidField],
      ['1.4 Modify without value', Operation.ModifyAttribute, [UID(uid), structure(Tag.Attribute, [textString(Tag.AttributeName, 'x-attribute2')])], V14, ResultReason.InvalidField],
      ['1.4 Locate without value', Operation.Locate, [structure(Tag.Attribute, [textString(Tag.AttributeName, 'x-attribute2')])], V14, ResultReason.InvalidField],
    ];
    for (const [label, op, payload, v, reason] of cases) {
      const r = await call(w, w.who.alphaAdmin, op, payload, v);
      expect(r.resultStatus, label).toBe(ResultStatus.OperationFailed);
      expect(r.resultReason, `${label}: ${r.resultMessage}`).toBe(reason);
    }
  });
});

describe('attribute changes racing on one object (fuzz finding: StoreConflictError → General Failure)', () => {
  /** Concurrent requests, as from that many connections: each its own message, all in flight at once. */
  const RACERS = 40;

  it(`${RACERS} concurrent Add/Set/Modify Attribute on one object: each Success or the clear conflict answer, and the object holds exactly what succeeded`, async () => {
    const uid = await createKey(w, w.who.alphaAdmin, 'fz-race', 'fz');
    const first = await call(w, w.who.alphaAdmin, Operation.SetAttribute, [UID(uid), structure(Tag.NewAttribute, [textString(Tag.ContactInformation, 'contact-start')])], V21);
    expect(first.resultStatus, first.resultMessage).toBe(ResultStatus.Success);
    const items = Array.from({ length: RACERS }, (_, i) => {
      const kind = i % 4;
      if (kind === 0) return { kind: 'set', value: `contact-${i}`, v: V21, op: Operation.SetAttribute, payload: [UID(uid), structure(Tag.NewAttribute, [textString(Tag.ContactInformation, `contact-${i}`)])] };
      if (kind === 2) return { kind: 'set', value: `contact-${i}`, v: V21, op: Operation.ModifyAttribute, payload: [UID(uid), structure(Tag.NewAttribute, [textString(Tag.ContactInformation, `contact-${i}`)])] };
      if (kind === 3) return { kind: 'add', value: `n-${i}`, v: V14, op: Operation.AddAttribute, payload: [UID(uid), structure(Tag.Attribute, [textString(Tag.AttributeName, 'x-racer'), textString(Tag.AttributeValue, `n-${i}`)])] };
      return { kind: 'add', value: `n-${i}`, v: V21, op: Operation.AddAttribute, payload: [UID(uid), structure(Tag.NewAttribute, [vendor('racer', textString(Tag.AttributeValue, `n-${i}`))])] };
    });
    const answers = await Promise.all(items.map(async (it) =>
      parseResponseMessage(await w.rt.engine.handleMessage(message(it.v, [{ operation: it.op, payload: it.payload }]), w.who.alphaAdmin)).batchItems[0]!));
    const ok: typeof items = [];
    answers.forEach((a, i) => {
      if (a.resultStatus === ResultStatus.Success) { ok.push(items[i]!); return; }
      expect(a.resultMessage).not.toMatch(/internal error/);
      expect(a.resultMessage).toMatch(/changed concurrently.*nothing was changed, retry/);
      // Server Limit Exceeded is 2.x-only: a 1.x client gets General Failure, message kept (reasons.ts)
      expect(a.resultReason, a.resultMessage).toBe(items[i]!.v === V21 ? ResultReason.ServerLimitExceeded : ResultReason.GeneralFailure);
    });
    expect(ok.length).toBeGreaterThan(0);
    console.log(`race: ${ok.length} of ${RACERS} succeeded`);
    const got = await call(w, w.who.alphaAdmin, Operation.GetAttributes, [UID(uid)], V21);
    const attrs = (got.payload?.value as TtlvItem[]).find((c) => c.tag === Tag.Attributes)!.value as TtlvItem[];
    const racers = attrs.filter((a) => a.tag === Tag.Attribute).map((a) => (a.value as TtlvItem[]).find((c) => c.tag === Tag.AttributeValue)?.value).sort();
    expect(racers).toEqual(ok.filter((x) => x.kind === 'add').map((x) => x.value).sort());
    const sets = ok.filter((x) => x.kind === 'set').map((x) => x.value);
    const contact = attrs.find((a) => a.tag === Tag.ContactInformation)?.value;
    expect(sets.length > 0 ? sets : ['contact-start']).toContain(contact);
  }, 120_000);
});
