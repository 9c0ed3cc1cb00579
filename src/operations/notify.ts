// Notify (KMIP 2.1 s.6.2 Notify; 1.4 s.5.1): a server-to-client operation — the server tells
// a client that attributes of an object changed. This server does not send Notify: it has no
// way to reach a client outside the client's own requests (no client registration, and it
// never takes the Client role, set-endpoint-role.ts). A client that sends Notify to the
// server asks it to do what only a client does: Operation Not Supported, with that reason.
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { KmipError } from '../kmip/errors.ts';
import { defineOperation } from './uid.ts';

export const notify = defineOperation(Operation.Notify, 'Notify', '1.0', async () => {
  throw new KmipError(ResultReason.OperationNotSupported, 'Notify is a server-to-client operation (KMIP 2.1 s.6.2): a server does not receive it');
});
