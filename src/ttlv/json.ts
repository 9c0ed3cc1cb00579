// KMIP JSON encoding ⇄ TTLV tree (KMIP Profiles 2.1 §5.5 "JSON Profile"):
//
//   {"tag": "RequestMessage", "type": "Structure", "value": [ … ]}
//   {"tag": "BatchCount", "type": "Integer", "value": 1}
//   {"tag": "CryptographicUsageMask", "type": "Integer", "value": "Encrypt|Decrypt"}
//   {"tag": "0x540001", "type": "TextString", "value": "x"}
//
// Tags by TitleCase name or `0xXXXXXX`; "type" may be left out for a Structure.
// Values: Integer and Interval a number or a string (hex `0x…`, or mask names joined by
// `|`), LongInteger a number or a string (decimal or `0x…` two's complement, because a
// JSON number loses precision past 2^53), BigInteger a hex string, Enumeration a name or
// `0x…`, Boolean true/false, ByteString hex, DateTime / DateTimeExtended ISO-8601 (or,
// read only, the wire number: POSIX seconds / microseconds). Writing picks one form per
// type: numbers for Integer, Interval and LongInteger within ±2^53, strings otherwise.
//
// The text is read by a small parser of our own rather than JSON.parse: it keeps numbers
// as their digits (no silent rounding of 64-bit values), refuses duplicate keys, and knows
// the character offset of every value for error messages.
import { TtlvError } from './errors.ts';
import { MAX_DEPTH, MAX_ITEMS } from './limits.ts';
import { ItemType } from './generated/itemTypes.ts';
import {
  ValueTextError, checkItem, defaultValue, domainInContext, formatScalar, parseScalar, siblingAttributeName,
  tagFromName, tagName,
  type ScalarType,
} from './names.ts';
import type { TtlvItem } from './types.ts';

// ---------------------------------------------------------------------------------------
// JSON text → JSON tree with offsets

type JNode =
  | { readonly k: 'object'; readonly off: number; readonly entries: ReadonlyMap<string, JNode> }
  | { readonly k: 'array'; readonly off: number; readonly items: readonly JNode[] }
  | { readonly k: 'string'; readonly off: number; readonly v: string }
  /** A number as written (integer digits kept exact). */
  | { readonly k: 'number'; readonly off: number; readonly raw: string }
  | { readonly k: 'boolean'; readonly off: number; readonly v: boolean }
  | { readonly k: 'null'; readonly off: number };

