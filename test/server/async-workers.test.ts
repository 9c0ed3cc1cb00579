// Asynchronous operations under `openkcm serve --workers 2` (issue 13 §1): the operation runs
// in the worker that accepted it, and its state is in the database both workers share
// (SQLite migration 13), so a Poll reaching the other worker answers the same. Six
// connections are spread over the two workers by the cluster's round robin; the operation
// accepted on connection i is polled on connection i+1, so polls cross workers (with state
// kept per process they would answer Invalid Asynchronous Correlation Value). Once delivered,
// a result is gone on every connection.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { byteString, child, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import type { ResponseBatchItem } from '../../src/kmip/message.ts';
import { startServed, type ServedEnv } from '../admin/serve.ts';

const CONNECTIONS = 6;

let s: ServedEnv;
const clients: KmipClient[] = [];

beforeAll(async () => {
  s = await startServed({ args: ['--workers', '2'] });
  const certs = join(s.cwd, 'certs');
  const pem = { ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')) };
  for (let i = 0; i < CONNECTIONS; i++) clients.push(await KmipClient.connect({ host: '127.0.0.1', port: s.kmipPort, ...pem, timeoutMs: 120_000 }));
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await s?.stop();
}, 60_000);

const keyPair = [
  structure(Tag.CommonAttributes, [enumeration(Tag.CryptographicAlgorithm, Alg.RSA), integer(Tag.CryptographicLength, 2048)]),
  structure(Tag.PrivateKeyAttributes, [integer(Tag.CryptographicUsageMask, CUM.Sign)]),
  structure(Tag.PublicKeyAttributes, [integer(Tag.CryptographicUsageMask, CUM.Verify)]),
];
const poll = (c: KmipClient, v: Buffer) => c.requestItem(Operation.Poll, [byteString(Tag.AsynchronousCorrelationValue, v)]);

async function pollUntilDone(c: KmipClient, v: Buffer): Promise<ResponseBatchItem> {
  for (;;) {
    const r = await poll(c, v);
    if (r.resultStatus !== ResultStatus.OperationPending) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('asynchronous operations with serve --workers 2', () => {
  it('accepted on one connection, polled on the next: every result arrives, once, whichever worker answers', async () => {
    const values: Buffer[] = [];
    for (const c of clients) {
      const r = await c.requestItem(Operation.CreateKeyPair, keyPair, { asynchronousIndicator: 'optional' });
      expect(r.resultStatus, r.resultMessage).toBe(ResultStatus.OperationPending);
      values.push(r.asynchronousCorrelationValue!);
    }
    for (let i = 0; i < CONNECTIONS; i++) {
      const c = clients[(i + 1) % CONNECTIONS]!;
      const done = await pollUntilDone(c, values[i]!);
      expect(done.resultStatus, done.resultMessage).toBe(ResultStatus.Success);
      const priv = (child(done.payload!, Tag.PrivateKeyUniqueIdentifier) as { value: string }).value;
      // The pair is in the shared store: the accepting connection reads it.
      const got = await clients[i]!.request(Operation.GetAttributes, [textString(Tag.UniqueIdentifier, priv)]);
      expect((child(got, Tag.UniqueIdentifier) as { value: string }).value).toBe(priv);
      for (const other of clients) {
        const again = await poll(other, values[i]!);
        expect(again.resultReason).toBe(ResultReason.InvalidAsynchronousCorrelationValue);
      }
    }
  }, 300_000);
});
