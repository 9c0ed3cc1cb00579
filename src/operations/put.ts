// Put (KMIP 2.1 s.6.2 Put; 1.4 s.5.2): a server-to-client operation — the server pushes an
// object to a client. This server does not send Put (see notify.ts: it never reaches a
// client outside the client's requests). A client that sends Put to the server asks it to do
// what only a client does: Operation Not Supported, with that reason. Objects reach this
// server through Register and Import.
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { KmipError } from '../kmip/errors.ts';
import { defineOperation } from './uid.ts';

export const put = defineOperation(Operation.Put, 'Put', '1.0', async () => {
  throw new KmipError(ResultReason.OperationNotSupported, 'Put is a server-to-client operation (KMIP 2.1 s.6.2): a server does not receive it; use Register or Import');
});
