// Request / Response Message trees ⇄ typed headers and batch items (KMIP 2.1 s.8, s.9;
// 1.4 s.6, s.7). Version-aware: the header's Protocol Version decides which fields and
// which field types are legal (NOTES.md §2, §4). Every malformation is a
// KmipError(InvalidMessage) whose message names the field and what was wrong, so the
// executor can answer it (1.4 s.11.1) instead of dropping the connection.
import { Tag, TAG_INFO } from '../ttlv/generated/tags.ts';
import { ResultReason, ResultStatus, AsynchronousIndicator } from '../ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from './errors.ts';
import {
  structure, integer, enumeration, textString, byteString, boolean, dateTime, type Struct,
} from './items.ts';
import { atLeast, is1x, versionString, type ProtocolVersion } from './version.ts';

/** s.9.2: how the client wants asynchronous processing (1.x Boolean true ≙ Optional in spirit; kept as given). */
export type AsyncMode = 'mandatory' | 'optional' | 'prohibited';

export interface MessageExtension {
  vendorIdentification: string;
  criticalityIndicator: boolean;
  /** Kept as sent; only the vendor knows its shape (s.9.12). */
  vendorExtension: TtlvItem;
}

export interface RequestHeader {
  protocolVersion: ProtocolVersion;
  maximumResponseSize?: number;
  clientCorrelationValue?: string;
  serverCorrelationValue?: string;
  /**
   * Normalised Asynchronous Indicator: 1.x Boolean true → 'optional' (the client allows
   * asynchronous processing, 1.4 s.6.7), false → 'prohibited'; 2.x Enumeration as is.
   * Undefined when absent (= prohibited, s.9.2).
   */
  asynchronousIndicator?: AsyncMode;
  attestationCapableIndicator?: boolean;
  attestationTypes: number[];
  /** Authentication{Credential+} kept raw: credentials are checked by a later middleware (s.9.4). */
  authentication?: Struct;
  batchErrorContinuationOption?: number;
  batchOrderOption?: boolean;
  timeStamp?: bigint;
  batchCount: number;
}

export interface RequestBatchItem {
  operation: number;
  ephemeral?: boolean;
  uniqueBatchItemId?: Buffer;
  payload: Struct;
  messageExtensions: MessageExtension[];
}

export interface RequestMessage {
  header: RequestHeader;
  batchItems: RequestBatchItem[];
}

export interface ResponseHeaderFields {
  protocolVersion: ProtocolVersion;
  /** s.9.20: REQUIRED in responses. */
  timeStamp: Date | bigint;
  clientCorrelationValue?: string;
  serverCorrelationValue?: string;
  attestationTypes?: number[];
  /** 2.x s.8.2: REQUIRED when the Hashed Password credential was used. */
  serverHashedPassword?: Buffer;
}

export interface ResponseBatchItem {
  operation?: number;
  uniqueBatchItemId?: Buffer;
  resultStatus: number;
  resultReason?: number;
  resultMessage?: string;
  asynchronousCorrelationValue?: Buffer;
  payload?: Struct;
  messageExtensions?: TtlvItem[];
}

export interface ResponseMessage {
  header: ResponseHeaderFields & { batchCount: number };
  batchItems: ResponseBatchItem[];
}

const invalid = (msg: string): never => {
  throw new KmipError(ResultReason.InvalidMessage, msg);
};

const nameOf = (tag: number) => TAG_INFO.get(tag)?.name ?? '0x' + tag.toString(16).toUpperCase();

function expectStruct(item: TtlvItem | undefined, tag: number, where: string): Struct {
  if (item === undefined) return invalid(`${where}: ${nameOf(tag)} is missing`);
  if (item.tag !== tag) return invalid(`${where}: expected ${nameOf(tag)}, found ${nameOf(item.tag)}`);
  if (item.type !== 'Structure') return invalid(`${where}: ${nameOf(tag)} must be a Structure, got ${item.type}`);
  return item;
}

