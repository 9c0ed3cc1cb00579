// Multi-part ("streaming") cryptographic operations across requests: Init Indicator, Final
// Indicator and Correlation Value of Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC
// Verify and Hash (KMIP 2.1 s.6.1.17 and siblings; 1.4 s.4.29–s.4.37; multi-part since 1.3).
//
// The first part carries Init Indicator = True and gets a Correlation Value back; later parts
// carry that value, the last one Final Indicator = True. Between parts the server keeps the
// running cipher / hash / MAC state. That state is memory a client can make the server hold,
// so it is bounded (DESIGN.md §6.3: every limit names the attack it stops):
//  - per tenant and in total, a maximum number of open streams (a client opening streams and
//    never finishing them cannot exhaust memory or starve other tenants);
//  - per stream, a maximum of buffered bytes (only algorithms that cannot run incrementally,
//    Ed25519 and AES-CMAC, buffer; the others keep a fixed-size state);
//  - an idle timeout and a maximum lifetime (abandoned streams are disposed of, and their
//    key material zeroed where the state holds a copy).
// A Correlation Value is 16 random bytes, bound to (tenant, service, operation, object):
// another tenant, another operation or another key presenting it gets Invalid Correlation
// Value, the same answer as for a value that never existed. Streams live in this process
// only; a scale-out deployment must route a stream's parts to one node.
import { randomBytes } from 'node:crypto';
import { ResultReason } from '../../ttlv/generated/enumerations.ts';
import { Tag } from '../../ttlv/generated/tags.ts';
import { KmipError } from '../../kmip/errors.ts';
import { byteString, child, optBool, optBytes, structure, textString, type Struct } from '../../kmip/items.ts';
import type { ManagedObject } from '../../kmip/object.ts';
import type { TtlvItem } from '../../ttlv/types.ts';
import { resolveUid } from '../uid.ts';
import type { OperationContext } from '../types.ts';

export interface StreamLimits {
  /** Open streams one tenant may hold. */
  maxStreamsPerTenant: number;
  /** Open streams in the whole process. */
  maxStreams: number;
  /** Bytes a single stream may buffer (Ed25519, AES-CMAC). */
  maxBufferedBytes: number;
  /** A stream unused for this long is dropped. */
  idleTimeoutMs: number;
  /** A stream older than this is dropped, used or not. */
  maxLifetimeMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxStreamsPerTenant: 32,
  maxStreams: 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
  idleTimeoutMs: 60_000,
  maxLifetimeMs: 15 * 60_000,
};

/** Whom a stream belongs to. */
export interface StreamOwner {
  tenant: string;
  service: string;
  /** Operation enumeration value. */
  operation: number;
  /** The key the stream uses; undefined for Hash. */
  uid: string | undefined;
}

/** What an operation keeps between parts. `dispose` zeroes anything secret it holds. */
export interface StreamState {
  dispose(): void;
}

interface Entry {
  owner: StreamOwner;
  state: StreamState;
  created: number;
  lastUsed: number;
}

const sameOwner = (a: StreamOwner, b: StreamOwner): boolean =>
  a.tenant === b.tenant && a.service === b.service && a.operation === b.operation && a.uid === b.uid;

const invalid = (): KmipError =>
  new KmipError(ResultReason.InvalidCorrelationValue, 'the Correlation Value names no open multi-part operation of this client, operation and key');

export class StreamTable {
  readonly #entries = new Map<string, Entry>();

