// KMIP 1.x Template objects (1.4 s.2.2.6) and Template Names in Template-Attributes
// (1.4 s.2.1.8), through the version adapters as the server runs them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTestContext, type TestContext } from '../helpers/context.ts';
import { requestToInternal, responseFromInternal } from '../../src/kmip/adapters/index.ts';
import { create } from '../../src/operations/create.ts';
import { createKeyPair } from '../../src/operations/create-key-pair.ts';
import { register } from '../../src/operations/register.ts';
import { get } from '../../src/operations/get.ts';
import { getAttributes } from '../../src/operations/get-attributes.ts';
import { locate } from '../../src/operations/locate.ts';
import { destroy } from '../../src/operations/destroy.ts';
import { query } from '../../src/operations/query.ts';
import { activate } from '../../src/operations/activate.ts';
import { addAttribute } from '../../src/operations/add-attribute.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { child, children, enumeration, integer, structure, textString, type Struct } from '../../src/kmip/items.ts';
import type { ProtocolVersion } from '../../src/kmip/version.ts';
import type { OperationHandler } from '../../src/operations/types.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import {
  CryptographicAlgorithm as Alg, CryptographicUsageMask as CUM, NameType, ObjectType, QueryFunction, ResultReason,
} from '../../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

const V14: ProtocolVersion = { major: 1, minor: 4 };
const V21: ProtocolVersion = { major: 2, minor: 1 };

let t: TestContext;
beforeEach(async () => { t = await makeTestContext({ version: V14 }); });
afterEach(async () => { await t.close(); });