const STRING_SPECIAL = /[\\\u0000-\u001f]/;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class JsonReader {
  private pos = 0;
  private count = 0;

  constructor(private readonly text: string) {}

  private fail(detail: string, offset = this.pos): never {
    throw new TtlvError('SYNTAX', detail, offset, '');
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  parseDocument(): JNode {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    const v = this.parseValue(0);
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected content after the JSON value');
    return v;
  }

  private parseValue(depth: number): JNode {
    this.skipSpace();
    // A KMIP item is an object whose value may be an array: two JSON levels per TTLV
    // level, plus the outer array of messages.
    if (depth > 2 * MAX_DEPTH + 2) this.fail(`nesting deeper than ${MAX_DEPTH} items`);
    if (++this.count > 4 * MAX_ITEMS) this.fail(`more than ${MAX_ITEMS} items`);
    const off = this.pos;
    const c = this.text[this.pos];
    switch (c) {
      case '{': return this.parseObject(depth);
      case '[': return this.parseArray(depth);
      case '"': return { k: 'string', off, v: this.parseString() };
      case 't': return this.literal('true', { k: 'boolean', off, v: true });
      case 'f': return this.literal('false', { k: 'boolean', off, v: false });
      case 'n': return this.literal('null', { k: 'null', off });
      case undefined: this.fail('unexpected end of JSON');
    }
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.text);
    if (!m) this.fail(`unexpected character ${JSON.stringify(c)}`);
    this.pos += m[0].length;
    return { k: 'number', off, raw: m[0] };
  }

  private literal<T extends JNode>(word: string, node: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`unexpected character ${JSON.stringify(this.text[this.pos])}`);
    this.pos += word.length;
    return node;
  }

  private parseObject(depth: number): JNode {
    const off = this.pos++;
    const entries = new Map<string, JNode>();
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return { k: 'object', off, entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail('expected a quoted key');
      const keyOff = this.pos;
      const key = this.parseString();
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      const value = this.parseValue(depth + 1);
      if (entries.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`, keyOff);
      entries.set(key, value);
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === '}') return { k: 'object', off, entries };
      if (c !== ',') this.fail("expected ',' or '}'", this.pos - 1);
    }
  }

  private parseArray(depth: number): JNode {
    const off = this.pos++;
    const items: JNode[] = [];
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return { k: 'array', off, items };
    }
    for (;;) {
      items.push(this.parseValue(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === ']') return { k: 'array', off, items };
      if (c !== ',') this.fail("expected ',' or ']'", this.pos - 1);
    }
  }

  private parseString(): string {
    const t = this.text;
    this.pos++; // opening quote
    // Fast path: no escape and no control character before the closing quote.
    const close = t.indexOf('"', this.pos);
    if (close >= 0) {
      const raw = t.slice(this.pos, close);
      if (!STRING_SPECIAL.test(raw)) {
        this.pos = close + 1;
        return raw;
      }
    }
    let out = '';
    let run = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated string');
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        out += t.slice(run, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail('control character in a string (RFC 8259 §7)');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(run, this.pos);
      const e = t[this.pos + 1];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = t.slice(this.pos + 2, this.pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default: this.fail('bad escape in a string');
      }
      this.pos += 2;
      run = this.pos;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Plain JavaScript values → JSON tree (for fromJsonValue; no text, so every offset is 0)

function fromPlain(v: unknown, depth: number): JNode {
  if (depth > 2 * MAX_DEPTH + 2) throw new TtlvError('TOO_DEEP', `nesting deeper than ${MAX_DEPTH} items`, 0, '');
  if (v === null) return { k: 'null', off: 0 };
  switch (typeof v) {
    case 'string': return { k: 'string', off: 0, v };
    case 'boolean': return { k: 'boolean', off: 0, v };
    case 'bigint': return { k: 'number', off: 0, raw: v.toString() };
    case 'number':
      if (!Number.isFinite(v)) throw new TtlvError('BAD_VALUE', `${v} is not a JSON number`, 0, '');
      // Keep the integer digits (String(1e21) would give exponent form).
      return { k: 'number', off: 0, raw: Number.isInteger(v) ? BigInt(v).toString() : String(v) };
    case 'object': {
      if (Array.isArray(v)) return { k: 'array', off: 0, items: v.map((x) => fromPlain(x, depth + 1)) };
      const entries = new Map<string, JNode>();
      for (const [key, x] of Object.entries(v as Record<string, unknown>)) {
        if (x !== undefined) entries.set(key, fromPlain(x, depth + 1));
      }
      return { k: 'object', off: 0, entries };
    }
    default:
      throw new TtlvError('BAD_VALUE', `a ${typeof v} is not a JSON value`, 0, '');
  }
}

// ---------------------------------------------------------------------------------------
// JSON tree → TTLV items

const TYPE_NAMES: ReadonlySet<string> = new Set(Object.keys(ItemType));
const INTEGER_RAW = /^-?[0-9]+$/;

function describe(n: JNode): string {
  return n.k === 'number' ? `number ${n.raw}` : n.k;
}

function itemFrom(node: JNode, parentPath: string, attributeName: string | undefined): TtlvItem {
  if (node.k !== 'object') {
    throw new TtlvError('BAD_VALUE', `a KMIP item is a JSON object, not ${describe(node)}`, node.off, parentPath);
  }
  const tagNode = node.entries.get('tag');
  if (!tagNode) throw new TtlvError('BAD_VALUE', 'item without "tag"', node.off, parentPath);
  if (tagNode.k !== 'string') throw new TtlvError('BAD_VALUE', '"tag" must be a string', tagNode.off, parentPath);
  const tag = tagFromName(tagNode.v);
  if (tag === undefined) {
    throw new TtlvError('BAD_VALUE', `unknown tag ${JSON.stringify(tagNode.v)} (a TitleCase name or 0x42XXXX / 0x54XXXX)`, tagNode.off, parentPath);
  }
  const path = parentPath ? `${parentPath}/${tagName(tag)}` : tagName(tag);
  for (const [key, v] of node.entries) {
    if (key !== 'tag' && key !== 'type' && key !== 'value') throw new TtlvError('BAD_VALUE', `unexpected key ${JSON.stringify(key)}`, v.off, path);
  }
  const typeNode = node.entries.get('type');
  let type: string = 'Structure';
  if (typeNode) {
    if (typeNode.k !== 'string' || !TYPE_NAMES.has(typeNode.v)) {
      throw new TtlvError('BAD_VALUE', `unknown item type ${typeNode.k === 'string' ? JSON.stringify(typeNode.v) : describe(typeNode)}`, typeNode.off, path);
    }
    type = typeNode.v;
  }
  const valueNode = node.entries.get('value');
  if (type === 'Structure') {
    if (!valueNode) return { tag, type: 'Structure', value: [] };
    if (valueNode.k !== 'array') throw new TtlvError('BAD_VALUE', `a Structure's value is an array, not ${describe(valueNode)}`, valueNode.off, path);
    return { tag, type: 'Structure', value: childrenFrom(valueNode.items, path) };
  }
  const scalar = type as ScalarType;
  if (!valueNode) throw new TtlvError('BAD_VALUE', `a ${scalar} item needs a "value"`, node.off, path);
  if (valueNode.k === 'string' && valueNode.v.startsWith('$')) {
    // Test-vector variable: typed, valueless until substituted (see xml.ts).
    return { tag, type: scalar, value: defaultValue(scalar), placeholder: valueNode.v } as TtlvItem;
  }
  try {
    return { tag, type: scalar, value: scalarFrom(scalar, valueNode, domainInContext(tag, attributeName)) } as TtlvItem;
  } catch (e) {
    if (e instanceof ValueTextError) throw new TtlvError('BAD_VALUE', e.message, valueNode.off, path);
    throw e;
  }
}

function scalarFrom(type: ScalarType, n: JNode, domain: ReturnType<typeof domainInContext>): TtlvItem['value'] {
  if (n.k === 'string') {
    if (type === 'Boolean') throw new ValueTextError('a Boolean value is true or false, not a string');
    return parseScalar(type, n.v, domain);
  }
  if (n.k === 'boolean') {
    if (type === 'Boolean') return n.v;
    throw new ValueTextError(`a ${type} value cannot be a boolean`);
  }
  if (n.k === 'number') {
    if (type === 'TextString' || type === 'ByteString' || type === 'Boolean' || type === 'BigInteger') {
      throw new ValueTextError(`a ${type} value cannot be a number`);
    }
    if (!INTEGER_RAW.test(n.raw)) throw new ValueTextError(`${n.raw} is not an integer`);
    // A number is the value itself: decimal text says the same thing to parseScalar,
    // except for date-times, whose number is the wire value (seconds or microseconds).
    if (type === 'DateTime' || type === 'DateTimeExtended') {
      const v = BigInt(n.raw);
      if (v < -(1n << 63n) || v >= 1n << 63n) throw new ValueTextError(`${n.raw} is outside the signed 64-bit range`);
      return v;
    }
    return parseScalar(type, n.raw, undefined);
  }
  throw new ValueTextError(`a ${type} value cannot be ${describe(n)}`);
}

function childrenFrom(children: readonly JNode[], path: string): TtlvItem[] {
  // A 1.x Attribute Value is read in the light of its sibling Attribute Name.
  let attributeName: string | undefined;
  for (const c of children) {
    if (c.k !== 'object') continue;
    const tag = c.entries.get('tag'), type = c.entries.get('type'), value = c.entries.get('value');
    if (tag?.k === 'string' && tag.v === 'AttributeName' && type?.k === 'string' && type.v === 'TextString' &&
        value?.k === 'string' && !value.v.startsWith('$')) attributeName = value.v;
  }
  return children.map((c) => itemFrom(c, path, attributeName));
}

function fromTree(root: JNode): TtlvItem | TtlvItem[] {
  if (root.k === 'array') return childrenFrom(root.items, '');
  return itemFrom(root, '', undefined);
}

/**
 * Parses KMIP JSON: one item (an object) or an array of items. Throws TtlvError ('SYNTAX'
 * for malformed JSON, 'BAD_VALUE' for what KMIP cannot take) with a character offset.
 */
export function fromJson(text: string): TtlvItem | TtlvItem[] {
  return fromTree(new JsonReader(text).parseDocument());
}

/** Converts one item already parsed by JSON.parse (or built in code). Offsets in errors are 0. */
export function fromJsonValue(v: unknown): TtlvItem {
  return itemFrom(fromPlain(v, 0), '', undefined);
}

// ---------------------------------------------------------------------------------------
// TTLV items → JSON

const JSON_FORMAT = { maskSeparator: '|', bigIntegerPrefix: '0x' } as const;

function jsonValue(item: TtlvItem, attributeName: string | undefined, path: string): Record<string, unknown> {
  const here = path ? `${path}/${tagName(item.tag)}` : tagName(item.tag);
  const tag = tagName(item.tag);
  if (item.type === 'Structure') {
    if (item.placeholder !== undefined) throw new TtlvError('BAD_VALUE', 'a Structure cannot carry a placeholder', 0, here);
    const name = siblingAttributeName(item.value);
    return { tag, type: 'Structure', value: item.value.map((c) => jsonValue(c, name, here)) };
  }
  if (item.placeholder !== undefined) return { tag, type: item.type, value: item.placeholder };
  checkItem(item, here);
  const domain = domainInContext(item.tag, attributeName);
  let value: unknown;
  switch (item.type) {
    case 'Integer':
      value = domain?.kind === 'mask' ? formatScalar(item, domain, JSON_FORMAT) : item.value;
      break;
    case 'Interval':
      value = item.value;
      break;
    case 'LongInteger':
      // Numbers past 2^53 would be rounded by most JSON readers: give those as hex.
      value = item.value >= BigInt(Number.MIN_SAFE_INTEGER) && item.value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(item.value)
        : '0x' + BigInt.asUintN(64, item.value).toString(16).toUpperCase().padStart(16, '0');
      break;
    case 'Boolean':
      value = item.value;
      break;
    default:
      value = formatScalar(item, domain, JSON_FORMAT);
  }
  return { tag, type: item.type, value };
}

/** One item as a plain JavaScript object of the KMIP JSON encoding (ready for JSON.stringify). */
export function toJsonValue(item: TtlvItem): unknown {
  return jsonValue(item, undefined, '');
}

export interface ToJsonOptions {
  /** Spaces per level; 0 or absent writes compact JSON. */
  indent?: number;
}

/** Writes one item as a JSON object, or several as a JSON array. */
export function toJson(items: TtlvItem | TtlvItem[], options: ToJsonOptions = {}): string {
  const v = Array.isArray(items) ? items.map((i) => jsonValue(i, siblingAttributeName(items), '')) : toJsonValue(items);
  return JSON.stringify(v, null, options.indent || undefined);
}
