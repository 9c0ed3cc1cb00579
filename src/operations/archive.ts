// Archive (KMIP 2.1 s.6.1 Archive; 1.4 s.4 Archive): the object's key material goes to archival storage.
// Where and how it is kept is the server's choice (1.4 s.4 Archive): here it stays in the store,
// wrapped by the tenant's hierarchy as always, and is off-line — every operation that needs
// the material answers Object Archived (Get, the cryptographic operations, wrapping: Wrapping
// Object Archived) until Recover. Attributes stay readable; Locate finds the object only
// when its Storage Status Mask asks for Archival Storage.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { archive as archiveObject } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

export const archive = defineOperation(Operation.Archive, 'Archive', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const obj = await loadObject(ctx, uid);
  const now = ctx.now();
  archiveObject(obj, now);
  touch(obj, now);
  await ctx.objects.save(obj);
  return uidResponse(uid);
});