function typed<T extends TtlvItem['type']>(item: TtlvItem, type: T, where: string): Extract<TtlvItem, { type: T }> {
  if (item.type !== type) invalid(`${where}: ${nameOf(item.tag)} must be ${type}, got ${item.type}`);
  return item as Extract<TtlvItem, { type: T }>;
}

/** Reads Protocol Version{Major, Minor} (s.9.16). */
export function parseProtocolVersion(item: TtlvItem | undefined, where = 'RequestHeader'): ProtocolVersion {
  const s = expectStruct(item, Tag.ProtocolVersion, where);
  const w = `${where}/ProtocolVersion`;
  let major: number | undefined, minor: number | undefined;
  for (const c of s.value) {
    if (c.tag === Tag.ProtocolVersionMajor && major === undefined) major = typed(c, 'Integer', w).value;
    else if (c.tag === Tag.ProtocolVersionMinor && minor === undefined) minor = typed(c, 'Integer', w).value;
    else invalid(`${w}: unexpected or repeated field ${nameOf(c.tag)}`);
  }
  if (major === undefined) return invalid(`${w}: ProtocolVersionMajor is missing`);
  if (minor === undefined) return invalid(`${w}: ProtocolVersionMinor is missing`);
  if (major < 0 || minor < 0) return invalid(`${w}: negative version ${major}.${minor}`);
  return { major, minor };
}

/**
 * Best effort: the Protocol Version of anything shaped like a Request Message, for
 * answering a message that is otherwise malformed in its own version (1.4 s.11.1).
 */
export function peekProtocolVersion(item: TtlvItem): ProtocolVersion | undefined {
  try {
    if (item.tag !== Tag.RequestMessage || item.type !== 'Structure') return undefined;
    const header = item.value.find((c) => c.tag === Tag.RequestHeader);
    if (header === undefined || header.type !== 'Structure') return undefined;
    return parseProtocolVersion(header.value.find((c) => c.tag === Tag.ProtocolVersion));
  } catch {
    return undefined;
  }
}

/** A field the request's version does not define (its tag appeared later) is a malformed message. */
function checkDefined(tag: number, v: ProtocolVersion, where: string): void {
  const since = TAG_INFO.get(tag)?.since;
  if (since !== undefined && !atLeast(v, since)) {
    invalid(`${where}: ${nameOf(tag)} is not defined in KMIP ${versionString(v)} (since ${since})`);
  }
}

function once<T>(current: T | undefined, tag: number, where: string): void {
  if (current !== undefined) invalid(`${where}: ${nameOf(tag)} appears more than once`);
}

