// Test-vector variables (KMIP Profiles 2.1 §5 "test case" conventions, and
// spec/kmip-vectors/README.md "Format"):
//
// - `$NOW`, `$NOW-3600`, `$NOW+3600`: a time relative to the run. In a request they become
//   the run's base time plus the offset; in an expected response they match any server time
//   between base+offset and the moment of comparison+offset (with a little slack, below).
// - every other `$NAME` (`$UNIQUE_IDENTIFIER_0`, `$DATA_0`, `$IV_COUNTER_NONCE`, …) is a
//   variable: bound to what the server returned where it first appears in an expected
//   response, and substituted into every later request.
// - A few vectors use a variable in a request that no expected response declared: the
//   response wrote the reference server's literal value instead (CS-AC-M-6: `$MAC_DATA`
//   after a MAC answer with a literal MAC Data; CS-BC-M-13-14: `$DATA_0` after a literal
//   ciphertext). The only reading that makes the scenario work is "the value this server
//   returned under that tag", so an unbound variable takes the most recent value the server
//   returned with the same tag, and stays bound to it. With no such value it is an error of
//   the scenario, never silently sent.
//
// The XML reader (src/ttlv/xml.ts) leaves the raw text in `item.placeholder` and a type
// default in `item.value`; the binary encoder refuses such an item, so nothing unresolved
// can reach the server.
import type { TtlvItem } from '../src/ttlv/types.ts';
import { tagLabel } from '../src/ttlv/decode.ts';

export type Placeholder =
  | { kind: 'time'; offsetSeconds: number; raw: string }
  | { kind: 'var'; name: string; raw: string };

const TIME_RE = /^\$NOW(?:([+-])(\d+))?$/;
const VAR_RE = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;

/** Parses the raw placeholder text the XML/JSON readers keep; throws on anything else. */
export function parsePlaceholder(raw: string): Placeholder {
  const t = TIME_RE.exec(raw);
  if (t) {
    const n = t[2] === undefined ? 0 : parseInt(t[2], 10);
    return { kind: 'time', offsetSeconds: t[1] === '-' ? -n : n, raw };
  }
  const v = VAR_RE.exec(raw);
  if (v) return { kind: 'var', name: v[1]!, raw };
  throw new PlaceholderError(`unrecognised placeholder ${JSON.stringify(raw)}`, '');
}

export class PlaceholderError extends Error {
  override readonly name = 'PlaceholderError';
  constructor(message: string, readonly path: string) {
    super(path ? `${path}: ${message}` : message);
  }
}

/**
 * Seconds of tolerance either side when an expected `$NOW±n` is compared with a server
 * time: DateTime has one-second resolution (s.10.1.2), the server may truncate where the
 * runner rounds, and a loaded CI machine can stall for a moment between request and answer.
 */
export const TIME_SLACK_SECONDS = 5;

/**
 * The variable bindings and the time base of one scenario (one vector file). Bindings hold
 * the server's item (type and value), so a later substitution sends exactly what the server
 * gave, whatever type the request site declares.
 */
export class Bindings {
  private readonly vars = new Map<string, TtlvItem>();
  /** The most recent value the server returned under each tag (the fallback above). */
  private readonly lastByTag = new Map<number, TtlvItem>();
  /** POSIX seconds at which the scenario started; `$NOW` in requests. */
  readonly baseSeconds: bigint;
  /** Clock used for the upper bound of `$NOW` comparisons (injectable for tests). */
  readonly clock: () => number;

  constructor(opts: { baseMs?: number; clock?: () => number } = {}) {
    this.clock = opts.clock ?? Date.now;
    this.baseSeconds = BigInt(Math.floor((opts.baseMs ?? this.clock()) / 1000));
  }

  get(name: string): TtlvItem | undefined {
    return this.vars.get(name);
  }
  has(name: string): boolean {
    return this.vars.has(name);
  }
  bind(name: string, item: TtlvItem): void {
    this.vars.set(name, cloneItem(item));
  }
  /** Records every leaf of an actual response, for the fallback of unbound variables. */
  observe(response: TtlvItem): void {
    if (response.type === 'Structure') for (const c of response.value) this.observe(c);
    else this.lastByTag.set(response.tag, response);
  }
  lastSeen(tag: number): TtlvItem | undefined {
    return this.lastByTag.get(tag);
  }
  names(): string[] {
    return [...this.vars.keys()];
  }

