// Audit without gaps over a real TLS connection (issue 16 §1): `openkcm serve` as a child
// process, the project client (src/client) with the development client certificate, the
// records read back and the chain verified with `kmipctl audit tail|export|verify`.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { structure, textString } from '../../src/kmip/items.ts';
import { buildRequestMessage } from '../../src/kmip/message.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { BatchErrorContinuationOption, Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import type { AuditRecord } from '../../src/audit/index.ts';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { HOSTILE, UNSAFE_STORED, expectSafeRecord, expectStoredAs } from '../audit/hostile.ts';
import { encryptPayload, importPayload } from './audit-payloads.ts';

let s: ServedEnv;
let c: KmipClient;
beforeAll(async () => {
  s = await startServed();
  const certs = join(s.cwd, 'certs');
  c = await KmipClient.connect({
    host: '127.0.0.1', port: s.kmipPort, servername: 'localhost', timeoutMs: 60_000,
    ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')),
  });
}, 120_000);
afterAll(async () => {
  await c?.close().catch(() => undefined);
  await s?.stop();
});

async function kmipctl(args: string[]): Promise<Record<string, any>> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}
async function lastSeq(): Promise<number> {
  const t = await kmipctl(['audit', 'tail', '-n', '1']);
  return (t.records as AuditRecord[])[0]?.seq ?? 0;
}
/** The records written after `after`, through the admin API. */
async function recordsAfter(after: number): Promise<AuditRecord[]> {
  const t = await kmipctl(['audit', 'tail', '-n', '1000']);
  return (t.records as AuditRecord[]).filter((r) => r.seq > after);
}

const ITEMS = HOSTILE.filter((h) => !h.notUtf8);

describe('over mutual TLS with the project client', () => {
  it('each hostile Unique Identifier (one message each, then all in one batch) is exactly one record per item', async () => {
    let start = await lastSeq();
    for (const h of ITEMS) {
      const item = await c.requestItem(Operation.Get, [textString(Tag.UniqueIdentifier, h.value)]);
      expect(item.resultStatus, h.id).toBe(ResultStatus.OperationFailed);
    }
    let recs = await recordsAfter(start);
    expect(recs).toHaveLength(ITEMS.length);
    ITEMS.forEach((h, i) => {
      expect(recs[i]).toMatchObject({ kind: 'kmip', operation: 'Get', result: 'failure' });
      expectSafeRecord(recs[i]!, h.id);
      expectStoredAs(recs[i]!.objectId, h.value, 'objectId', `${h.id} ${h.what}`);
    });

    start = await lastSeq();
    const resp = await c.batch(ITEMS.map((h) => ({ operation: Operation.GetAttributes, payload: structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, h.value)]) })),
      { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    expect(resp.batchItems).toHaveLength(ITEMS.length);
    recs = await recordsAfter(start);
    expect(recs.map((r) => r.operation)).toEqual(ITEMS.map(() => 'GetAttributes'));
  }, 120_000);

  it('import, activate, use and get under a control-character UID: four records; bytes that are not UTF-8: one record', async () => {
    const uid = `evil\r\n<13>1 forged\u202e\u0000${randomBytes(4).toString('hex')}`;
    const start = await lastSeq();
    await c.request(Operation.Import, importPayload(uid));
    await c.request(Operation.Activate, [textString(Tag.UniqueIdentifier, uid)]);
    await c.request(Operation.Encrypt, encryptPayload(uid));
    await c.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
    const recs = await recordsAfter(start);
    expect(recs.map((r) => [r.operation, r.result])).toEqual([['Import', 'success'], ['Activate', 'success'], ['Encrypt', 'success'], ['Get', 'success']]);
    for (const r of recs) expectStoredAs(r.objectId, uid, 'objectId', r.operation!);

    // A Text String that is not UTF-8 never becomes a batch item: the message is one record.
    const bytes = encode(buildRequestMessage({ protocolVersion: c.version }, [{ operation: Operation.Get, payload: structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, 'wxyz')]) }]));
    const at = bytes.indexOf(Buffer.from('wxyz'));
    bytes[at] = 0xc3; bytes[at + 1] = 0x28;
    const before = await lastSeq();
    await c.sendBytes(bytes);
    const bad = await recordsAfter(before);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ kind: 'kmip', operation: null, result: 'failure', reason: 'InvalidMessage' });
  }, 120_000);

  it('kmipctl audit export writes one safe line per record and kmipctl audit verify passes', async () => {
    const out = join(s.cwd, 'audit.jsonl');
    const r = await s.kmipctl(['audit', 'export', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    const last = await lastSeq();
    expect(lines).toHaveLength(last);
    for (const l of lines) {
      expect(UNSAFE_STORED.test(l)).toBe(false);
      expectSafeRecord(JSON.parse(l) as AuditRecord, l.slice(0, 60));
    }
    const v = await s.kmipctl(['audit', 'verify']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`^audit chain OK: ${last} records`));
  }, 120_000);
});
