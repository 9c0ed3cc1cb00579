// fast-check properties of the version adapters:
//   A1 every standard attribute (right type) and every x-/y- custom attribute survives
//      1.x → 2.x → 1.x unchanged;
//   A2 any request payload, of any operation, in any version, is either converted or
//      refused with a KmipError — never another exception (bad input is a client error);
//   A3 any internal response, for any version, converts without throwing, and the result
//      holds no tag, type, enumeration value or mask bit the version does not define
//      (the filter is idempotent on its own output).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation } from '../../src/ttlv/generated/enumerations.ts';
import type { ItemTypeName } from '../../src/ttlv/generated/itemTypes.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { structure, textString, type Struct } from '../../src/kmip/items.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { ATTRIBUTES } from '../../src/kmip/attribute-names.ts';
import {
  attributeFromV1, attributeToV1, filterForVersion, requestToInternal, responseFromInternal,
} from '../../src/kmip/adapters/index.ts';

const RUNS = Number(process.env.ADAPTER_PROPERTY_RUNS ?? 300);
const VERSIONS = [[1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [2, 0], [2, 1]].map(([major, minor]) => ({ major: major!, minor: minor! }));

const scalar = (type: ItemTypeName, tag: number): fc.Arbitrary<TtlvItem> => {
  switch (type) {
    case 'Integer': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ tag, type, value }));
    case 'Enumeration': return fc.integer({ min: 0, max: 0xffffffff }).map((value) => ({ tag, type, value }));
    case 'Interval': return fc.integer({ min: 0, max: 0xffffffff }).map((value) => ({ tag, type, value }));
    case 'Boolean': return fc.boolean().map((value) => ({ tag, type, value }));
    case 'TextString': return fc.string({ maxLength: 12 }).map((value) => ({ tag, type, value }));
    case 'ByteString': return fc.uint8Array({ maxLength: 12 }).map((a) => ({ tag, type, value: Buffer.from(a) }));
    case 'LongInteger': return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ tag, type, value }));
    case 'BigInteger': return fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((value) => ({ tag, type, value }));
    case 'DateTime': return fc.bigInt({ min: 0n, max: 2n ** 40n }).map((value) => ({ tag, type, value }));
    case 'DateTimeExtended': return fc.bigInt({ min: 0n, max: 2n ** 50n }).map((value) => ({ tag, type, value }));
    default: return fc.constant({ tag, type: 'Structure', value: [] });
  }
};

const SCALAR_TYPES: ItemTypeName[] = ['Integer', 'Enumeration', 'Interval', 'Boolean', 'TextString', 'ByteString', 'LongInteger', 'BigInteger', 'DateTime', 'DateTimeExtended'];
/** Tags that matter to the adapters, weighted above random ones. */
const INTERESTING = [
  Tag.Attribute, Tag.AttributeName, Tag.AttributeValue, Tag.AttributeIndex, Tag.TemplateAttribute, Tag.CommonTemplateAttribute,
  Tag.PrivateKeyTemplateAttribute, Tag.PublicKeyTemplateAttribute, Tag.Attributes, Tag.CommonAttributes, Tag.AttributeReference,
  Tag.NewAttribute, Tag.CurrentAttribute, Tag.VendorIdentification, Tag.Name, Tag.SymmetricKey, Tag.KeyBlock, Tag.KeyValue,
  Tag.KeyMaterial, Tag.Template, Tag.CertificateRequest, Tag.UniqueIdentifier, Tag.CryptographicUsageMask, Tag.State,
  Tag.ObjectType, Tag.Operation, Tag.Fresh, Tag.LocatedItems, Tag.OperationPolicyName, Tag.ShortUniqueIdentifier,
];
const tagArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INTERESTING) },
  { weight: 2, arbitrary: fc.constantFrom(...Object.values(Tag)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x540000, max: 0x540010 }) },
);
/** Attribute names that resolve, that are custom, and that do not. */
const nameArb = fc.oneof(
  fc.constantFrom(...[...ATTRIBUTES.values()].map((d) => d.specName)),
  fc.string({ maxLength: 6 }).map((s) => `x-${s}`),
  fc.string({ maxLength: 10 }),
);