  constructor(
    readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Drops idle and over-age streams. Called on every access, so no timer is needed. */
  sweep(): void {
    const now = this.clock();
    for (const [k, e] of this.#entries) {
      if (now - e.lastUsed > this.limits.idleTimeoutMs || now - e.created > this.limits.maxLifetimeMs) {
        this.#entries.delete(k);
        e.state.dispose();
      }
    }
  }

  /** Open streams, of one tenant or in total. */
  count(tenant?: string): number {
    this.sweep();
    if (tenant === undefined) return this.#entries.size;
    let n = 0;
    for (const e of this.#entries.values()) if (e.owner.tenant === tenant) n++;
    return n;
  }

  /** Registers a new stream; returns its Correlation Value. Server Limit Exceeded when full. */
  open(owner: StreamOwner, state: StreamState): Buffer {
    this.sweep();
    if (this.#entries.size >= this.limits.maxStreams || this.count(owner.tenant) >= this.limits.maxStreamsPerTenant) {
      state.dispose();
      throw new KmipError(ResultReason.ServerLimitExceeded, 'too many open multi-part operations; finish or abandon some first');
    }
    const id = randomBytes(16);
    const now = this.clock();
    this.#entries.set(id.toString('hex'), { owner: { ...owner }, state, created: now, lastUsed: now });
    return id;
  }

  /** The state of an open stream of this owner. */
  get<S extends StreamState>(owner: StreamOwner, correlation: Buffer): S {
    this.sweep();
    const e = this.#entries.get(correlation.toString('hex'));
    if (e === undefined || !sameOwner(e.owner, owner)) throw invalid();
    e.lastUsed = this.clock();
    return e.state as S;
  }

  /** The owner recorded for a Correlation Value, if the caller's tenant and service hold it (to learn the key of a continuation). */
  ownerOf(tenant: string, service: string, operation: number, correlation: Buffer): StreamOwner {
    this.sweep();
    const e = this.#entries.get(correlation.toString('hex'));
    if (e === undefined || e.owner.tenant !== tenant || e.owner.service !== service || e.owner.operation !== operation) throw invalid();
    return { ...e.owner };
  }

  /** Ends a stream (after its final part, or when a part failed). */
  close(correlation: Buffer): void {
    const k = correlation.toString('hex');
    const e = this.#entries.get(k);
    if (e === undefined) return;
    this.#entries.delete(k);
    e.state.dispose();
  }
}

/** The server's streams (one table per process). */
export const serverStreams = new StreamTable();

/** How a request takes part in a multi-part operation. */
export type StreamStep =
  | { kind: 'single' }
  | { kind: 'first' }
  | { kind: 'next'; correlation: Buffer; final: boolean };

/**
 * Reads Init Indicator, Final Indicator and Correlation Value. Init + Final together is a
 * single-part request; a Correlation Value together with Init Indicator is contradictory
 * (Invalid Field).
 */
export function streamStep(payload: Struct): StreamStep {
  const init = optBool(payload, Tag.InitIndicator) ?? false;
  const final = optBool(payload, Tag.FinalIndicator) ?? false;
  const correlation = optBytes(payload, Tag.CorrelationValue);
  if (correlation !== undefined) {
    if (init) throw new KmipError(ResultReason.InvalidField, 'Init Indicator starts a new multi-part operation; it cannot come with a Correlation Value');
    if (correlation.length === 0) throw invalid();
    return { kind: 'next', correlation, final };
  }
  if (init && !final) return { kind: 'first' };
  return { kind: 'single' };
}

// ---------------------------------------------------------------------------
// The request flow shared by the seven operations

/** What one part contributes to the response. Data of several calls is concatenated. */
export interface PartOutput {
  data?: Buffer;
  /** Other response fields (Signature Data, MAC Data, IV, tag, Validity Indicator…). */
  items?: TtlvItem[];
}

export interface MultiPartOperation<S extends StreamState> {
  operation: number;
  /** Whether the operation uses a key (all but Hash). */
  keyed: boolean;
  /** Response payload fields in the order the spec lists them (s.6.1.x response tables). */
  responseOrder: readonly number[];
  /** Loads and checks the key; runs for every part, so a key revoked mid-stream stops it. */
  loadKey(ctx: OperationContext, uid: string): Promise<ManagedObject>;
  /** Builds the running state from the first (or only) request. */
  start(ctx: OperationContext, payload: Struct, obj: ManagedObject | undefined, multiPart: boolean): Promise<S> | S;
  /** Feeds the Data of one part (`multiPart`: the request belongs to a stream, so Data may be absent). */
  update(ctx: OperationContext, state: S, payload: Struct, obj: ManagedObject | undefined, multiPart: boolean): Promise<PartOutput> | PartOutput;
  /** Ends the computation with the last request. */
  finish(state: S, payload: Struct): PartOutput;
}

function respond(order: readonly number[], uid: string | undefined, outputs: PartOutput[], correlation: Buffer | undefined): Struct {
  const datas: Buffer[] = [];
  for (const o of outputs) if (o.data !== undefined) datas.push(o.data);
  const fields: TtlvItem[] = [];
  for (const tag of order) {
    if (tag === Tag.UniqueIdentifier) {
      if (uid !== undefined) fields.push(textString(Tag.UniqueIdentifier, uid));
    } else if (tag === Tag.Data) {
      // One part's output is used as it is (a single-part Encrypt): no copy of the data.
      if (datas.length > 0) fields.push(byteString(Tag.Data, datas.length === 1 ? datas[0]! : Buffer.concat(datas)));
    } else if (tag === Tag.CorrelationValue) {
      if (correlation !== undefined) fields.push(byteString(Tag.CorrelationValue, correlation));
    } else {
      // A later output replaces an earlier one (a final Validity Indicator replaces the
      // Unknown of the part it ends).
      for (let i = outputs.length - 1; i >= 0; i--) {
        const mine = (outputs[i]!.items ?? []).filter((it) => it.tag === tag);
        if (mine.length > 0) {
          fields.push(...mine);
          break;
        }
      }
    }
  }
  return structure(Tag.ResponsePayload, fields);
}

/**
 * Runs a single-part request, or one part of a multi-part operation (s.6.1.17: Init
 * Indicator, Correlation Value, Final Indicator). A part that fails ends its stream: the
 * client cannot resume a computation whose state is unknown.
 */
export async function runMultiPart<S extends StreamState>(
  ctx: OperationContext,
  payload: Struct,
  op: MultiPartOperation<S>,
  table: StreamTable = serverStreams,
): Promise<Struct> {
  const step = streamStep(payload);
  const { tenant, service } = ctx.identity;

  if (step.kind !== 'next') {
    const uid = op.keyed ? resolveUid(ctx, payload) : undefined;
    const obj = uid === undefined ? undefined : await op.loadKey(ctx, uid);
    const state = await op.start(ctx, payload, obj, step.kind === 'first');
    let opened = false;
    try {
      const first = await op.update(ctx, state, payload, obj, step.kind === 'first');
      if (step.kind === 'single') return respond(op.responseOrder, uid, [first, op.finish(state, payload)], undefined);
      const correlation = table.open({ tenant, service, operation: op.operation, uid }, state);
      opened = true;
      return respond(op.responseOrder, uid, [first], correlation);
    } finally {
      if (!opened) state.dispose();
    }
  }

  const owner = table.ownerOf(tenant, service, op.operation, step.correlation);
  // A continuation may name its key again; it must be the stream's (s.6.1.17).
  if (op.keyed && child(payload, Tag.UniqueIdentifier) !== undefined && resolveUid(ctx, payload) !== owner.uid) {
    throw new KmipError(ResultReason.InvalidCorrelationValue, 'the Correlation Value belongs to a multi-part operation on another key');
  }
  try {
    const obj = owner.uid === undefined ? undefined : await op.loadKey(ctx, owner.uid);
    const state = table.get<S>(owner, step.correlation);
    const part = await op.update(ctx, state, payload, obj, true);
    if (!step.final) return respond(op.responseOrder, owner.uid, [part], step.correlation);
    const last = op.finish(state, payload);
    table.close(step.correlation);
    return respond(op.responseOrder, owner.uid, [part, last], undefined);
  } catch (e) {
    table.close(step.correlation);
    throw e;
  }
}