const name = (v: string) => structure(Tag.Name, [textString(Tag.NameValue, v), enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
/** 1.x Attribute{Attribute Name, Attribute Value}. */
const a1 = (n: string, value: TtlvItem) => structure(Tag.Attribute, [textString(Tag.AttributeName, n), { ...value, tag: Tag.AttributeValue } as TtlvItem]);
const nameAttr = (v: string) => a1('Name', name(v));
const payload = (...items: TtlvItem[]) => structure(Tag.RequestPayload, items);

/** Runs a handler on a request in the wire form of `version` and returns the response in that form. */
async function run(h: OperationHandler, p: Struct, version: ProtocolVersion = V14): Promise<Struct> {
  t.ctx.version = version;
  const internal = requestToInternal(version, h.operation, p);
  return responseFromInternal(version, h.operation, await h.run(t.ctx, internal));
}
const reasonOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try { await p; } catch (e) { if (e instanceof KmipError) return e.reason; throw e; }
  return undefined;
};
const uidOf = (r: Struct) => (child(r, Tag.UniqueIdentifier) as { value: string }).value;
const attrOf = (o: { attributes: TtlvItem[] }, tag: number) => o.attributes.filter((a) => a.tag === tag);

/** Registers (1.4) a Template named `n` holding `attrs`. */
async function registerTemplate(n: string, attrs: TtlvItem[]): Promise<string> {
  const r = await run(register, payload(
    enumeration(Tag.ObjectType, ObjectType.Template),
    structure(Tag.TemplateAttribute, [nameAttr(n)]),
    structure(Tag.Template, attrs),
  ));
  return uidOf(r);
}

const AES_128_TEMPLATE = () => [
  a1('Cryptographic Algorithm', enumeration(0, Alg.AES)),
  a1('Cryptographic Length', integer(0, 128)),
  a1('Cryptographic Usage Mask', integer(0, CUM.Encrypt | CUM.Decrypt)),
  a1('Object Group', textString(0, 'from-template')),
];

describe('Template objects (1.x)', () => {
  it('Register stores a Template; Get returns Template{Attribute…}; Locate finds it by Name and Object Type', async () => {
    const uid = await registerTemplate('tmpl-aes', AES_128_TEMPLATE());
    const stored = (await t.repo.load(uid))!;
    expect(stored.objectType).toBe(ObjectType.Template);
    expect(attrOf(stored, Tag.Name)).toHaveLength(1);

    const g = await run(get, payload(textString(Tag.UniqueIdentifier, uid)));
    expect(child(g, Tag.ObjectType)).toMatchObject({ value: ObjectType.Template });
    const tmpl = child(g, Tag.Template) as Struct;
    const names = children(tmpl, Tag.Attribute).map((a) => (child(a as Struct, Tag.AttributeName) as { value: string }).value);
    expect(names).toEqual(['Cryptographic Algorithm', 'Cryptographic Length', 'Cryptographic Usage Mask', 'Object Group']);

    const byName = await run(locate, payload(nameAttr('tmpl-aes')));
    expect(children(byName, Tag.UniqueIdentifier).map((c) => c.value)).toEqual([uid]);
    const byType = await run(locate, payload(a1('Object Type', enumeration(0, ObjectType.Template))));
    expect(children(byType, Tag.UniqueIdentifier).map((c) => c.value)).toEqual([uid]);

    const ga = await run(getAttributes, payload(textString(Tag.UniqueIdentifier, uid), textString(Tag.AttributeName, 'Name')));
    expect(children(ga, Tag.Attribute)).toHaveLength(1);
  });

  it('a 2.x client never sees a Template: Get, Get Attributes, Destroy, Locate, Query, Register', async () => {
    const uid = await registerTemplate('tmpl-hidden', AES_128_TEMPLATE());
    const notFound = ResultReason.ObjectNotFound;
    expect(await reasonOf(run(get, payload(textString(Tag.UniqueIdentifier, uid)), V21))).toBe(notFound);
    expect(await reasonOf(run(getAttributes, payload(textString(Tag.UniqueIdentifier, uid)), V21))).toBe(notFound);
    expect(await reasonOf(run(destroy, payload(textString(Tag.UniqueIdentifier, uid)), V21))).toBe(notFound);
    // Every other operation that addresses it by identifier, too (src/operations/uid.ts loadObject).
    expect(await reasonOf(run(activate, payload(textString(Tag.UniqueIdentifier, uid)), V21))).toBe(notFound);
    expect(await reasonOf(run(addAttribute, payload(textString(Tag.UniqueIdentifier, uid),
      structure(Tag.NewAttribute, [textString(Tag.ContactInformation, 'ops')])), V21))).toBe(notFound);
    const l = await run(locate, payload(structure(Tag.Attributes, [enumeration(Tag.ObjectType, ObjectType.Template)])), V21);
    expect(children(l, Tag.UniqueIdentifier)).toHaveLength(0);

    const q = await run(query, payload(enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)), V21);
    expect(children(q, Tag.ObjectType).map((c) => c.value)).not.toContain(ObjectType.Template);
    const q14 = await run(query, payload(enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)), V14);
    expect(children(q14, Tag.ObjectType).map((c) => c.value)).toContain(ObjectType.Template);

    // 2.x Register of Object Type Template: the type does not exist there.
    expect(await reasonOf(run(register, payload(
      enumeration(Tag.ObjectType, ObjectType.Template), structure(Tag.Attributes, [name('x')]),
    ), V21))).toBe(ResultReason.InvalidObjectType);
  });

  it('Destroy of a Template drops its attribute list; it can no longer be referenced', async () => {
    const uid = await registerTemplate('tmpl-gone', AES_128_TEMPLATE());
    await run(destroy, payload(textString(Tag.UniqueIdentifier, uid)));
    expect((await t.repo.load(uid))?.value).toBeUndefined();
    expect(await reasonOf(run(create, payload(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.TemplateAttribute, [name('tmpl-gone')]),
    )))).toBe(ResultReason.ItemNotFound);
  });

  it('refuses a Template holding a server-set attribute, and stores nothing', async () => {
    const reason = await reasonOf(registerTemplate('bad', [a1('Initial Date', { tag: 0, type: 'DateTime', value: 1000n })]));
    expect(reason).toBe(ResultReason.AttributeReadOnly); // 2.1 s.6.1.43.1: server-set attributes are read-only
    const l = await run(locate, payload(a1('Object Type', enumeration(0, ObjectType.Template))));
    expect(children(l, Tag.UniqueIdentifier)).toHaveLength(0);
  });

  it('Re-key applies a template named in its Template-Attribute', async () => {
    await registerTemplate('grp', [a1('Object Group', textString(0, 'rekeyed'))]);
    const c = await run(create, payload(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [a1('Cryptographic Algorithm', enumeration(0, Alg.AES)), a1('Cryptographic Length', integer(0, 128))]),
    ));
    const { reKey } = await import('../../src/operations/re-key.ts');
    const r = await run(reKey, payload(textString(Tag.UniqueIdentifier, uidOf(c)), structure(Tag.TemplateAttribute, [name('grp')])));
    const fresh = (await t.repo.load(uidOf(r)))!;
    expect(attrOf(fresh, Tag.ObjectGroup)).toMatchObject([{ value: 'rekeyed' }]);
  });
});