function parseHeader(s: Struct): RequestHeader {
  const where = 'RequestHeader';
  const pvItem = s.value.find((c) => c.tag === Tag.ProtocolVersion);
  const protocolVersion = parseProtocolVersion(pvItem, where);
  const h: Partial<RequestHeader> & { attestationTypes: number[] } = { protocolVersion, attestationTypes: [] };
  let seenVersion = false;
  for (const c of s.value) {
    switch (c.tag) {
      case Tag.ProtocolVersion:
        if (seenVersion) invalid(`${where}: ProtocolVersion appears more than once`);
        seenVersion = true;
        break;
      case Tag.MaximumResponseSize: {
        once(h.maximumResponseSize, c.tag, where);
        const n = typed(c, 'Integer', where).value;
        if (n <= 0) invalid(`${where}: MaximumResponseSize must be positive, got ${n}`);
        h.maximumResponseSize = n;
        break;
      }
      case Tag.ClientCorrelationValue:
        checkDefined(c.tag, protocolVersion, where);
        once(h.clientCorrelationValue, c.tag, where);
        h.clientCorrelationValue = typed(c, 'TextString', where).value;
        break;
      case Tag.ServerCorrelationValue:
        checkDefined(c.tag, protocolVersion, where);
        once(h.serverCorrelationValue, c.tag, where);
        h.serverCorrelationValue = typed(c, 'TextString', where).value;
        break;
      case Tag.AsynchronousIndicator: {
        once(h.asynchronousIndicator, c.tag, where);
        if (is1x(protocolVersion)) {
          // 1.4 s.6.7: a Boolean in 1.x.
          h.asynchronousIndicator = typed(c, 'Boolean', where).value ? 'optional' : 'prohibited';
        } else {
          // 2.1 s.9.2, s.11.3: an Enumeration in 2.x.
          const e = typed(c, 'Enumeration', where).value;
          if (e === AsynchronousIndicator.Mandatory) h.asynchronousIndicator = 'mandatory';
          else if (e === AsynchronousIndicator.Optional) h.asynchronousIndicator = 'optional';
          else if (e === AsynchronousIndicator.Prohibited) h.asynchronousIndicator = 'prohibited';
          else invalid(`${where}: AsynchronousIndicator value 0x${e.toString(16)} is not defined (s.11.3)`);
        }
        break;
      }
      case Tag.AttestationCapableIndicator:
        checkDefined(c.tag, protocolVersion, where);
        once(h.attestationCapableIndicator, c.tag, where);
        h.attestationCapableIndicator = typed(c, 'Boolean', where).value;
        break;
      case Tag.AttestationType:
        checkDefined(c.tag, protocolVersion, where);
        h.attestationTypes.push(typed(c, 'Enumeration', where).value);
        break;
      case Tag.Authentication:
        once(h.authentication, c.tag, where);
        h.authentication = typed(c, 'Structure', where);
        break;
      case Tag.BatchErrorContinuationOption: {
        once(h.batchErrorContinuationOption, c.tag, where);
        const e = typed(c, 'Enumeration', where).value;
        if (e < 1 || e > 3) invalid(`${where}: BatchErrorContinuationOption value 0x${e.toString(16)} is not Continue, Stop or Undo (s.11.5)`);
        h.batchErrorContinuationOption = e;
        break;
      }
      case Tag.BatchOrderOption:
        once(h.batchOrderOption, c.tag, where);
        h.batchOrderOption = typed(c, 'Boolean', where).value;
        break;
      case Tag.TimeStamp:
        once(h.timeStamp, c.tag, where);
        h.timeStamp = typed(c, 'DateTime', where).value;
        break;
      case Tag.BatchCount: {
        once(h.batchCount, c.tag, where);
        const n = typed(c, 'Integer', where).value;
        if (n < 1) invalid(`${where}: BatchCount must be at least 1, got ${n}`);
        h.batchCount = n;
        break;
      }
      default:
        invalid(`${where}: unexpected field ${nameOf(c.tag)}`);
    }
  }
  if (h.batchCount === undefined) invalid(`${where}: BatchCount is missing`);
  return h as RequestHeader;
}

function parseExtension(c: TtlvItem, where: string): MessageExtension {
  const s = typed(c, 'Structure', where);
  const w = `${where}/MessageExtension`;
  let vendorIdentification: string | undefined, criticalityIndicator: boolean | undefined, vendorExtension: TtlvItem | undefined;
  for (const f of s.value) {
    if (f.tag === Tag.VendorIdentification && vendorIdentification === undefined) vendorIdentification = typed(f, 'TextString', w).value;
    else if (f.tag === Tag.CriticalityIndicator && criticalityIndicator === undefined) criticalityIndicator = typed(f, 'Boolean', w).value;
    else if (f.tag === Tag.VendorExtension && vendorExtension === undefined) vendorExtension = f;
    else invalid(`${w}: unexpected or repeated field ${nameOf(f.tag)}`);
  }
  // s.9.12: all three fields are REQUIRED.
  if (vendorIdentification === undefined) return invalid(`${w}: VendorIdentification is missing`);
  if (criticalityIndicator === undefined) return invalid(`${w}: CriticalityIndicator is missing`);
  if (vendorExtension === undefined) return invalid(`${w}: VendorExtension is missing`);
  return { vendorIdentification, criticalityIndicator, vendorExtension };
}