  /** For tentative matching (unordered lists): take a copy, restore it when a candidate fails. */
  snapshot(): Map<string, TtlvItem> {
    return new Map(this.vars);
  }
  restore(snap: Map<string, TtlvItem>): void {
    this.vars.clear();
    for (const [k, v] of snap) this.vars.set(k, v);
  }

  /** `$NOW±n` as POSIX seconds for a request. */
  timeSeconds(offsetSeconds: number): bigint {
    return this.baseSeconds + BigInt(offsetSeconds);
  }

  /** The inclusive window an expected `$NOW±n` accepts, in POSIX seconds. */
  timeWindow(offsetSeconds: number): [bigint, bigint] {
    const now = BigInt(Math.ceil(this.clock() / 1000));
    const off = BigInt(offsetSeconds);
    const slack = BigInt(TIME_SLACK_SECONDS);
    return [this.baseSeconds + off - slack, now + off + slack];
  }
}

export function cloneItem(item: TtlvItem): TtlvItem {
  if (item.type === 'Structure') return { tag: item.tag, type: 'Structure', value: item.value.map(cloneItem) };
  if (item.type === 'ByteString') return { tag: item.tag, type: 'ByteString', value: Buffer.from(item.value) };
  // Remaining value types are immutable primitives.
  return { ...item } as TtlvItem;
}

/**
 * Returns a copy of a request tree with every placeholder resolved. Throws
 * PlaceholderError naming the path of a variable no earlier response bound.
 */
export function substitute(item: TtlvItem, bindings: Bindings, path = ''): TtlvItem {
  const here = path ? `${path}/${tagLabel(item.tag)}` : tagLabel(item.tag);
  if (item.type === 'Structure') {
    return { tag: item.tag, type: 'Structure', value: item.value.map((c) => substitute(c, bindings, here)) };
  }
  if (item.placeholder === undefined) return cloneItem(item);
  const p = parsePlaceholder(item.placeholder);
  if (p.kind === 'time') {
    const s = bindings.timeSeconds(p.offsetSeconds);
    switch (item.type) {
      case 'DateTime':
        return { tag: item.tag, type: 'DateTime', value: s };
      case 'DateTimeExtended':
        return { tag: item.tag, type: 'DateTimeExtended', value: s * 1_000_000n };
      case 'LongInteger':
        return { tag: item.tag, type: 'LongInteger', value: s };
      default:
        throw new PlaceholderError(`${p.raw} on a ${item.type} item (only date/time items can carry it)`, here);
    }
  }
  let bound = bindings.get(p.name);
  if (bound === undefined) {
    bound = bindings.lastSeen(item.tag);
    if (bound === undefined) throw new PlaceholderError(`${p.raw} is used before any response bound it`, here);
    bindings.bind(p.name, bound);
  }
  // Send the server's own value; keep the request's tag (a bound Unique Identifier is
  // reused under other tags, e.g. a Link's Linked Object Identifier).
  const v = cloneItem(bound);
  v.tag = item.tag;
  if (v.type !== item.type && !compatibleTypes(item.type, v.type)) {
    throw new PlaceholderError(`${p.raw} was bound to a ${v.type} but is used as a ${item.type}`, here);
  }
  return v;
}

/**
 * A Unique Identifier is a Text String, an Enumeration or an Integer in 2.x (s.4.58):
 * a variable bound from one form may legitimately be sent where the vector wrote another.
 * Every other mismatch of type is an error in the scenario.
 */
function compatibleTypes(site: TtlvItem['type'], bound: TtlvItem['type']): boolean {
  const uid = new Set(['TextString', 'Enumeration', 'Integer']);
  return uid.has(site) && uid.has(bound);
}

/** Lists the placeholders of a tree (for diagnostics and the variable-first-use check). */
export function placeholdersIn(item: TtlvItem, out: string[] = []): string[] {
  if (item.type === 'Structure') for (const c of item.value) placeholdersIn(c, out);
  else if (item.placeholder !== undefined) out.push(item.placeholder);
  return out;
}
