// src/kmip/message.ts: Request Message tree ⇄ typed, Response Message built in spec order.
import { describe, it, expect } from 'vitest';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus, AsynchronousIndicator, BatchErrorContinuationOption } from '../../src/ttlv/generated/enumerations.ts';
import { KmipError } from '../../src/kmip/errors.ts';
import { structure, integer, enumeration, boolean, textString, byteString, type Struct } from '../../src/kmip/items.ts';
import {
  parseRequestMessage, buildResponseMessage, buildRequestMessage, parseResponseMessage, protocolVersionItem,
} from '../../src/kmip/message.ts';

// NOTES.md §1 worked example: Discover Versions, header 2.1, Batch Count 1, empty payload.
const GOLDEN = Buffer.from(
  '420078010000006042007701000000384200690100000020' +
  '42006A02000000040000000200000000' + '42006B02000000040000000100000000' +
  '42000D02000000040000000100000000' +
  '42000F01000000184200' + '5C05000000040000001E00000000' + '4200790100000000', 'hex');

const header = (v: { major: number; minor: number }, extra: Struct['value'] = [], count = 1) =>
  structure(Tag.RequestHeader, [protocolVersionItem(v), ...extra, integer(Tag.BatchCount, count)]);
const item = (extra: Struct['value'] = []) =>
  structure(Tag.BatchItem, [enumeration(Tag.Operation, Operation.DiscoverVersions), ...extra, structure(Tag.RequestPayload, [])]);
const msg = (h: Struct, ...items: Struct[]) => structure(Tag.RequestMessage, [h, ...items]);

function invalid(f: () => unknown): string {
  try { f(); } catch (e) {
    expect(e).toBeInstanceOf(KmipError);
    expect((e as KmipError).reason).toBe(ResultReason.InvalidMessage);
    return (e as Error).message;
  }
  throw new Error('expected KmipError(InvalidMessage)');
}

describe('parseRequestMessage', () => {
  it('reads the NOTES.md worked example', () => {
    const m = parseRequestMessage(decode(GOLDEN));
    expect(m.header.protocolVersion).toEqual({ major: 2, minor: 1 });
    expect(m.header.batchCount).toBe(1);
    expect(m.batchItems).toHaveLength(1);
    expect(m.batchItems[0]!.operation).toBe(Operation.DiscoverVersions);
    expect(m.batchItems[0]!.payload.value).toEqual([]);
  });

  it('buildRequestMessage reproduces the worked example byte for byte', () => {
    const built = buildRequestMessage({ protocolVersion: { major: 2, minor: 1 } }, [{ operation: Operation.DiscoverVersions, payload: structure(Tag.RequestPayload, []) }]);
    expect(encode(built).toString('hex')).toBe(GOLDEN.toString('hex'));
  });

  it('reads every header field', () => {
    const m = parseRequestMessage(msg(header({ major: 2, minor: 1 }, [
      integer(Tag.MaximumResponseSize, 4096),
      textString(Tag.ClientCorrelationValue, 'c'),
      textString(Tag.ServerCorrelationValue, 's'),
      enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Optional),
      boolean(Tag.AttestationCapableIndicator, true),
      enumeration(Tag.AttestationType, 1), enumeration(Tag.AttestationType, 2),
      structure(Tag.Authentication, [structure(Tag.Credential, [])]),
      enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Continue),
      boolean(Tag.BatchOrderOption, false),
      { tag: Tag.TimeStamp, type: 'DateTime', value: 1607904000n },
    ]), item([byteString(Tag.UniqueBatchItemID, Buffer.from([1])), boolean(Tag.Ephemeral, true)])));
    expect(m.header).toMatchObject({
      maximumResponseSize: 4096, clientCorrelationValue: 'c', serverCorrelationValue: 's', asynchronousIndicator: 'optional',
      attestationCapableIndicator: true, attestationTypes: [1, 2], batchErrorContinuationOption: 1, batchOrderOption: false, timeStamp: 1607904000n,
    });
    expect(m.header.authentication?.tag).toBe(Tag.Authentication);
    expect(m.batchItems[0]).toMatchObject({ ephemeral: true, uniqueBatchItemId: Buffer.from([1]) });
  });

  it('1.x Asynchronous Indicator is a Boolean, 2.x an Enumeration', () => {
    expect(parseRequestMessage(msg(header({ major: 1, minor: 2 }, [boolean(Tag.AsynchronousIndicator, true)]), item())).header.asynchronousIndicator).toBe('optional');
    expect(invalid(() => parseRequestMessage(msg(header({ major: 1, minor: 2 }, [enumeration(Tag.AsynchronousIndicator, 1)]), item())))).toMatch(/must be Boolean/);
    expect(parseRequestMessage(msg(header({ major: 2, minor: 0 }, [enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Mandatory)]), item())).header.asynchronousIndicator).toBe('mandatory');
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 0 }, [enumeration(Tag.AsynchronousIndicator, 9)]), item())))).toMatch(/not defined/);
  });

  it('refuses malformed headers and batch items with a precise message', () => {
    expect(invalid(() => parseRequestMessage(structure(Tag.ResponseMessage, [])))).toMatch(/expected a RequestMessage/);
    expect(invalid(() => parseRequestMessage(msg(item())))).toMatch(/expected RequestHeader, found BatchItem/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }))))).toMatch(/no BatchItem/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }, [integer(Tag.BatchCount, 1)]), item())))).toMatch(/BatchCount appears more than once/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }, [textString(Tag.Name, 'x')]), item())))).toMatch(/unexpected field Name/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }, [integer(Tag.MaximumResponseSize, 0)]), item())))).toMatch(/must be positive/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }), structure(Tag.BatchItem, [enumeration(Tag.Operation, 1)]))))).toMatch(/BatchItem\[0\]: RequestPayload is missing/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }), structure(Tag.BatchItem, [structure(Tag.RequestPayload, [])]))))).toMatch(/Operation is missing/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }), item([integer(Tag.UniqueBatchItemID, 1)]))))).toMatch(/UniqueBatchItemID must be ByteString, got Integer/);
    expect(invalid(() => parseRequestMessage(msg(structure(Tag.RequestHeader, [
      structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 2)]), integer(Tag.BatchCount, 1)]), item())))).toMatch(/ProtocolVersionMinor is missing/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 1, minor: 0 }, [boolean(Tag.AttestationCapableIndicator, true)]), item())))).toMatch(/not defined in KMIP 1\.0 \(since 1\.2\)/);
    expect(invalid(() => parseRequestMessage(msg(header({ major: 2, minor: 1 }), item([structure(Tag.MessageExtension, [textString(Tag.VendorIdentification, 'v')])]))))).toMatch(/CriticalityIndicator is missing/);
  });
});