function parseBatchItem(s: Struct, index: number, v: ProtocolVersion): RequestBatchItem {
  const where = `BatchItem[${index}]`;
  let operation: number | undefined, ephemeral: boolean | undefined, id: Buffer | undefined, payload: Struct | undefined;
  const messageExtensions: MessageExtension[] = [];
  for (const c of s.value) {
    switch (c.tag) {
      case Tag.Operation:
        once(operation, c.tag, where);
        operation = typed(c, 'Enumeration', where).value;
        break;
      case Tag.Ephemeral:
        checkDefined(c.tag, v, where);
        once(ephemeral, c.tag, where);
        ephemeral = typed(c, 'Boolean', where).value;
        break;
      case Tag.UniqueBatchItemID:
        once(id, c.tag, where);
        id = typed(c, 'ByteString', where).value;
        break;
      case Tag.RequestPayload:
        once(payload, c.tag, where);
        payload = typed(c, 'Structure', where);
        break;
      case Tag.MessageExtension:
        messageExtensions.push(parseExtension(c, where));
        break;
      default:
        invalid(`${where}: unexpected field ${nameOf(c.tag)}`);
    }
  }
  if (operation === undefined) return invalid(`${where}: Operation is missing`);
  if (payload === undefined) return invalid(`${where}: RequestPayload is missing`);
  const item: RequestBatchItem = { operation, payload, messageExtensions };
  if (ephemeral !== undefined) item.ephemeral = ephemeral;
  if (id !== undefined) item.uniqueBatchItemId = id;
  return item;
}

/**
 * Request Message tree → typed message (s.8.1). Does not compare Batch Count with the
 * number of items, nor check Unique Batch Item IDs: those are batch semantics the
 * executor answers per item.
 */
export function parseRequestMessage(item: TtlvItem): RequestMessage {
  if (item.tag !== Tag.RequestMessage) invalid(`expected a RequestMessage, found ${nameOf(item.tag)}`);
  const msg = typed(item, 'Structure', 'RequestMessage');
  const first = msg.value[0];
  const header = parseHeader(expectStruct(first, Tag.RequestHeader, 'RequestMessage'));
  const batchItems: RequestBatchItem[] = [];
  for (let i = 1; i < msg.value.length; i++) {
    const c = msg.value[i]!;
    if (c.tag !== Tag.BatchItem) invalid(`RequestMessage: unexpected field ${nameOf(c.tag)} after the header`);
    batchItems.push(parseBatchItem(typed(c, 'Structure', 'RequestMessage'), i - 1, header.protocolVersion));
  }
  if (batchItems.length === 0) invalid('RequestMessage: no BatchItem');
  return { header, batchItems };
}

export const protocolVersionItem = (v: ProtocolVersion): Struct =>
  structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, v.major), integer(Tag.ProtocolVersionMinor, v.minor)]);

/** Spellings of the non-ASCII characters our messages use (spec citations, ranges, ellipses). */
const ASCII_SPELLINGS: ReadonlyMap<string, string> = new Map([
  ['§', 's.'], ['…', '...'], ['—', '-'], ['–', '-'], ['≥', '>='], ['≤', '<='], ['×', 'x'], ['→', '->'], ['←', '<-'],
]);

/**
 * Result Message in ASCII. A Text String is UTF-8 (1.4 s.9.1.1.4), but PyKMIP 0.10 decodes
 * a Text String one byte at a time, so any multi-byte character (the "§" of a spec citation)
 * made the client fail with UnicodeDecodeError instead of showing the reason (issue 13 §5).
 * The message is for people; an ASCII spelling loses nothing of it.
 */
export function asciiResultMessage(message: string): string {
  return /^[\x00-\x7f]*$/.test(message) ? message : [...message].map((ch) => (ch.charCodeAt(0) < 0x80 ? ch : ASCII_SPELLINGS.get(ch) ?? '?')).join('');
}

