// Sign (KMIP 2.1 s.6.1.49; 1.4 s.4.31): RSA PKCS#1 v1.5 / PSS, ECDSA, Ed25519 with a private
// key, over Data (single- or multi-part) or over Digested Data the client hashed itself.
import { CryptographicUsageMask as CUM, ObjectType, Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { byteString, optBytes, type Struct } from '../kmip/items.ts';
import { createSigner, signData, signDigest, type IncrementalSigner, type SignatureScheme } from '../crypto/signature.ts';
import type { KeyObject } from 'node:crypto';
import { consumeUsageLimits, cryptoCall, loadKeyFor, operationKey, resolveCryptoParams, signatureScheme } from './common/crypto-params.ts';
import { runMultiPart, serverStreams, type PartOutput, type StreamState } from './common/streaming.ts';
import { defineOperation } from './uid.ts';

/** Data or Digested Data: exactly one (s.6.1.49); Digested Data only in a single-part request. */
export function signedInput(payload: Struct, multiPart: boolean): { data: Buffer; digested: boolean } {
  const data = optBytes(payload, Tag.Data);
  const digested = optBytes(payload, Tag.DigestedData);
  if (data !== undefined && digested !== undefined) throw new KmipError(ResultReason.InvalidField, 'give Data or Digested Data, not both');
  if (digested !== undefined) {
    if (multiPart) throw new KmipError(ResultReason.InvalidField, 'Digested Data is single-part; stream the Data instead');
    return { data: digested, digested: true };
  }
  if (data === undefined && !multiPart) throw new KmipError(ResultReason.InvalidField, 'Data or Digested Data is required');
  return { data: data ?? Buffer.alloc(0), digested: false };
}

interface SignState extends StreamState {
  key: KeyObject;
  scheme: SignatureScheme;
  signer?: IncrementalSigner;
  single?: Buffer;
}

export const sign = defineOperation(Operation.Sign, 'Sign', '1.2', (ctx, payload) =>
  runMultiPart<SignState>(ctx, payload, {
    operation: Operation.Sign,
    keyed: true,
    // s.6.1.49 response: Unique Identifier, Signature Data, Correlation Value.
    responseOrder: [Tag.UniqueIdentifier, Tag.SignatureData, Tag.CorrelationValue],
    loadKey: (c, uid) => loadKeyFor(c, uid, 'protect', CUM.Sign, 'Sign'),
    start(_c, p, obj, multiPart) {
      const key = operationKey(obj!, [ObjectType.PrivateKey]).privateKey!;
      const scheme = signatureScheme(key, resolveCryptoParams(p, obj));
      const state: SignState = { key, scheme, dispose: () => undefined };
      if (multiPart) state.signer = cryptoCall(() => createSigner(key, scheme, serverStreams.limits.maxBufferedBytes));
      return state;
    },
    async update(c, state, p, obj, multiPart): Promise<PartOutput> {
      const input = signedInput(p, multiPart);
      await consumeUsageLimits(c, obj!, input.data.length);
      if (state.signer !== undefined) {
        cryptoCall(() => state.signer!.update(input.data));
        return {};
      }
      const sig = cryptoCall(() => (input.digested ? signDigest(state.key, state.scheme, input.data) : signData(state.key, state.scheme, input.data)));
      return { items: [byteString(Tag.SignatureData, sig)] };
    },
    finish(state): PartOutput {
      if (state.signer === undefined) return {};
      const signer = state.signer;
      return { items: [byteString(Tag.SignatureData, cryptoCall(() => signer.sign()))] };
    },
  }),
);
