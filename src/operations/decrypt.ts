// Decrypt (KMIP 2.1 s.6.1.11; 1.4 s.4.30): the inverse of Encrypt. Deactivated and
// Compromised keys still decrypt (s.4.57); failed tag or padding checks are Cryptographic
// Failure. RSA PKCS#1 v1.5 decryption uses implicit rejection (crypto/rsa-pkcs1.ts).
import { CryptographicUsageMask as CUM, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { openCipherStream } from '../crypto/cipher-stream.ts';
import { oaepDecrypt } from '../crypto/oaep.ts';
import { pkcs1v15Decrypt } from '../crypto/rsa-pkcs1.ts';
import { symmetricDecrypt } from '../crypto/symmetric.ts';
import { cryptoCall, loadKeyFor, operationKey, resolveCryptoParams, rsaEncryption, symmetricSetup } from './common/crypto-params.ts';
import { runMultiPart, type PartOutput, type StreamState } from './common/streaming.ts';
import { dataOf } from './encrypt.ts';
import { serviceL3Decrypt, serviceL3Target } from './common/service-l3.ts';
import { defineOperation } from './uid.ts';

interface DecryptState extends StreamState {
  feed(data: Buffer): PartOutput;
  end(): PartOutput;
}

export const decrypt = defineOperation(Operation.Decrypt, 'Decrypt', '1.2', (ctx, payload) => {
  // A service's L3 as a gateway's wrapping object (issue 11): no managed object behind it.
  const service = serviceL3Target(payload);
  if (service !== undefined) return serviceL3Decrypt(ctx, payload, service);
  return runMultiPart<DecryptState>(ctx, payload, {
    operation: Operation.Decrypt,
    keyed: true,
    // s.6.1.11 response: Unique Identifier, Data, Correlation Value.
    responseOrder: [Tag.UniqueIdentifier, Tag.Data, Tag.CorrelationValue],
    loadKey: (c, uid) => loadKeyFor(c, uid, 'process', CUM.Decrypt, 'Decrypt'),
    start(_c, payload, obj, multiPart): DecryptState {
      const p = resolveCryptoParams(payload, obj);
      const key = operationKey(obj!, [ObjectType.SymmetricKey, ObjectType.PrivateKey]);
      if (key.bytes !== undefined) {
        const { params } = symmetricSetup(key, p, payload, 'decrypt');
        if (!multiPart) {
          return { feed: (data) => ({ data: cryptoCall(() => symmetricDecrypt(params, data)) }), end: () => ({}), dispose: () => undefined };
        }
        const stream = cryptoCall(() => openCipherStream(params, 'decrypt'));
        return {
          feed: (data) => ({ data: cryptoCall(() => stream.update(data)) }),
          end: () => ({ data: cryptoCall(() => stream.final()).data }),
          dispose: () => stream.abort(),
        };
      }
      if (multiPart) throw new KmipError(ResultReason.InvalidField, 'RSA decryption is single-part: one message per request');
      const privateKey = key.privateKey;
      if (privateKey?.asymmetricKeyType !== 'rsa') throw new KmipError(ResultReason.InvalidField, 'only RSA private keys decrypt among asymmetric keys');
      const scheme = rsaEncryption(p);
      return {
        feed(data) {
          if (scheme.padding === 'pkcs1v15') return { data: cryptoCall(() => pkcs1v15Decrypt(privateKey, data)) };
          try {
            return { data: oaepDecrypt(privateKey, data, scheme.oaep) };
          } catch {
            // One answer for every OAEP failure (RFC 8017 §7.1.2 note: no decoding oracle).
            throw new KmipError(ResultReason.CryptographicFailure, 'decryption failed');
          }
        },
        end: () => ({}),
        dispose: () => undefined,
      };
    },
    update: (_c, state, p, _obj, multiPart) => state.feed(dataOf(p, multiPart)),
    finish: (state) => state.end(),
  });
});
