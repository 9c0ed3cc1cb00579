// Activate (KMIP 2.1 s.6.1.1; 1.4 s.4.19): Pre-Active → Active, Activation Date = now.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { activate as activateObject } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

export const activate = defineOperation(Operation.Activate, 'Activate', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const obj = await loadObject(ctx, uid);
  const now = ctx.now();
  // s.6.1.1.1: an object that is not Pre-Active → Wrong Key Lifecycle State.
  activateObject(obj, now);
  touch(obj, now);
  await ctx.objects.save(obj);
  return uidResponse(uid);
});
