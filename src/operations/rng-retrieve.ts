// RNG Retrieve (KMIP 2.1 s.6.1.41; 1.4 s.4.35; since 1.2): Data Length random bytes from
// the server's pool (crypto/rng.ts).
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, optInt, required, structure } from '../kmip/items.ts';
import { MAX_RNG_RETRIEVE_BYTES, serverRandomPool } from '../crypto/rng.ts';
import { defineOperation } from './uid.ts';

export const rngRetrieve = defineOperation(Operation.RNGRetrieve, 'RNGRetrieve', '1.2', async (_ctx, payload) => {
  const length = required(optInt(payload, Tag.DataLength), Tag.DataLength);
  if (length < 1 || length > MAX_RNG_RETRIEVE_BYTES) {
    throw new KmipError(ResultReason.InvalidField, `Data Length must be 1..${MAX_RNG_RETRIEVE_BYTES} bytes, got ${length}`);
  }
  return structure(Tag.ResponsePayload, [byteString(Tag.Data, serverRandomPool.retrieve(length))]);
});
