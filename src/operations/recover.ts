// Recover (KMIP 2.1 s.6.1 Recover; 1.4 s.4 Recover): an archived object comes back on-line (its
// Archive Date is deleted, s.4 Archive Date) and may be used again. Recover of an object
// that is not archived changes nothing and succeeds: the object is on-line, which is what
// the client asked for. Recover sets the ID Placeholder (s.6.1 intro).
import { Operation } from '../ttlv/generated/enumerations.ts';
import { recover as recoverObject } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, recordResult, resolveUid, touch, uidResponse } from './uid.ts';

export const recover = defineOperation(Operation.Recover, 'Recover', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  const obj = await loadObject(ctx, uid);
  if (recoverObject(obj)) {
    touch(obj, ctx.now());
    await ctx.objects.save(obj);
  }
  recordResult(ctx, Operation.Recover, [uid], { setPlaceholder: true });
  return uidResponse(uid);
});
