// MAC Verify (KMIP 2.1 s.6.1.30; 1.4 s.4.34): a wrong MAC is Validity Indicator Invalid, not
// an error. Deactivated and Compromised keys still verify (s.4.57).
import { CryptographicUsageMask as CUM, Operation, ResultReason, ValidityIndicator } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { enumeration, optBytes } from '../kmip/items.ts';
import { equalMac } from '../crypto/mac.ts';
import { loadKeyFor } from './common/crypto-params.ts';
import { runMultiPart, type PartOutput } from './common/streaming.ts';
import { dataOf } from './encrypt.ts';
import { feedMac, macResult, startMac, type MacState } from './mac.ts';
import { defineOperation } from './uid.ts';

export const macVerify = defineOperation(Operation.MACVerify, 'MACVerify', '1.2', (ctx, payload) =>
  runMultiPart<MacState>(ctx, payload, {
    operation: Operation.MACVerify,
    keyed: true,
    // s.6.1.30 response: Unique Identifier, Validity Indicator, Correlation Value.
    responseOrder: [Tag.UniqueIdentifier, Tag.ValidityIndicator, Tag.CorrelationValue],
    loadKey: (c, uid) => loadKeyFor(c, uid, 'process', CUM.MACVerify, 'MAC Verify'),
    start: (_c, p, obj, multiPart) => startMac(p, obj!, multiPart),
    update(_c, state, p, _obj, multiPart): PartOutput {
      feedMac(state, dataOf(p, multiPart));
      return multiPart ? { items: [enumeration(Tag.ValidityIndicator, ValidityIndicator.Unknown)] } : {};
    },
    finish(state, p): PartOutput {
      const given = optBytes(p, Tag.MACData);
      if (given === undefined) throw new KmipError(ResultReason.InvalidField, 'MAC Data is required');
      const ok = equalMac(macResult(state), given);
      return { items: [enumeration(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid)] };
    },
  }),
);