function responseBatchItem(b: ResponseBatchItem): Struct {
  const f: TtlvItem[] = [];
  if (b.operation !== undefined) f.push(enumeration(Tag.Operation, b.operation));
  if (b.uniqueBatchItemId !== undefined) f.push(byteString(Tag.UniqueBatchItemID, b.uniqueBatchItemId));
  f.push(enumeration(Tag.ResultStatus, b.resultStatus));
  // s.9.18: Result Reason SHALL NOT be present on success.
  if (b.resultReason !== undefined && b.resultStatus !== ResultStatus.Success) f.push(enumeration(Tag.ResultReason, b.resultReason));
  if (b.resultMessage !== undefined) f.push(textString(Tag.ResultMessage, asciiResultMessage(b.resultMessage)));
  if (b.asynchronousCorrelationValue !== undefined) f.push(byteString(Tag.AsynchronousCorrelationValue, b.asynchronousCorrelationValue));
  if (b.payload !== undefined) f.push(b.payload.tag === Tag.ResponsePayload ? b.payload : structure(Tag.ResponsePayload, b.payload.value));
  if (b.messageExtensions) f.push(...b.messageExtensions);
  return structure(Tag.BatchItem, f);
}

/** Typed response → Response Message tree, fields in the order of s.8.2 / 1.4 s.7.2. */
export function buildResponseMessage(header: ResponseHeaderFields, items: ResponseBatchItem[]): Struct {
  const v = header.protocolVersion;
  const h: TtlvItem[] = [protocolVersionItem(v), dateTime(Tag.TimeStamp, header.timeStamp)];
  if (header.serverHashedPassword !== undefined && !is1x(v)) h.push(byteString(Tag.ServerHashedPassword, header.serverHashedPassword));
  if (header.attestationTypes) for (const t of header.attestationTypes) h.push(enumeration(Tag.AttestationType, t));
  // Correlation values exist from 1.4 on (1.4 s.6.19, s.6.20); never send them to an older client.
  if (atLeast(v, '1.4')) {
    if (header.clientCorrelationValue !== undefined) h.push(textString(Tag.ClientCorrelationValue, header.clientCorrelationValue));
    if (header.serverCorrelationValue !== undefined) h.push(textString(Tag.ServerCorrelationValue, header.serverCorrelationValue));
  }
  h.push(integer(Tag.BatchCount, items.length));
  return structure(Tag.ResponseMessage, [structure(Tag.ResponseHeader, h), ...items.map(responseBatchItem)]);
}

// ---- client side: building requests, reading responses ---------------------------------

export interface RequestHeaderOptions {
  protocolVersion: ProtocolVersion;
  maximumResponseSize?: number;
  clientCorrelationValue?: string;
  asynchronousIndicator?: AsyncMode;
  authentication?: Struct;
  batchErrorContinuationOption?: number;
  batchOrderOption?: boolean;
  timeStamp?: Date | bigint;
}

export interface RequestBatchItemOptions {
  operation: number;
  payload: Struct;
  uniqueBatchItemId?: Buffer;
  ephemeral?: boolean;
  messageExtensions?: TtlvItem[];
}

/** Builds a Request Message in the header's version (s.8.1); Batch Count is the number of items. */
export function buildRequestMessage(header: RequestHeaderOptions, items: RequestBatchItemOptions[]): Struct {
  const v = header.protocolVersion;
  const h: TtlvItem[] = [protocolVersionItem(v)];
  if (header.maximumResponseSize !== undefined) h.push(integer(Tag.MaximumResponseSize, header.maximumResponseSize));
  if (header.clientCorrelationValue !== undefined && atLeast(v, '1.4')) h.push(textString(Tag.ClientCorrelationValue, header.clientCorrelationValue));
  if (header.asynchronousIndicator !== undefined) {
    h.push(is1x(v)
      ? boolean(Tag.AsynchronousIndicator, header.asynchronousIndicator !== 'prohibited')
      : enumeration(Tag.AsynchronousIndicator, header.asynchronousIndicator === 'mandatory' ? AsynchronousIndicator.Mandatory
        : header.asynchronousIndicator === 'optional' ? AsynchronousIndicator.Optional : AsynchronousIndicator.Prohibited));
  }
  if (header.authentication !== undefined) h.push(header.authentication);
  if (header.batchErrorContinuationOption !== undefined) h.push(enumeration(Tag.BatchErrorContinuationOption, header.batchErrorContinuationOption));
  if (header.batchOrderOption !== undefined) h.push(boolean(Tag.BatchOrderOption, header.batchOrderOption));
  if (header.timeStamp !== undefined) h.push(dateTime(Tag.TimeStamp, header.timeStamp));
  h.push(integer(Tag.BatchCount, items.length));
  const batch = items.map((b) => {
    const f: TtlvItem[] = [enumeration(Tag.Operation, b.operation)];
    if (b.ephemeral !== undefined) f.push(boolean(Tag.Ephemeral, b.ephemeral));
    if (b.uniqueBatchItemId !== undefined) f.push(byteString(Tag.UniqueBatchItemID, b.uniqueBatchItemId));
    f.push(b.payload.tag === Tag.RequestPayload ? b.payload : structure(Tag.RequestPayload, b.payload.value));
    if (b.messageExtensions) f.push(...b.messageExtensions);
    return structure(Tag.BatchItem, f);
  });
  return structure(Tag.RequestMessage, [structure(Tag.RequestHeader, h), ...batch]);
}

