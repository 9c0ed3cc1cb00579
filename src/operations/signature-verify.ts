// Signature Verify (KMIP 2.1 s.6.1.50; 1.4 s.4.32). A wrong signature is not an error: the
// response says Validity Indicator Invalid (the OASIS CS-AC-M-2/3 vectors); only a request
// the server cannot evaluate (wrong key type, unsupported scheme) fails. Deactivated and
// Compromised keys still verify (s.4.57).
import { CryptographicUsageMask as CUM, ObjectType, Operation, ResultReason, ValidityIndicator } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { KeyObject } from 'node:crypto';
import { KmipError } from '../kmip/errors.ts';
import { enumeration, optBytes, type Struct } from '../kmip/items.ts';
import { createVerifier, verifyData, verifyDigest, type IncrementalVerifier, type SignatureScheme } from '../crypto/signature.ts';
import { cryptoCall, loadKeyFor, operationKey, resolveCryptoParams, signatureScheme } from './common/crypto-params.ts';
import { runMultiPart, serverStreams, type PartOutput, type StreamState } from './common/streaming.ts';
import { signedInput } from './sign.ts';
import { defineOperation } from './uid.ts';

interface VerifyState extends StreamState {
  key: KeyObject;
  scheme: SignatureScheme;
  verifier?: IncrementalVerifier;
}

const validity = (ok: boolean) => enumeration(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid);

function signatureOf(payload: Struct): Buffer {
  const sig = optBytes(payload, Tag.SignatureData);
  if (sig === undefined) throw new KmipError(ResultReason.InvalidField, 'Signature Data is required');
  return sig;
}

export const signatureVerify = defineOperation(Operation.SignatureVerify, 'SignatureVerify', '1.2', (ctx, payload) =>
  runMultiPart<VerifyState>(ctx, payload, {
    operation: Operation.SignatureVerify,
    keyed: true,
    // s.6.1.50 response: Unique Identifier, Validity Indicator, Data, Correlation Value.
    responseOrder: [Tag.UniqueIdentifier, Tag.ValidityIndicator, Tag.Data, Tag.CorrelationValue],
    loadKey: (c, uid) => loadKeyFor(c, uid, 'process', CUM.Verify, 'Signature Verify'),
    start(_c, p, obj, multiPart) {
      // A private key holds its public half; verifying with it is allowed.
      const key = operationKey(obj!, [ObjectType.PublicKey, ObjectType.PrivateKey]).publicKey!;
      const scheme = signatureScheme(key, resolveCryptoParams(p, obj));
      const state: VerifyState = { key, scheme, dispose: () => undefined };
      if (multiPart) state.verifier = cryptoCall(() => createVerifier(key, scheme, serverStreams.limits.maxBufferedBytes));
      return state;
    },
    update(_c, state, p, _obj, multiPart): PartOutput {
      const input = signedInput(p, multiPart);
      if (state.verifier !== undefined) {
        cryptoCall(() => state.verifier!.update(input.data));
        // Until the final part the answer is not known yet (s.11.57 Unknown).
        return { items: [enumeration(Tag.ValidityIndicator, ValidityIndicator.Unknown)] };
      }
      const sig = signatureOf(p);
      const ok = cryptoCall(() => (input.digested ? verifyDigest(state.key, state.scheme, input.data, sig) : verifyData(state.key, state.scheme, input.data, sig)));
      return { items: [validity(ok)] };
    },
    finish(state, p): PartOutput {
      if (state.verifier === undefined) return {};
      const verifier = state.verifier;
      const sig = signatureOf(p);
      return { items: [validity(cryptoCall(() => verifier.verify(sig)))] };
    },
  }),
);
