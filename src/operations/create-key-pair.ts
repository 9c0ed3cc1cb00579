// Create Key Pair (KMIP 2.1 s.6.1.9; 1.4 s.4.2): the server generates an RSA, EC or
// Ed25519 key pair and stores it as a Private Key and a Public Key linked to each other.
import { LinkType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, enumeration, integer, isStructure, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { defaultFormat, produceKeyMaterial, type ParsedKey } from '../crypto/formats.ts';
import { generateKeyPair, resolveAsymmetricSpec, type AsymmetricSpec } from '../crypto/keys.ts';
import { ATTRIBUTE_RULES, getAttr } from '../policy/attributes.ts';
import { recordResult } from './uid.ts';
import {
  assertNamesFree, assertQuantumSafeIfAsked, attrEnum, attrInt, attributesOf, checkProtectionStorageMasks, clientAttributes, keyBlock, link, newUid,
  storeNewObject, withKmipErrors, withKmipErrorsAsync,
} from './common/new-object.ts';
import type { OperationContext, OperationHandler } from './types.ts';
import { applyTemplates } from './common/templates.ts';

/**
 * s.6.1.9: Common Attributes apply to both keys; a Private/Public Key Attributes value of a
 * single-instance attribute overrides the common one, multi-instance ones add up.
 */
export function mergeAttributes(common: readonly TtlvItem[], specific: readonly TtlvItem[]): TtlvItem[] {
  const out = common.filter((c) => {
    const rule = ATTRIBUTE_RULES.get(c.tag);
    return rule === undefined || rule.multi || !specific.some((s) => s.tag === c.tag);
  });
  return [...out, ...specific];
}

/** The curve of Cryptographic Domain Parameters{Recommended Curve} (s.4.12), if given. */
function curveOf(attrs: readonly TtlvItem[]): number | undefined {
  const p = getAttr(attrs, Tag.CryptographicDomainParameters);
  if (p === undefined) return undefined;
  if (!isStructure(p)) throw new KmipError(ResultReason.InvalidAttributeValue, 'Cryptographic Domain Parameters must be a Structure');
  const c = child(p, Tag.RecommendedCurve);
  if (c === undefined) return undefined;
  if (c.type !== 'Enumeration') throw new KmipError(ResultReason.InvalidAttributeValue, 'Recommended Curve must be an Enumeration');
  return c.value;
}

/** One value for an attribute that both halves must agree on; InvalidField when they differ. */
function agree(what: string, a: number | undefined, b: number | undefined): number | undefined {
  if (a !== undefined && b !== undefined && a !== b) throw new KmipError(ResultReason.InvalidField, `the private and public keys ask for different ${what}`);
  return a ?? b;
}

/** The key-pair parameters requested in the two attribute lists (s.6.1.9: Cryptographic Algorithm is required). */
export function pairSpec(priv: readonly TtlvItem[], pub: readonly TtlvItem[]): AsymmetricSpec {
  const algorithm = agree('Cryptographic Algorithm', attrEnum(priv, Tag.CryptographicAlgorithm), attrEnum(pub, Tag.CryptographicAlgorithm));
  if (algorithm === undefined) throw new KmipError(ResultReason.InvalidField, 'Create Key Pair needs a Cryptographic Algorithm');
  const length = agree('Cryptographic Length', attrInt(priv, Tag.CryptographicLength), attrInt(pub, Tag.CryptographicLength));
  const curve = agree('Recommended Curve', curveOf(priv), curveOf(pub));
  return withKmipErrors(() => resolveAsymmetricSpec(algorithm, length, curve));
}

export interface PairInput {
  spec: AsymmetricSpec;
  privateAttributes: TtlvItem[];
  publicAttributes: TtlvItem[];
  /** Extra attributes for each half (Re-key Key Pair: Replaced Object Links, shifted dates). */
  privateExtra?: TtlvItem[];
  publicExtra?: TtlvItem[];
  originalCreationDate?: bigint;
}

/**
 * Generates and stores a key pair: Private Key in PKCS#1 (RSA) or PKCS#8, Public Key in
 * PKCS#1 (RSA) or X.509, each with the server attributes of a new object and a Link to the
 * other half (s.4.30 Public Key Link / Private Key Link).
 */
export async function storeKeyPair(ctx: OperationContext, input: PairInput): Promise<{ priv: ManagedObject; pub: ManagedObject }> {
  const { spec } = input;
  const pair = await withKmipErrorsAsync(() => generateKeyPair(spec));
  const privKey: ParsedKey = { kind: 'private', key: pair.privateKey };
  const pubKey: ParsedKey = { kind: 'public', key: pair.publicKey };
  const family = spec.kind;
  const privFormat = defaultFormat(ObjectType.PrivateKey, family);
  const pubFormat = defaultFormat(ObjectType.PublicKey, family);
  const derived = (): TtlvItem[] => {
    const d = [enumeration(Tag.CryptographicAlgorithm, spec.algorithm), integer(Tag.CryptographicLength, spec.length)];
    if (spec.curve !== undefined) d.push(structure(Tag.CryptographicDomainParameters, [enumeration(Tag.RecommendedCurve, spec.curve)]));
    return d;
  };
  const privUid = newUid();
  const pubUid = newUid();
  const privValue = structure(Tag.PrivateKey, [keyBlock(privFormat, produceKeyMaterial(privKey, privFormat), spec.algorithm, spec.length)]);
  const pubValue = structure(Tag.PublicKey, [keyBlock(pubFormat, produceKeyMaterial(pubKey, pubFormat), spec.algorithm, spec.length)]);

  const priv = await storeNewObject(ctx, {
    uid: privUid, objectType: ObjectType.PrivateKey, value: privValue, parsed: privKey, generated: true,
    attributes: [...input.privateAttributes, link(LinkType.PublicKeyLink, pubUid), ...(input.privateExtra ?? [])],
    derived: derived(),
    ...(input.originalCreationDate !== undefined ? { originalCreationDate: input.originalCreationDate } : {}),
  });
  const pub = await storeNewObject(ctx, {
    uid: pubUid, objectType: ObjectType.PublicKey, value: pubValue, parsed: pubKey, generated: true,
    attributes: [...input.publicAttributes, link(LinkType.PrivateKeyLink, privUid), ...(input.publicExtra ?? [])],
    derived: derived(),
    ...(input.originalCreationDate !== undefined ? { originalCreationDate: input.originalCreationDate } : {}),
  });
  return { priv, pub };
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  // 1.4 s.2.1.8: attributes of the named Template objects, under the explicit ones.
  const payload = await applyTemplates(ctx, request);
  checkProtectionStorageMasks(payload, Tag.CommonProtectionStorageMasks);
  checkProtectionStorageMasks(payload, Tag.PrivateProtectionStorageMasks);
  checkProtectionStorageMasks(payload, Tag.PublicProtectionStorageMasks);
  const common = clientAttributes(attributesOf(payload, Tag.CommonAttributes), 'create', ObjectType.PrivateKey);
  const privOnly = clientAttributes(attributesOf(payload, Tag.PrivateKeyAttributes), 'create', ObjectType.PrivateKey);
  const pubOnly = clientAttributes(attributesOf(payload, Tag.PublicKeyAttributes), 'create', ObjectType.PublicKey);
  const privAttrs = mergeAttributes(common, privOnly);
  const pubAttrs = mergeAttributes(common, pubOnly);
  const spec = pairSpec(privAttrs, pubAttrs);
  assertQuantumSafeIfAsked(privAttrs, spec.algorithm, spec.length);
  assertQuantumSafeIfAsked(pubAttrs, spec.algorithm, spec.length);
  // Names are unique across the server, so also between the two halves.
  await assertNamesFree(ctx, [...privAttrs, ...pubAttrs]);

  const { priv, pub } = await storeKeyPair(ctx, { spec, privateAttributes: privAttrs, publicAttributes: pubAttrs });
  // s.6.1.9: the Private Key's identifier goes into the ID Placeholder.
  recordResult(ctx, Operation.CreateKeyPair, [priv.uid, pub.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [
    textString(Tag.PrivateKeyUniqueIdentifier, priv.uid),
    textString(Tag.PublicKeyUniqueIdentifier, pub.uid),
  ]);
}

export const createKeyPair: OperationHandler = { operation: Operation.CreateKeyPair, name: 'CreateKeyPair', since: '1.0', run };