/** Response Message tree → typed (for clients). Lenient about order, strict about types. */
export function parseResponseMessage(item: TtlvItem): ResponseMessage {
  if (item.tag !== Tag.ResponseMessage) invalid(`expected a ResponseMessage, found ${nameOf(item.tag)}`);
  const msg = typed(item, 'Structure', 'ResponseMessage');
  const hs = expectStruct(msg.value[0], Tag.ResponseHeader, 'ResponseMessage');
  const where = 'ResponseHeader';
  const header: Partial<ResponseMessage['header']> = {};
  for (const c of hs.value) {
    if (c.tag === Tag.ProtocolVersion) header.protocolVersion = parseProtocolVersion(c, where);
    else if (c.tag === Tag.TimeStamp) header.timeStamp = typed(c, 'DateTime', where).value;
    else if (c.tag === Tag.BatchCount) header.batchCount = typed(c, 'Integer', where).value;
    else if (c.tag === Tag.ClientCorrelationValue) header.clientCorrelationValue = typed(c, 'TextString', where).value;
    else if (c.tag === Tag.ServerCorrelationValue) header.serverCorrelationValue = typed(c, 'TextString', where).value;
    else if (c.tag === Tag.AttestationType) (header.attestationTypes ??= []).push(typed(c, 'Enumeration', where).value);
    else if (c.tag === Tag.ServerHashedPassword && c.type === 'ByteString') header.serverHashedPassword = c.value;
  }
  if (header.protocolVersion === undefined) invalid(`${where}: ProtocolVersion is missing`);
  if (header.batchCount === undefined) invalid(`${where}: BatchCount is missing`);
  header.timeStamp ??= 0n;
  const batchItems: ResponseBatchItem[] = [];
  for (let i = 1; i < msg.value.length; i++) {
    const bw = `ResponseMessage/BatchItem[${i - 1}]`;
    const s = expectStruct(msg.value[i], Tag.BatchItem, 'ResponseMessage');
    const b: Partial<ResponseBatchItem> = {};
    for (const c of s.value) {
      if (c.tag === Tag.Operation) b.operation = typed(c, 'Enumeration', bw).value;
      else if (c.tag === Tag.UniqueBatchItemID) b.uniqueBatchItemId = typed(c, 'ByteString', bw).value;
      else if (c.tag === Tag.ResultStatus) b.resultStatus = typed(c, 'Enumeration', bw).value;
      else if (c.tag === Tag.ResultReason) b.resultReason = typed(c, 'Enumeration', bw).value;
      else if (c.tag === Tag.ResultMessage) b.resultMessage = typed(c, 'TextString', bw).value;
      else if (c.tag === Tag.AsynchronousCorrelationValue) b.asynchronousCorrelationValue = typed(c, 'ByteString', bw).value;
      else if (c.tag === Tag.ResponsePayload) b.payload = typed(c, 'Structure', bw);
      else if (c.tag === Tag.MessageExtension) (b.messageExtensions ??= []).push(c);
    }
    if (b.resultStatus === undefined) invalid(`${bw}: ResultStatus is missing`);
    batchItems.push(b as ResponseBatchItem);
  }
  return { header: header as ResponseMessage['header'], batchItems };
}
