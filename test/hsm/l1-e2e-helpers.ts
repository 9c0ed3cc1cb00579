// What the issue 15 end-to-end tests (l1-e2e*.test.ts) do with a served OpenKCM: kmipctl with
// --json, an application client of a tenant, KMIP traffic that needs the tenant's L1, and the
// checks that the tenant is locked out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { KmipClient, KmipResponseError } from '../../src/client/index.ts';
import { enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { ServedEnv } from '../admin/serve.ts';

export type Obj = Record<string, any>;

/** kmipctl … --json, failing the test on a non-zero exit. */
export async function kmipctlJson(s: ServedEnv, args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

/** A KMIP client of tenant `tenant`, service billing, role app (certificate issued by kmipctl). */
export async function appClient(s: ServedEnv, tenant: string): Promise<KmipClient> {
  const r = await kmipctlJson(s, ['cert', 'issue', '--tenant', tenant, '--service', 'billing', '--role', 'app', '--out', join(s.cwd, `app-${tenant}`)]);
  return KmipClient.connect({
    host: '127.0.0.1', port: s.kmipPort, servername: 'localhost', timeoutMs: 30_000,
    ca: readFileSync(r.files.ca), cert: readFileSync(r.files.cert), key: readFileSync(r.files.key),
  });
}

/** Create an AES key and Get it back: KMIP traffic that needs the tenant's L2 (so its L1). */
export async function createAndGet(c: KmipClient): Promise<string> {
  const created = await c.request(Operation.Create, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    ]),
  ]);
  const uid = String(created.value.find((i) => i.tag === Tag.UniqueIdentifier)!.value);
  const got = await c.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
  expect(got.value.some((i) => i.tag === Tag.SymmetricKey)).toBe(true);
  return uid;
}

/** A Get of `uid` is refused with Permission Denied "… sealed …". */
export async function expectSealedRefusal(c: KmipClient, uid: string): Promise<void> {
  const e = await c.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]).then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(KmipResponseError);
  expect((e as KmipResponseError).reason).toBe(ResultReason.PermissionDenied);
  expect((e as Error).message).toMatch(/sealed/);
}

/** Polls `kmipctl l1 show` until the tenant is sealed (by the server's periodic status check). */
export async function sealedWithin(s: ServedEnv, tenant: string, ms: number): Promise<Obj> {
  const until = Date.now() + ms;
  for (;;) {
    const h = (await kmipctlJson(s, ['l1', 'show', tenant])).hierarchy as Obj;
    if (h?.sealed) return h;
    if (Date.now() > until) throw new Error(`tenant ${tenant} not sealed within ${ms} ms: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
