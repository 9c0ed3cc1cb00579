// Destroy (KMIP 2.1 s.6.1.15; 1.4 s.4.21): the key material goes, the metadata stays.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { destroy as destroyObject } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';
import { assertVisibleObject } from './common/templates.ts';

export const destroy = defineOperation(Operation.Destroy, 'Destroy', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const obj = await loadObject(ctx, uid);
  assertVisibleObject(ctx, obj); // a Template exists for 1.x clients only (1.4 s.2.2.6)
  const now = ctx.now();
  // s.6.1.15.1: an Active object cannot be destroyed (Wrong Key Lifecycle State; the 1.4
  // vectors expect Permission Denied, see reasonForVersion).
  destroyObject(obj, now);
  // The value is dropped from the object; the repository then stores no wrapped blob for it.
  delete obj.value;
  touch(obj, now);
  await ctx.objects.save(obj);
  return uidResponse(uid);
});
