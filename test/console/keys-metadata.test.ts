// Issue 14 §3: the keys of a tenant reach the admin API (and so the console) as metadata only.
// A real admin API (test/admin/helpers.ts: SQLite store, hierarchy engine, mutual TLS); the
// objects are stored rows with known wrapped bytes, and the L3 versions are made by the
// hierarchy itself — no byte of either may appear in any answer, in hex or base64.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { adminCall, startAdminEnv, type AdminEnv } from '../admin/helpers.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, CryptographicUsageMask, NameType, ObjectType, State } from '../../src/ttlv/generated/enumerations.ts';
import { dateTime, enumeration, integer, structure, textString } from '../../src/kmip/items.ts';
import type { StoredObject } from '../../src/kmip/object.ts';

let env: AdminEnv;
const secret = randomBytes(48);

function stored(uid: string, service: string, wrappedValue: Buffer | undefined, name: string): StoredObject {
  return {
    uid, tenant: 'acme', service, objectType: ObjectType.SymmetricKey, state: wrappedValue ? State.Active : State.Destroyed, revision: 0,
    attributes: [
      structure(Tag.Name, [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)]),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.CryptographicLength, 256),
      integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      textString(Tag.ObjectGroup, 'payments'),
      dateTime(Tag.InitialDate, new Date('2026-12-01T10:00:00Z')),
    ],
    ...(wrappedValue ? { wrappedValue } : {}),
  };
}

/** Every way a byte string could be spelled in JSON. */
function spellings(b: Buffer): string[] {
  return [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url'), JSON.stringify([...b]).slice(1, -1)];
}

beforeAll(async () => {
  env = await startAdminEnv();
  expect((await adminCall(env, 'POST', '/v1/tenants', { name: 'acme' })).status).toBe(201);
  expect((await adminCall(env, 'POST', '/v1/tenants/acme/services', { name: 'web' })).status).toBe(201);
  expect((await adminCall(env, 'POST', '/v1/tenants/acme/services', { name: 'batch' })).status).toBe(201);
  await env.store.insert(stored('k-1', 'web', secret, 'card-key'));
  await env.store.insert(stored('k-2', 'batch', randomBytes(48), 'old-key'));
  await env.store.insert(stored('k-3', 'web', undefined, 'destroyed-key'));
  // Two L3 versions of web, wrapped under the tenant's L2 by the engine.
  expect((await adminCall(env, 'POST', '/v1/tenants/acme/services/web/rotate', {})).status).toBe(200);
  expect((await adminCall(env, 'POST', '/v1/tenants/acme/services/web/rotate', {})).status).toBe(200);
}, 60_000);
afterAll(async () => { await env?.close(); });

describe('GET /v1/tenants/:tenant/keys and /l3 (metadata only)', () => {
  it('describes each object by names, type, state, algorithm, length, usage, group and dates', async () => {
    const r = await adminCall(env, 'GET', '/v1/tenants/acme/keys');
    expect(r.status).toBe(200);
    const byUid = Object.fromEntries((r.json.objects as { uid: string }[]).map((o) => [o.uid, o]));
    expect(Object.keys(byUid).sort()).toEqual(['k-1', 'k-2', 'k-3']);
    expect(byUid['k-1']).toEqual({
      uid: 'k-1', service: 'web', objectType: 'SymmetricKey', state: 'Active', names: ['card-key'], algorithm: 'AES', length: 256,
      usage: ['Encrypt', 'Decrypt'], objectGroups: ['payments'], initialDate: '2026-12-01T10:00:00.000Z', activationDate: null, hasValue: true,
    });
    expect(byUid['k-3']).toMatchObject({ state: 'Destroyed', hasValue: false });
    expect(r.json.more).toBe(false);
  });

  it('filters by service and pages with limit', async () => {
    const web = await adminCall(env, 'GET', '/v1/tenants/acme/keys?service=web');
    expect((web.json.objects as { uid: string }[]).map((o) => o.uid).sort()).toEqual(['k-1', 'k-3']);
    const one = await adminCall(env, 'GET', '/v1/tenants/acme/keys?limit=1');
    expect(one.json.objects).toHaveLength(1);
    expect(one.json.more).toBe(true);
    const bad = await adminCall(env, 'GET', '/v1/tenants/acme/keys?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/"limit"/);
    const missing = await adminCall(env, 'GET', '/v1/tenants/acme/keys?service=nope');
    expect(missing.status).toBe(404);
    expect((await adminCall(env, 'GET', '/v1/tenants/nobody/keys')).status).toBe(404);
  });

  it('lists the L3 versions of each service (numbers and dates)', async () => {
    const r = await adminCall(env, 'GET', '/v1/tenants/acme/l3');
    expect(r.status).toBe(200);
    const web = (r.json.versions as { service: string; version: number; current: boolean }[]).filter((v) => v.service === 'web');
    expect(web.map((v) => v.version).sort()).toEqual(web.length === 3 ? [1, 2, 3] : [1, 2]);
    expect(web.filter((v) => v.current)).toHaveLength(1);
    expect(Object.keys(web[0]!).sort()).toEqual(['createdAt', 'current', 'l2Version', 'service', 'version']);
  });

  it('no stored byte of a key — object value or wrapped L3 — is in any answer', async () => {
    const l3Rows = await env.store.listL3Keys('acme');
    expect(l3Rows.length).toBeGreaterThanOrEqual(2);
    const forbidden = [secret, ...l3Rows.map((r) => r.wrapped)].flatMap(spellings);
    const answers = [
      await adminCall(env, 'GET', '/v1/tenants/acme/keys'),
      await adminCall(env, 'GET', '/v1/tenants/acme/keys?service=web&limit=1000'),
      await adminCall(env, 'GET', '/v1/tenants/acme/l3'),
      await adminCall(env, 'GET', '/v1/tenants/acme'),
    ].map((a) => JSON.stringify(a.json));
    for (const text of answers) {
      for (const f of forbidden) expect(text.includes(f)).toBe(false);
    }
  });
});
