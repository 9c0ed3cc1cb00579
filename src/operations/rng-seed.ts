// RNG Seed (KMIP 2.1 s.6.1.42; 1.4 s.4.36; since 1.2): the client's data is mixed into the server's
// pool without ever replacing its entropy (crypto/rng.ts explains why a hostile seed cannot
// make the output predictable). The response's Data Length is the number of seed bytes used.
import { Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { integer, optBytes, required, structure } from '../kmip/items.ts';
import { serverRandomPool } from '../crypto/rng.ts';
import { defineOperation } from './uid.ts';

export const rngSeed = defineOperation(Operation.RNGSeed, 'RNGSeed', '1.2', async (_ctx, payload) => {
  const seed = required(optBytes(payload, Tag.Data), Tag.Data);
  return structure(Tag.ResponsePayload, [integer(Tag.DataLength, serverRandomPool.seed(seed))]);
});
