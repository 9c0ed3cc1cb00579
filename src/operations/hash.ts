// Hash (KMIP 2.1 s.6.1.23; 1.4 s.4.37): a digest of the request's Data with the Hashing
// Algorithm of the (required) Cryptographic Parameters, single- or multi-part. No key.
import { CryptographicAlgorithm as Alg, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { optStruct } from '../kmip/items.ts';
import { createIncrementalHash, type HashName, type IncrementalHash } from '../crypto/hash.ts';
import { hashName, parseCryptoParams } from './common/crypto-params.ts';
import { runMultiPart, type StreamState } from './common/streaming.ts';
import { dataOf } from './encrypt.ts';
import { defineOperation } from './uid.ts';

interface HashState extends StreamState {
  hash: IncrementalHash;
}

/** 2.x also names the SHA-3 digests as Cryptographic Algorithms (s.11.10); accepted as such. */
const SHA3_ALGORITHMS: ReadonlyMap<number, HashName> = new Map<number, HashName>([
  [Alg.SHA3_224, 'sha3-224'], [Alg.SHA3_256, 'sha3-256'], [Alg.SHA3_384, 'sha3-384'], [Alg.SHA3_512, 'sha3-512'],
]);

export const hash = defineOperation(Operation.Hash, 'Hash', '1.2', (ctx, payload) =>
  runMultiPart<HashState>(ctx, payload, {
    operation: Operation.Hash,
    keyed: false,
    // s.6.1.23 response: Data, Correlation Value.
    responseOrder: [Tag.Data, Tag.CorrelationValue],
    loadKey: () => Promise.reject(new Error('Hash uses no key')),
    start(_c, p) {
      const cp = optStruct(p, Tag.CryptographicParameters);
      if (cp === undefined) throw new KmipError(ResultReason.InvalidField, 'Cryptographic Parameters with a Hashing Algorithm are required');
      const params = parseCryptoParams(cp);
      let name: HashName | undefined;
      if (params.hashingAlgorithm !== undefined) name = hashName(params.hashingAlgorithm);
      else if (params.cryptographicAlgorithm !== undefined) name = SHA3_ALGORITHMS.get(params.cryptographicAlgorithm);
      if (name === undefined) throw new KmipError(ResultReason.InvalidField, 'Cryptographic Parameters must name a Hashing Algorithm');
      return { hash: createIncrementalHash(name), dispose: () => undefined };
    },
    update(_c, state, p, _obj, multiPart) {
      state.hash.update(dataOf(p, multiPart));
      return {};
    },
    finish: (state) => ({ data: state.hash.digest() }),
  }),
);
