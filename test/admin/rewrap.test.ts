// Explicit re-wrap and L2 rotation (issue 6) over the real programs: `openkcm serve` as a
// child process, keys registered through KMIP, the admin HTTPS API and `kmipctl` driving
// `service rotate`, `service rewrap` and `tenant rotate-l2`, then KMIP Get proving every
// object still opens with the same key material.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { AdminClient, resolveSettings } from '../../src/cli/admin/connection.ts';
import { byteString, child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation } from '../../src/ttlv/generated/enumerations.ts';
import { startServed, type ServedEnv } from './serve.ts';

type Obj = Record<string, unknown>;

let env: ServedEnv;
let kmip: KmipClient;
let admin: AdminClient;
const keys = new Map<string, Buffer>();

/** KMIP 2.1 Register of a raw AES-256 key (§6.1.41); returns its Unique Identifier. */
async function register(material: Buffer): Promise<string> {
  const resp = await kmip.request(Operation.Register, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    ]),
    structure(Tag.SymmetricKey, [
      structure(Tag.KeyBlock, [
        enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
        structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, material)]),
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
        integer(Tag.CryptographicLength, 256),
      ]),
    ]),
  ]);
  return child(resp, Tag.UniqueIdentifier)!.value as string;
}

async function materialOf(uid: string): Promise<Buffer> {
  const resp = await kmip.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
  const block = child(child(resp, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct;
  return child(child(block, Tag.KeyValue) as Struct, Tag.KeyMaterial)!.value as Buffer;
}

beforeAll(async () => {
  env = await startServed();
  const certs = join(env.cwd, 'certs');
  kmip = await KmipClient.connect({
    host: '127.0.0.1', port: env.kmipPort, servername: 'localhost',
    ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')),
  });
  admin = new AdminClient(resolveSettings({
    server: `https://127.0.0.1:${env.adminPort}`, cert: join(certs, 'client.crt'), key: join(certs, 'client.key'), ca: join(certs, 'ca.crt'),
  }, {}));
  for (let i = 0; i < 3; i++) {
    const m = randomBytes(32);
    keys.set(await register(m), m);
  }
}, 90_000);

afterAll(async () => {
  await kmip?.close();
  await env?.stop();
});

describe('explicit re-wrap and L2 rotation', () => {
  it('re-wraps nothing while every object is under the current L3', async () => {
    const r = await admin.post<Obj>('/v1/tenants/default/services/default/rewrap');
    expect(r).toMatchObject({ tenant: 'default', service: 'default', examined: 3, rewrapped: 0, skipped: 0 });
  });

  it('after an L3 rotation, `kmipctl service rewrap` moves every object to the new version, once', async () => {
    expect(await admin.post<Obj>('/v1/tenants/default/services/default/rotate')).toMatchObject({ l3Version: 2 });
    const json = await env.kmipctl(['service', 'rewrap', 'default', 'default', '--json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ tenant: 'default', service: 'default', examined: 3, rewrapped: 3, skipped: 0 });
    // Tenant-wide, human output: the second pass finds nothing left to move.
    const text = await env.kmipctl(['service', 'rewrap', 'default']);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('tenant default: examined 3, rewrapped 0\n');
  }, 60_000);

  it('`kmipctl tenant rotate-l2` installs a new L2; every object still opens through KMIP Get', async () => {
    const r = await env.kmipctl(['tenant', 'rotate-l2', 'default', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ tenant: 'default', l2Version: 2 });
    const text = await env.kmipctl(['tenant', 'rotate-l2', 'default']);
    expect(text.stdout).toBe('tenant default: L2 key now at version 3\n');
    for (const [uid, m] of keys) expect((await materialOf(uid)).equals(m)).toBe(true);
    // A key created after the rotation is wrapped under the new chain and reads back too.
    const fresh = randomBytes(32);
    const uid = await register(fresh);
    expect((await materialOf(uid)).equals(fresh)).toBe(true);
  }, 60_000);

  it('refuses an unknown tenant or service with not-found, and audits every change', async () => {
    await expect(admin.post('/v1/tenants/nope/rotate-l2')).rejects.toThrow(/tenant "nope" does not exist \(not-found\)/);
    await expect(admin.post('/v1/tenants/default/services/nope/rewrap')).rejects.toThrow(/service "nope" does not exist in tenant "default" \(not-found\)/);
    await expect(admin.post('/v1/tenants/default/rewrap', { force: true })).rejects.toThrow(/force/);
    const { records } = await admin.get<{ records: Obj[] }>('/v1/audit/tail?n=50');
    const admins = records.filter((x) => x.kind === 'admin').map((x) => [x.operation, x.result, x.tenant, x.service, x.detail]);
    expect(admins).toEqual(expect.arrayContaining([
      ['service.rotate', 'success', 'default', 'default', 'L3 version 2'],
      ['service.rewrap', 'success', 'default', 'default', 'examined 3, rewrapped 0, skipped 0'],
      ['service.rewrap', 'success', 'default', 'default', 'examined 3, rewrapped 3, skipped 0'],
      ['tenant.rewrap', 'success', 'default', null, 'examined 3, rewrapped 0, skipped 0'],
      ['tenant.rotate-l2', 'success', 'default', null, 'L2 version 2'],
      ['tenant.rotate-l2', 'success', 'default', null, 'L2 version 3'],
      ['tenant.rotate-l2', 'failure', 'nope', null, expect.stringMatching(/does not exist/)],
      ['service.rewrap', 'failure', 'default', 'nope', expect.stringMatching(/does not exist/)],
    ]));
  });
});
