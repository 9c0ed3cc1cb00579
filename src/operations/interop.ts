// Interop (KMIP 2.1 s.6.1.26): Begin / End / Reset markers that the OASIS test cases send
// around every scenario. The server keeps no per-test state, so each is acknowledged.
import { InteropFunction, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { optEnum, optText, required, structure } from '../kmip/items.ts';
import { defineOperation } from './uid.ts';

const FUNCTIONS: ReadonlySet<number> = new Set(Object.values(InteropFunction));

export const interop = defineOperation(Operation.Interop, 'Interop', '2.0', async (ctx, payload) => {
  const fn = required(optEnum(payload, Tag.InteropFunction), Tag.InteropFunction);
  if (!FUNCTIONS.has(fn)) throw new KmipError(ResultReason.InvalidField, `unknown Interop Function 0x${fn.toString(16)}`);
  const id = optText(payload, Tag.InteropIdentifier);
  ctx.log.info({ interopFunction: fn, interopIdentifier: id }, 'interop marker');
  return structure(Tag.ResponsePayload, []);
});
