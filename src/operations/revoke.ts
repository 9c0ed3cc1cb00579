// Revoke (KMIP 2.1 s.6.1.44; 1.4 s.4.20).
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { optDate, optStruct, required } from '../kmip/items.ts';
import { revoke as revokeObject } from '../policy/lifecycle.ts';
import { defineOperation, loadObject, resolveUid, touch, uidResponse } from './uid.ts';

export const revoke = defineOperation(Operation.Revoke, 'Revoke', '1.0', async (ctx, payload) => {
  const uid = resolveUid(ctx, payload);
  // Revocation Reason is REQUIRED (s.6.1.44 request table): Invalid Field when absent.
  const reason = required(optStruct(payload, Tag.RevocationReason), Tag.RevocationReason);
  const occurrence = optDate(payload, Tag.CompromiseOccurrenceDate);
  const obj = await loadObject(ctx, uid);
  const now = ctx.now();
  revokeObject(obj, reason, now, occurrence);
  touch(obj, now);
  await ctx.objects.save(obj);
  return uidResponse(uid);
});