describe('Template Names in a Template-Attribute (1.4 s.2.1.8)', () => {
  it('Create applies the template, explicit attributes win, and the template Name is not inherited', async () => {
    await registerTemplate('tmpl-aes', AES_128_TEMPLATE());
    const r = await run(create, payload(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        name('tmpl-aes'),
        a1('Cryptographic Length', integer(0, 256)),
        nameAttr('my-key'),
      ]),
    ));
    const key = (await t.repo.load(uidOf(r)))!;
    expect(attrOf(key, Tag.CryptographicAlgorithm)).toMatchObject([{ value: Alg.AES }]);
    expect(attrOf(key, Tag.CryptographicLength)).toMatchObject([{ value: 256 }]);
    expect(attrOf(key, Tag.CryptographicUsageMask)).toMatchObject([{ value: CUM.Encrypt | CUM.Decrypt }]);
    expect(attrOf(key, Tag.ObjectGroup)).toMatchObject([{ value: 'from-template' }]);
    const keyNames = attrOf(key, Tag.Name).map((n) => (child(n as Struct, Tag.NameValue) as { value: string }).value);
    expect(keyNames).toEqual(['my-key']);
  });

  it('a later template overrides an earlier one', async () => {
    await registerTemplate('t1', AES_128_TEMPLATE());
    await registerTemplate('t2', [a1('Cryptographic Length', integer(0, 192))]);
    const r = await run(create, payload(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [name('t1'), name('t2')]),
    ));
    const key = (await t.repo.load(uidOf(r)))!;
    expect(attrOf(key, Tag.CryptographicLength)).toMatchObject([{ value: 192 }]);
    expect(attrOf(key, Tag.CryptographicAlgorithm)).toMatchObject([{ value: Alg.AES }]);
  });

  it('an unknown template name is Item Not Found', async () => {
    expect(await reasonOf(run(create, payload(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [name('no-such-template')]),
    )))).toBe(ResultReason.ItemNotFound);
  });

  it('Create Key Pair resolves names in the Common / Private / Public Template-Attributes', async () => {
    await registerTemplate('rsa', [
      a1('Cryptographic Algorithm', enumeration(0, Alg.RSA)), a1('Cryptographic Length', integer(0, 2048)),
    ]);
    await registerTemplate('priv', [a1('Cryptographic Usage Mask', integer(0, CUM.Sign))]);
    const r = await run(createKeyPair, payload(
      structure(Tag.CommonTemplateAttribute, [name('rsa')]),
      structure(Tag.PrivateKeyTemplateAttribute, [name('priv')]),
      structure(Tag.PublicKeyTemplateAttribute, [a1('Cryptographic Usage Mask', integer(0, CUM.Verify))]),
    ));
    const priv = (await t.repo.load((child(r, Tag.PrivateKeyUniqueIdentifier) as { value: string }).value))!;
    expect(attrOf(priv, Tag.CryptographicAlgorithm)).toMatchObject([{ value: Alg.RSA }]);
    expect(attrOf(priv, Tag.CryptographicLength)).toMatchObject([{ value: 2048 }]);
    expect(attrOf(priv, Tag.CryptographicUsageMask)).toMatchObject([{ value: CUM.Sign }]);
  });

  it('templates are per tenant: another tenant cannot use the name', async () => {
    await registerTemplate('mine', AES_128_TEMPLATE());
    const { makeContextFor } = await import('../helpers/context.ts');
    const other = await makeContextFor(t.store, t.protector, 'other-tenant', 'svc', { version: V14 });
    const internal = requestToInternal(V14, create.operation, payload(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey), structure(Tag.TemplateAttribute, [name('mine')]),
    ));
    expect(await reasonOf(create.run(other.ctx, internal))).toBe(ResultReason.ItemNotFound);
  });
});
