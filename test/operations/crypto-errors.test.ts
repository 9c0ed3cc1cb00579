import { describe, expect, it } from 'vitest';
import { toKmipError } from '../../src/operations/common/crypto-params.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { ResultReason } from '../../src/ttlv/generated/enumerations.ts';

describe('toKmipError', () => {
  it('a parameter RangeError from node:crypto is the client\'s InvalidField', () => {
    const e = toKmipError(new RangeError('Invalid key length'));
    expect(e).toBeInstanceOf(KmipError);
    expect((e as KmipError).reason).toBe(ResultReason.InvalidField);
  });
  it('a stack overflow stays a server fault (not a KmipError: the executor answers GeneralFailure)', () => {
    const overflow = new RangeError('Maximum call stack size exceeded');
    expect(toKmipError(overflow)).toBe(overflow);
  });
});