const { tree } = fc.letrec<{ tree: TtlvItem; node: TtlvItem }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('node'),
    fc.tuple(tagArb, fc.array(tie('tree'), { maxLength: 4 })).map(([tag, value]) => ({ tag, type: 'Structure', value }) as TtlvItem),
    // Plausible 1.x Attribute structures, often with a resolvable name.
    fc.tuple(nameArb, fc.option(fc.integer({ min: -2, max: 3 })), tie('node')).map(([n, idx, val]) => structure(Tag.Attribute, [
      textString(Tag.AttributeName, n),
      ...(idx === null ? [] : [{ tag: Tag.AttributeIndex, type: 'Integer', value: idx } as TtlvItem]),
      { ...val, tag: Tag.AttributeValue } as TtlvItem,
    ])),
  ),
  node: fc.tuple(tagArb, fc.constantFrom(...SCALAR_TYPES)).chain(([tag, type]) => scalar(type, tag)),
}));

const payloadArb = (tag: number) => fc.array(tree, { maxLength: 6 }).map((value) => structure(tag, value));
const opArb = fc.constantFrom(...Object.values(Operation));
const versionArb = fc.constantFrom(...VERSIONS);

/** Every item of `t` is defined in `v` — checked by running the filter again: a fixed point. */
function isFixedPoint(t: TtlvItem, v: { major: number; minor: number }): boolean {
  return filterForVersion(t, v) === t;
}

describe('adapter properties', () => {
  it('A1: standard and custom attributes round-trip 1.x → 2.x → 1.x', () => {
    const attrArb = fc.oneof(
      fc.constantFrom(...ATTRIBUTES.values()).chain((d) => (d.type === 'Structure'
        ? fc.array(tree, { maxLength: 3 }).map((value) => ({ tag: Tag.AttributeValue, type: 'Structure', value }) as TtlvItem)
        : scalar(d.type, Tag.AttributeValue)).map((val) => ({ name: d.specName, val }))),
      // a 1.x Attribute Value has a 1.x item type: Date Time Extended (2.0+) is Invalid Field
      fc.tuple(fc.constantFrom('x', 'y'), fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom<ItemTypeName>(...SCALAR_TYPES.filter((t) => t !== 'DateTimeExtended')))
        .chain(([p, n, type]) => scalar(type, Tag.AttributeValue).map((val) => ({ name: `${p}-${n}`, val }))),
    );
    fc.assert(fc.property(attrArb, ({ name, val }) => {
      const v1 = structure(Tag.Attribute, [textString(Tag.AttributeName, name), val]);
      expect(attributeToV1(attributeFromV1(v1))).toEqual(v1);
    }), { numRuns: RUNS });
  });

  it('A2: any request converts or fails with a KmipError', () => {
    fc.assert(fc.property(versionArb, opArb, payloadArb(Tag.RequestPayload), (v, op, p) => {
      try {
        const out = requestToInternal(v, op, p);
        expect(out.type).toBe('Structure');
      } catch (e) {
        if (!(e instanceof KmipError)) throw e;
        expect(e.message.length).toBeGreaterThan(0);
      }
    }), { numRuns: RUNS * 3 });
  });

  it('A3: any internal response converts, and holds only what the version defines', () => {
    fc.assert(fc.property(versionArb, opArb, payloadArb(Tag.ResponsePayload), (v, op, p) => {
      const out: Struct = responseFromInternal(v, op, p);
      expect(out.tag).toBe(Tag.ResponsePayload);
      expect(isFixedPoint(out, v)).toBe(true);
    }), { numRuns: RUNS * 3 });
  });
});
