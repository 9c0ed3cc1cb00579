// Poll (KMIP 2.1 §6.1.38; 1.4 §4.29) and Cancel (2.1 §6.1.5; 1.4 §4.28): the follow-up
// operations of a request the server answered with Result Status Operation Pending and an
// Asynchronous Correlation Value. Which requests run asynchronously, where their results
// live and how long, is src/server/async-operations.ts; it reaches these operations as
// ctx.asynchronous, bound to the caller (an operation of another identity or tenant is
// answered exactly like a value never issued).
//
// The gateway's status watch is a Poll too (correlation value `openkcm:watch:…`); the
// executor answers it before it gets here (src/server/gateway-watch.ts).
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
 * Thrown by Poll while the operation still runs: the executor answers Result Status
 * Operation Pending with the same correlation value (2.1 §6.1.38: the response to a Poll is
 * never itself asynchronous, so Pending is the answer, not a new operation).
 */
export class OperationPending extends Error {
  constructor(readonly correlationValue: Buffer) {
    super('the asynchronous operation is still pending');
  }
}

/**
 * The operation whose response payload a Poll returned: the executor shapes the payload for
 * the client's version as that operation's, not as a Poll's.
 */
const polled = new WeakMap<Struct, number>();
export function polledOperation(payload: Struct): number | undefined {
  return polled.get(payload);
}

const UNKNOWN = 'no asynchronous operation of this client has this correlation value (never issued, already delivered, expired, or another client\'s)';

/**
 * Poll: Pending while the operation runs; once it ended, its own response (the payload the
 * synchronous call would have returned, or its failure), delivered once. A value that names
 * nothing of the caller's: Invalid Asynchronous Correlation Value (2.x §11.46; Invalid Field
 * for 1.x, reasons.ts).
 */
export const poll = defineOperation(Operation.Poll, 'Poll', '1.0', async (ctx, payload) => {
  const v = correlationValue(payload);
  if (ctx.asynchronous === undefined) {
    throw new KmipError(ResultReason.InvalidAsynchronousCorrelationValue,
      'no asynchronous operation has this correlation value: this server processes every request synchronously');
  }
  const r = await ctx.asynchronous.poll(v);
  switch (r.state) {
    case 'unknown': throw new KmipError(ResultReason.InvalidAsynchronousCorrelationValue, UNKNOWN);
    case 'pending': throw new OperationPending(v);
    case 'failed': throw new KmipError(r.reason, r.message);
    case 'succeeded': {
      const out = r.payload.tag === Tag.ResponsePayload ? r.payload : structure(Tag.ResponsePayload, r.payload.value);
      polled.set(out, r.operation);
      return out;
    }
  }
});

/**
 * Cancel (2.1 §11.7 Cancellation Result): Canceled when the operation had not begun to store
 * anything (and then never will), Unable to Cancel once it has, Completed / Failed when it had
 * already ended, Unavailable for a value that names nothing of the caller's. The response
 * echoes the correlation value as the spec requires.
 */
export const cancel = defineOperation(Operation.Cancel, 'Cancel', '1.0', async (ctx, payload) => {
  const v = correlationValue(payload);
  const result = ctx.asynchronous === undefined ? CancellationResult.Unavailable : await ctx.asynchronous.cancel(v);
  return structure(Tag.ResponsePayload, [
    byteString(Tag.AsynchronousCorrelationValue, v),
    enumeration(Tag.CancellationResult, result),
  ]);
});
