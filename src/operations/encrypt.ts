// Encrypt (KMIP 2.1 s.6.1.17; 1.4 s.4.29): symmetric ciphers (AES ECB/CBC/CTR/GCM/XTS, 3DES,
// ChaCha20, ChaCha20-Poly1305) and RSA (OAEP, PKCS#1 v1.5), single-part or multi-part.
import { CryptographicUsageMask as CUM, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, optBytes, type Struct } from '../kmip/items.ts';
import { openCipherStream, type CipherStream } from '../crypto/cipher-stream.ts';
import { oaepEncrypt } from '../crypto/oaep.ts';
import { pkcs1v15Encrypt } from '../crypto/rsa-pkcs1.ts';
import { symmetricEncrypt } from '../crypto/symmetric.ts';
import {
  consumeUsageLimits, cryptoCall, loadKeyFor, operationKey, resolveCryptoParams, rsaEncryption, symmetricSetup,
} from './common/crypto-params.ts';
import { runMultiPart, type PartOutput, type StreamState } from './common/streaming.ts';
import { serviceL3Encrypt, serviceL3Target } from './common/service-l3.ts';
import { defineOperation } from './uid.ts';

interface EncryptState extends StreamState {
  feed(data: Buffer): PartOutput;
  end(): PartOutput;
}

/** s.6.1.17: Data is required for a single-part request; a part of a stream may be empty. */
export function dataOf(payload: Struct, multiPart: boolean): Buffer {
  const data = optBytes(payload, Tag.Data);
  if (data === undefined && !multiPart) throw new KmipError(ResultReason.InvalidField, 'Data is required');
  return data ?? Buffer.alloc(0);
}

function startEncrypt(payload: Struct, obj: Parameters<typeof operationKey>[0], multiPart: boolean): EncryptState {
  const p = resolveCryptoParams(payload, obj);
  const key = operationKey(obj, [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey]);

  if (key.bytes !== undefined) {
    const { params, generatedIv } = symmetricSetup(key, p, payload, 'encrypt');
    const ivItems = generatedIv === undefined ? [] : [byteString(Tag.IVCounterNonce, generatedIv)];
    if (!multiPart) {
      return {
        feed(data) {
          const out = cryptoCall(() => symmetricEncrypt(params, data));
          return { data: out.data, items: [...ivItems, ...(out.tag ? [byteString(Tag.AuthenticatedEncryptionTag, out.tag)] : [])] };
        },
        end: () => ({}),
        dispose: () => undefined,
      };
    }
    const stream: CipherStream = cryptoCall(() => openCipherStream(params, 'encrypt'));
    let first = true;
    return {
      feed(data) {
        const items = first ? ivItems : [];
        first = false;
        return { data: cryptoCall(() => stream.update(data)), items };
      },
      end() {
        const out = cryptoCall(() => stream.final());
        return { data: out.data, items: out.tag ? [byteString(Tag.AuthenticatedEncryptionTag, out.tag)] : [] };
      },
      dispose: () => stream.abort(),
    };
  }

  // RSA: one block per request, nothing to carry between parts.
  if (multiPart) throw new KmipError(ResultReason.InvalidField, 'RSA encryption is single-part: one message per request');
  const publicKey = key.publicKey;
  if (publicKey?.asymmetricKeyType !== 'rsa') throw new KmipError(ResultReason.InvalidField, 'only RSA keys encrypt among asymmetric keys');
  const scheme = rsaEncryption(p);
  return {
    feed: (data) => ({
      data: cryptoCall(() => (scheme.padding === 'oaep' ? oaepEncrypt(publicKey, data, scheme.oaep) : pkcs1v15Encrypt(publicKey, data))),
    }),
    end: () => ({}),
    dispose: () => undefined,
  };
}

export const encrypt = defineOperation(Operation.Encrypt, 'Encrypt', '1.2', (ctx, payload) => {
  // A service's L3 as a gateway's wrapping object (issue 11): no managed object behind it.
  const service = serviceL3Target(payload);
  if (service !== undefined) return serviceL3Encrypt(ctx, payload, service);
  return runMultiPart<EncryptState>(ctx, payload, {
    operation: Operation.Encrypt,
    keyed: true,
    // s.6.1.17 response: Unique Identifier, Data, IV/Counter/Nonce, Correlation Value, Authenticated Encryption Tag.
    responseOrder: [Tag.UniqueIdentifier, Tag.Data, Tag.IVCounterNonce, Tag.CorrelationValue, Tag.AuthenticatedEncryptionTag],
    loadKey: (c, uid) => loadKeyFor(c, uid, 'protect', CUM.Encrypt, 'Encrypt'),
    start: (_c, p, obj, multi) => startEncrypt(p, obj!, multi),
    // Not async: without Usage Limits on the key (the common case) the part is encrypted at
    // once, with no promise made for it (issue 12 §2).
    update(c, state, p, obj, multiPart) {
      const data = dataOf(p, multiPart);
      const allocated = consumeUsageLimits(c, obj!, data.length);
      return allocated === undefined ? state.feed(data) : allocated.then(() => state.feed(data));
    },
    finish: (state) => state.end(),
  });
});

