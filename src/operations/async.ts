// Poll (KMIP 2.1 s.6.1.38; 1.4 s.4.29) and Cancel (2.1 s.6.1.5; 1.4 s.4.28): the follow-up
// operations of asynchronous requests. This server never answers Operation Pending (the
// executor runs every request synchronously and refuses Asynchronous Indicator Mandatory),
// so it never hands out an Asynchronous Correlation Value and no value a client sends can
// name a pending operation of this server. Both operations are answered for exactly that
// situation.
import { CancellationResult, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, enumeration, optBytes, required, structure, type Struct } from '../kmip/items.ts';
import { defineOperation } from './uid.ts';

function correlationValue(payload: Struct): Buffer {
  const v = required(optBytes(payload, Tag.AsynchronousCorrelationValue), Tag.AsynchronousCorrelationValue);
  if (v.length === 0) throw new KmipError(ResultReason.InvalidField, 'Asynchronous Correlation Value is empty');
  return v;
}

/**
 * Poll of an unknown correlation value: Invalid Asynchronous Correlation Value (2.x s.11.46;
 * Invalid Field for 1.x, reasons.ts) — there is no result to return.
 */
export const poll = defineOperation(Operation.Poll, 'Poll', '1.0', async (_ctx, payload) => {
  correlationValue(payload);
  throw new KmipError(ResultReason.InvalidAsynchronousCorrelationValue,
    'no asynchronous operation has this correlation value: this server processes every request synchronously');
});

/**
 * Cancel: Cancellation Result Unavailable (s.11.5) — the operation to cancel is not
 * available to this server, which never left one pending. The response echoes the
 * correlation value as the spec requires.
 */
export const cancel = defineOperation(Operation.Cancel, 'Cancel', '1.0', async (_ctx, payload) => {
  const v = correlationValue(payload);
  return structure(Tag.ResponsePayload, [
    byteString(Tag.AsynchronousCorrelationValue, v),
    enumeration(Tag.CancellationResult, CancellationResult.Unavailable),
  ]);
});