describe('buildResponseMessage', () => {
  it('orders the header as s.8.2 lists it, counts items, drops Result Reason on success', () => {
    const out = buildResponseMessage(
      { protocolVersion: { major: 2, minor: 1 }, timeStamp: 1607904000n, clientCorrelationValue: 'c', serverCorrelationValue: 's' },
      [
        { operation: Operation.Get, uniqueBatchItemId: Buffer.from([7]), resultStatus: ResultStatus.Success, resultReason: ResultReason.GeneralFailure, payload: structure(Tag.ResponsePayload, []) },
        { resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.InvalidMessage, resultMessage: 'bad' },
      ]);
    const [h, a, b] = out.value as Struct[];
    expect(h!.value.map((c) => c.tag)).toEqual([Tag.ProtocolVersion, Tag.TimeStamp, Tag.ClientCorrelationValue, Tag.ServerCorrelationValue, Tag.BatchCount]);
    expect(a!.value.map((c) => c.tag)).toEqual([Tag.Operation, Tag.UniqueBatchItemID, Tag.ResultStatus, Tag.ResponsePayload]);
    expect(b!.value.map((c) => c.tag)).toEqual([Tag.ResultStatus, Tag.ResultReason, Tag.ResultMessage]);
    const parsed = parseResponseMessage(decode(encode(out)));
    expect(parsed.header.batchCount).toBe(2);
    expect(parsed.batchItems[1]!.resultMessage).toBe('bad');
  });

  it('writes the Result Message in ASCII: PyKMIP 0.10 decodes Text Strings byte by byte (issue 13 §5)', () => {
    const out = buildResponseMessage({ protocolVersion: { major: 1, minor: 4 }, timeStamp: 0n },
      [{ resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.InvalidField, resultMessage: 'Length 160 is not valid for AES (FIPS 197 §5) — try 128…256, ≥ 128; ü' }]);
    const bytes = encode(out);
    expect(bytes.includes(Buffer.from('FIPS 197 s.5) - try 128...256, >= 128; ?', 'ascii'))).toBe(true);
    expect(parseResponseMessage(decode(bytes)).batchItems[0]!.resultMessage).toBe('Length 160 is not valid for AES (FIPS 197 s.5) - try 128...256, >= 128; ?');
  });

  it('never sends correlation values to a client older than 1.4', () => {
    const out = buildResponseMessage({ protocolVersion: { major: 1, minor: 3 }, timeStamp: 0n, clientCorrelationValue: 'c', serverCorrelationValue: 's' },
      [{ resultStatus: ResultStatus.Success }]);
    expect((out.value[0] as Struct).value.map((c) => c.tag)).toEqual([Tag.ProtocolVersion, Tag.TimeStamp, Tag.BatchCount]);
  });
});
