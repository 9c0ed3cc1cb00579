// Re-key Key Pair (KMIP 2.1 s.6.1.47; 1.4 s.4.5): a new key pair replaces an existing one.
import { LinkType, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, isStructure, structure, textString, type Struct } from '../kmip/items.ts';
import type { ManagedObject } from '../kmip/object.ts';
import { checkClientAttributes, getAttrs, setAttr } from '../policy/attributes.ts';
import { assertHasValue } from '../policy/lifecycle.ts';
import { mergeAttributes, pairSpec, storeKeyPair } from './create-key-pair.ts';
import { loadObject } from './get.ts';
import { inheritedAttributes, namesForReplacement, offsetOf, replacementDates, retire } from './re-key.ts';
import { recordResult, resolveUidReference } from './uid.ts';
import { attributesOf, checkProtectionStorageMasks, link } from './common/new-object.ts';
import type { OperationContext, OperationHandler } from './types.ts';
import { applyTemplates } from './common/templates.ts';

/** The object a Link of the given type points to (s.4.30), if any. */
function linked(obj: ManagedObject, type: number): string | undefined {
  for (const l of getAttrs(obj.attributes, Tag.Link)) {
    if (!isStructure(l)) continue;
    const t = child(l, Tag.LinkType);
    const id = child(l, Tag.LinkedObjectIdentifier);
    if (t?.type === 'Enumeration' && t.value === type && id?.type === 'TextString') return id.value;
  }
  return undefined;
}

function requestedAttrs(payload: Struct, tag: number, objectType: number): TtlvItem[] {
  const list = [...(attributesOf(payload, tag)?.value ?? [])];
  checkClientAttributes(list, 'create', { objectType });
  return list;
}

async function run(ctx: OperationContext, request: Struct): Promise<Struct> {
  // 1.4 s.2.1.8: attributes of the named Template objects, under the explicit ones.
  const payload = await applyTemplates(ctx, request);
  // s.6.1.47: the request names the Private Key (ID Placeholder when omitted).
  const refs = resolveUidReference(ctx, child(payload, Tag.PrivateKeyUniqueIdentifier));
  if (refs.length !== 1) throw new KmipError(ResultReason.InvalidField, 'Private Key Unique Identifier must name one object');
  const offset = offsetOf(payload);
  checkProtectionStorageMasks(payload, Tag.CommonProtectionStorageMasks);
  checkProtectionStorageMasks(payload, Tag.PrivateProtectionStorageMasks);
  checkProtectionStorageMasks(payload, Tag.PublicProtectionStorageMasks);
  const common = requestedAttrs(payload, Tag.CommonAttributes, ObjectType.PrivateKey);
  const privReq = mergeAttributes(common, requestedAttrs(payload, Tag.PrivateKeyAttributes, ObjectType.PrivateKey));
  const pubReq = mergeAttributes(common, requestedAttrs(payload, Tag.PublicKeyAttributes, ObjectType.PublicKey));

  const oldPriv = await loadObject(ctx, refs[0]!);
  if (oldPriv.objectType !== ObjectType.PrivateKey) {
    throw new KmipError(ResultReason.InvalidObjectType, 'Re-key Key Pair takes the Unique Identifier of a Private Key');
  }
  assertHasValue(oldPriv);
  const pubUid = linked(oldPriv, LinkType.PublicKeyLink);
  const oldPub = pubUid === undefined ? undefined : await ctx.objects.load(pubUid);
  if (oldPub === undefined || oldPub.objectType !== ObjectType.PublicKey) {
    throw new KmipError(ResultReason.ItemNotFound, 'the Private Key has no linked Public Key to replace');
  }

  const now = ctx.now();
  const build = async (old: ManagedObject, req: TtlvItem[]) => {
    const names = await namesForReplacement(ctx, old, req);
    // the old pair's links point at each other; the new pair gets fresh ones
    const attrs = inheritedAttributes(old, req.filter((a) => a.tag !== Tag.Name));
    for (const d of replacementDates(old.attributes, now, offset)) setAttr(attrs, d);
    return [...attrs, ...names];
  };
  const privAttrs = await build(oldPriv, privReq);
  const pubAttrs = await build(oldPub, pubReq);
  const spec = pairSpec(privAttrs, pubAttrs);

  const { priv, pub } = await storeKeyPair(ctx, {
    spec, privateAttributes: privAttrs, publicAttributes: pubAttrs,
    privateExtra: [link(LinkType.ReplacedObjectLink, oldPriv.uid)],
    publicExtra: [link(LinkType.ReplacedObjectLink, oldPub.uid)],
  });
  await retire(ctx, oldPriv, priv.uid);
  await retire(ctx, oldPub, pub.uid);
  recordResult(ctx, Operation.ReKeyKeyPair, [priv.uid, pub.uid], { setPlaceholder: true });
  return structure(Tag.ResponsePayload, [
    textString(Tag.PrivateKeyUniqueIdentifier, priv.uid),
    textString(Tag.PublicKeyUniqueIdentifier, pub.uid),
  ]);
}

export const reKeyKeyPair: OperationHandler = { operation: Operation.ReKeyKeyPair, name: 'ReKeyKeyPair', since: '1.1', run };
