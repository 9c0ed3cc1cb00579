// Log (KMIP 2.1 s.6.1.27, since 2.0): the client asks the server to write a message into its
// log. Request: Log Message (Text String, REQUIRED); response: an empty payload.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { optText, required, structure } from '../kmip/items.ts';
import { assertKmip2, defineOperation } from './uid.ts';

/**
 * Longest client text written to the log, in UTF-16 code units. A client could otherwise
 * make every request write up to the maximum message size into the log (log flooding);
 * longer messages are cut and the log line says how long the original was.
 */
export const LOG_MESSAGE_MAX_CHARS = 1024;

export const log = defineOperation(Operation.Log, 'Log', '2.0', async (ctx, payload) => {
  assertKmip2(ctx, 'Log');
  const message = required(optText(payload, Tag.LogMessage), Tag.LogMessage);
  const truncated = message.length > LOG_MESSAGE_MAX_CHARS;
  // The message is client text: it goes into its own field (pino escapes it as JSON), never
  // into the log line's format string. The identity says who wrote it.
  ctx.log.info({
    event: 'client_log',
    identity: { subject: ctx.identity.subject, fingerprint: ctx.identity.fingerprint, tenant: ctx.identity.tenant, service: ctx.identity.service },
    logMessage: truncated ? message.slice(0, LOG_MESSAGE_MAX_CHARS) : message,
    ...(truncated ? { logMessageLength: message.length } : {}),
  }, 'client log message');
  return structure(Tag.ResponsePayload, []);
});
