import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContextFor, makeTestContext, type TestContext } from '../helpers/context.ts';
import { structure, byteString, enumeration, textString } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { ObjectType, State, KeyFormatType } from '../../src/ttlv/generated/enumerations.ts';

const key = Buffer.alloc(32, 0x5a);
const symmetricKey = () =>
  structure(Tag.SymmetricKey, [
    structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, KeyFormatType.Raw), structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)])]),
  ]);

describe('test/helpers/context.ts', () => {
  let t: TestContext | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('builds a working context whose repository round-trips a value', async () => {
    t = await makeTestContext({ version: { major: 1, minor: 4 }, tenant: 'acme' });
    expect(t.ctx.version).toEqual({ major: 1, minor: 4 });
    expect(t.ctx.identity.tenant).toBe('acme');
    expect(t.ctx.server.l1.provider).toBe('software');
    expect(t.ctx.server.l1.developmentOnly).toBe(true);
    expect(t.ctx.operations).toBeInstanceOf(Map);
    // Once src/operations/registry.ts exists, ctx.operations is its exported map.
    const registry = new URL('../../src/operations/registry.ts', import.meta.url);
    if (existsSync(registry)) {
      const mod = (await import(registry.href)) as Record<string, unknown>;
      expect(Object.values(mod)).toContain(t.ctx.operations);
      for (const [op, h] of t.ctx.operations) {
        expect(h.operation).toBe(op);
        expect(typeof h.run).toBe('function');
      }
    }
    const created = await t.ctx.objects.create({
      uid: 'u1', objectType: ObjectType.SymmetricKey, state: State.PreActive,
      attributes: [structure(Tag.Name, [textString(Tag.NameValue, 'k1')])], value: symmetricKey(),
    });
    expect(created).toMatchObject({ tenant: 'acme', service: 'test-service', revision: 0 });
    const loaded = await t.ctx.objects.load('u1');
    expect(loaded?.value).toEqual(symmetricKey());
  });

  it('makeContextFor gives a second tenant that sees nothing of the first', async () => {
    t = await makeTestContext();
    await t.repo.create({ uid: 'mine', objectType: ObjectType.SymmetricKey, state: State.Active, attributes: [], value: symmetricKey() });
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc');
    expect(await other.ctx.objects.load('mine')).toBeUndefined();
    const seen = [];
    for await (const o of other.ctx.objects.scan({})) seen.push(o);
    expect(seen).toEqual([]);
    expect(other.ctx.batch).not.toBe(t.ctx.batch);
  });
});
