// Set Endpoint Role (KMIP 2.1 s.6.1.52, since 2.0): the requester asks the endpoint to take
// the Client or the Server role on this connection. Response: the Endpoint Role now held.
//
// This endpoint is a server and nothing else: it never sends requests to its peer (no
// Notify / Put / server-initiated operations). Asking it to stay Server is granted; asking
// it to become a Client is refused with Feature Not Supported rather than answered with a
// role it would not honour.
import { EndpointRole, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { enumeration, optEnum, required, structure } from '../kmip/items.ts';
import { assertKmip2, defineOperation } from './uid.ts';

export const setEndpointRole = defineOperation(Operation.SetEndpointRole, 'SetEndpointRole', '2.0', async (ctx, payload) => {
  assertKmip2(ctx, 'Set Endpoint Role');
  const role = required(optEnum(payload, Tag.EndpointRole), Tag.EndpointRole);
  if (role === EndpointRole.Client) {
    throw new KmipError(ResultReason.FeatureNotSupported, 'this endpoint only acts as a KMIP server');
  }
  if (role !== EndpointRole.Server) throw new KmipError(ResultReason.InvalidField, `unknown Endpoint Role 0x${role.toString(16)}`);
  ctx.log.info({ endpointRole: 'Server' }, 'endpoint role confirmed');
  return structure(Tag.ResponsePayload, [enumeration(Tag.EndpointRole, EndpointRole.Server)]);
});
