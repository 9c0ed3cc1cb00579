// MAC (KMIP 2.1 s.6.1.29; 1.4 s.4.33): HMAC-SHA-1/224/256/384/512, HMAC-SHA3-224/256/384/512
// and AES-CMAC, single- or multi-part.
import { CryptographicUsageMask as CUM, ObjectType, Operation } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { byteString } from '../kmip/items.ts';
import { computeMac, createIncrementalMac, type IncrementalMac, type MacAlgorithm } from '../crypto/mac.ts';
import { consumeUsageLimits, cryptoCall, loadKeyFor, macAlgorithm, operationKey, resolveCryptoParams } from './common/crypto-params.ts';
import { runMultiPart, serverStreams, type PartOutput, type StreamState } from './common/streaming.ts';
import { dataOf } from './encrypt.ts';
import { defineOperation } from './uid.ts';

export interface MacState extends StreamState {
  algorithm: MacAlgorithm;
  key: Buffer;
  mac?: IncrementalMac;
  /** Single-part: the MAC computed by update. */
  result?: Buffer;
}

/** Builds the MAC state shared by MAC and MAC Verify. The state holds a copy of the key, zeroed by dispose. */
export function startMac(payload: Parameters<typeof resolveCryptoParams>[0], obj: Parameters<typeof operationKey>[0], multiPart: boolean): MacState {
  const key = operationKey(obj, [ObjectType.SymmetricKey]);
  const algorithm = macAlgorithm(key, resolveCryptoParams(payload, obj));
  const bytes = Buffer.from(key.bytes!);
  const state: MacState = { algorithm, key: bytes, dispose: () => bytes.fill(0) };
  if (multiPart) state.mac = cryptoCall(() => createIncrementalMac(algorithm, bytes, serverStreams.limits.maxBufferedBytes));
  return state;
}

/** Feeds one part; single-part computes the MAC at once. */
export function feedMac(state: MacState, data: Buffer): void {
  if (state.mac !== undefined) cryptoCall(() => state.mac!.update(data));
  else state.result = cryptoCall(() => computeMac(state.algorithm, state.key, data));
}

export function macResult(state: MacState): Buffer {
  return state.mac !== undefined ? cryptoCall(() => state.mac!.final()) : state.result!;
}

export const mac = defineOperation(Operation.MAC, 'MAC', '1.2', (ctx, payload) =>
  runMultiPart<MacState>(ctx, payload, {
    operation: Operation.MAC,
    keyed: true,
    // s.6.1.29 response: Unique Identifier, MAC Data, Correlation Value.
    responseOrder: [Tag.UniqueIdentifier, Tag.MACData, Tag.CorrelationValue],
    loadKey: (c, uid) => loadKeyFor(c, uid, 'protect', CUM.MACGenerate, 'MAC Generate'),
    start: (_c, p, obj, multiPart) => startMac(p, obj!, multiPart),
    async update(c, state, p, obj, multiPart): Promise<PartOutput> {
      const data = dataOf(p, multiPart);
      await consumeUsageLimits(c, obj!, data.length);
      feedMac(state, data);
      return {};
    },
    finish: (state): PartOutput => ({ items: [byteString(Tag.MACData, macResult(state))] }),
  }),
);
