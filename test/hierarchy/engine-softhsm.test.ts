// End to end with SoftHSM2 (issue 6 "Tests and figures"): two tenants, each with its own AES
// key in a token, create keys through the operations; a restart unseals through the HSM and
// Get answers the same material; the tenant's key is then destroyed in the token (as the
// customer would in its HSM console) → the status check seals it, and after a restart
// nothing of it opens, while the other tenant keeps working.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findSoftHsmLibrary, Pkcs11L1Provider } from '../../src/hsm/pkcs11.ts';
import type { L1Provider } from '../../src/hsm/types.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { openHierarchy } from '../../src/hierarchy/hierarchy-protector.ts';
import type { KeyProtector } from '../../src/hierarchy/types.ts';
import { create } from '../../src/operations/create.ts';
import { get } from '../../src/operations/get.ts';
import { child, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm as Alg, ObjectType, ResultReason } from '../../src/ttlv/generated/enumerations.ts';
import { makeContextFor } from '../helpers/context.ts';
import { SoftHsm } from '../hsm/softhsm.ts';
import { reasonOf, TempDirs } from './engine-helpers.ts';

const available = findSoftHsmLibrary() !== undefined;
const TOKEN = 'hier-e2e';
const PIN = '246810';
const PIN_ENV = 'OPENKCM_TEST_HIER_PIN';
const dirs = new TempDirs();
let hsm: SoftHsm | undefined;
afterAll(() => {
  hsm?.dispose();
  dirs.cleanup();
});

async function createKey(store: SqliteStore, protector: KeyProtector, tenant: string): Promise<string> {
  const { ctx } = await makeContextFor(store, protector, tenant, 'db');
  const r = await create.run(ctx, structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, Alg.AES), integer(Tag.CryptographicLength, 256)]),
  ]));
  return (child(r, Tag.UniqueIdentifier) as { value: string }).value;
}

async function material(store: SqliteStore, protector: KeyProtector, tenant: string, uid: string): Promise<Buffer> {
  const { ctx } = await makeContextFor(store, protector, tenant, 'db');
  const g = await get.run(ctx, structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, uid)]));
  const kv = child(child(child(g, Tag.SymmetricKey) as Struct, Tag.KeyBlock) as Struct, Tag.KeyValue) as Struct;
  return Buffer.from((child(kv, Tag.KeyMaterial) as { value: Buffer }).value);
}

/** Opens a tenant's HSM L1 the way a server start would: a failure becomes the tenant's sealed reason. */
async function openL1(label: string): Promise<L1Provider | Error> {
  try {
    return await Pkcs11L1Provider.open({ tokenLabel: TOKEN, pinEnv: PIN_ENV, keyLabel: label });
  } catch (e) {
    return e as Error;
  }
}

describe.skipIf(!available)('hierarchy over SoftHSM2', () => {
  it('restart unseals through the HSM; the tenant whose HSM key is destroyed is locked out, the other serves', async () => {
    hsm = new SoftHsm();
    hsm.initToken(TOKEN, PIN);
    process.env[PIN_ENV] = PIN;
    hsm.generateAesKey(TOKEN, PIN, { label: 'alpha-l1' });
    hsm.generateAesKey(TOKEN, PIN, { label: 'beta-l1' });
    const dbPath = join(dirs.make(), 'openkcm.db');
    const providers: L1Provider[] = [];
    const open = async (label: string) => {
      const p = await openL1(label);
      if (!(p instanceof Error)) providers.push(p);
      return p;
    };
    const closeProviders = async () => { for (const p of providers.splice(0)) await p.close(); };

    let store = await openSqliteStore(dbPath);
    let h = await openHierarchy(store, { statusCheckIntervalMs: 0, tenants: { alpha: await open('alpha-l1'), beta: await open('beta-l1') } });
    const uidA = await createKey(store, h.protector, 'alpha');
    const uidB = await createKey(store, h.protector, 'beta');
    const matA = await material(store, h.protector, 'alpha', uidA);
    const matB = await material(store, h.protector, 'beta', uidB);
    await h.close();
    await store.close();
    await closeProviders();

    // Restart: unsealed through the HSM, same material.
    store = await openSqliteStore(dbPath);
    h = await openHierarchy(store, { statusCheckIntervalMs: 0, tenants: { alpha: await open('alpha-l1'), beta: await open('beta-l1') } });
    expect(h.unseal.unsealed.sort()).toEqual(['alpha', 'beta']);
    expect(await material(store, h.protector, 'alpha', uidA)).toEqual(matA);
    expect(await material(store, h.protector, 'beta', uidB)).toEqual(matB);

    // The customer destroys alpha's key in its HSM: the status check seals alpha.
    expect(hsm.destroyKey(TOKEN, PIN, 'alpha-l1')).toBe(1);
    await h.engine.checkL1Status();
    expect(h.engine.status('alpha')).toMatchObject({ sealed: true, sealKind: 'l1-status' });
    expect(await reasonOf(material(store, h.protector, 'alpha', uidA))).toBe(ResultReason.PermissionDenied);
    expect(await material(store, h.protector, 'beta', uidB)).toEqual(matB);
    await h.close();
    await store.close();
    await closeProviders();

    // Restart without the key: alpha cannot be opened at all; beta serves.
    store = await openSqliteStore(dbPath);
    const alphaL1 = await open('alpha-l1');
    expect(alphaL1).toBeInstanceOf(Error);
    h = await openHierarchy(store, { statusCheckIntervalMs: 0, retryIntervalMs: 0, tenants: { alpha: alphaL1, beta: await open('beta-l1') } });
    expect(h.unseal.unsealed).toEqual(['beta']);
    expect(h.unseal.sealed).toEqual([{ tenant: 'alpha', reason: expect.stringContaining('unseal failed: L1 unavailable') }]);
    expect(await reasonOf(material(store, h.protector, 'alpha', uidA))).toBe(ResultReason.PermissionDenied);
    expect(await reasonOf(createKey(store, h.protector, 'alpha'))).toBe(ResultReason.PermissionDenied);
    expect(await material(store, h.protector, 'beta', uidB)).toEqual(matB);
    await createKey(store, h.protector, 'beta');
    await h.close();
    await store.close();
    await closeProviders();
  });
});
