// Export (KMIP 2.1 s.6.1.18, since 2.0): Get and Get Attributes in one operation. The
// request is Get's (Unique Identifier, Key Format Type, Key Wrap Type, Key Compression Type,
// Key Wrapping Specification); the response is Object Type, Unique Identifier, Attributes
// (every attribute of the object) and the object, as a later Import expects it.
//
// The object part is Get's, so every rule of Get applies unchanged: destroyed objects,
// Sensitive / Extractable, format conversion, wrapping, and Fresh becoming false.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { child, structure, textString } from '../kmip/items.ts';
import { withObjectMeta } from '../policy/attributes.ts';
import { objectNotFoundReason } from '../policy/lifecycle.ts';
import { get } from './get.ts';
import { assertKmip2, defineOperation, resolveUid } from './uid.ts';

export const exportObject = defineOperation(Operation.Export, 'Export', '2.0', async (ctx, payload) => {
  assertKmip2(ctx, 'Export');
  const uid = resolveUid(ctx, payload);
  // Get with the reference resolved once, so both halves address the same object.
  const request = structure(payload.tag, [
    textString(Tag.UniqueIdentifier, uid), ...payload.value.filter((c) => c.tag !== Tag.UniqueIdentifier),
  ]);
  const got = await get.run(ctx, request);
  // The attributes as they are after Get served the object (Fresh is now false).
  const obj = await ctx.objects.load(uid);
  if (obj === undefined) throw new KmipError(objectNotFoundReason(ctx.version), `object ${uid} not found`);
  const objectType = child(got, Tag.ObjectType);
  const value = got.value.filter((c) => c.tag !== Tag.ObjectType && c.tag !== Tag.UniqueIdentifier);
  if (objectType === undefined || value.length !== 1) {
    throw new Error('Get returned no object to export');
  }
  return structure(Tag.ResponsePayload, [
    objectType, textString(Tag.UniqueIdentifier, uid), structure(Tag.Attributes, withObjectMeta(obj)), ...value,
  ]);
});
