// Every OASIS test-case file (spec/kmip-vectors, KMIP 2.1 and 1.4 profiles) through
// every encoding: XML → tree → binary TTLV → tree → XML → tree, and the same through JSON.
// Placeholders ($UNIQUE_IDENTIFIER_0, $NOW, …) cannot reach the binary encoder, so each is
// swapped for a typed dummy value first, and put back after the binary round trip; the
// dummy must come back unchanged, which also checks that the binary codec kept it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { fromJson, toJson } from '../../src/ttlv/json.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { fromXml, toXml } from '../../src/ttlv/xml.ts';
import { VECTORS } from '../helpers/vectors.ts';

const vectorRoot = VECTORS;

function listVectors(): string[] {
  const out: string[] = [];
  for (const version of ['2.1', '1.4']) {
    for (const kind of ['mandatory', 'optional']) {
      const dir = path.join(vectorRoot, version, kind);
      for (const f of readdirSync(dir).sort()) if (f.endsWith('.xml')) out.push(path.join(version, kind, f));
    }
  }
  return out;
}

const files = listVectors();

/**
 * A comparable form of a tree: tags, types and typed values (so hex case, date forms, mask
 * name order and enumeration spelling no longer matter), placeholders kept.
 */
function canonical(item: TtlvItem): unknown {
  const base = { tag: item.tag, type: item.type, placeholder: item.placeholder ?? null };
  switch (item.type) {
    case 'Structure': return { ...base, value: item.value.map(canonical) };
    case 'ByteString': return { ...base, value: item.value.toString('hex') };
    case 'LongInteger': case 'BigInteger': case 'DateTime': case 'DateTimeExtended':
      return { ...base, value: item.value.toString() };
    default: return { ...base, value: item.value };
  }
}

interface Recorded { placeholder: string; dummy: TtlvItem['value'] }

/** Replaces every placeholder by a distinct typed dummy, in document order. */
function substitute(item: TtlvItem, log: Recorded[]): TtlvItem {
  if (item.type === 'Structure') return { ...item, value: item.value.map((c) => substitute(c, log)) };
  if (item.placeholder === undefined) return item;
  const n = log.length + 1;
  let dummy: TtlvItem['value'];
  switch (item.type) {
    case 'Integer': case 'Enumeration': case 'Interval': dummy = 1000 + n; break;
    case 'LongInteger': case 'BigInteger': dummy = BigInt(1000 + n); break;
    case 'DateTime': dummy = 1_600_000_000n + BigInt(n); break;
    case 'DateTimeExtended': dummy = 1_600_000_000_000_000n + BigInt(n); break;
    case 'Boolean': dummy = n % 2 === 0; break;
    case 'TextString': dummy = `dummy-${n}`; break;
    case 'ByteString': dummy = Buffer.from(`dummy-${n}`); break;
  }
  log.push({ placeholder: item.placeholder, dummy });
  const { placeholder: _dropped, ...rest } = item;
  return { ...rest, value: dummy } as TtlvItem;
}

/** Puts the placeholders back, checking each dummy survived the binary round trip. */
function restore(item: TtlvItem, log: Recorded[], cursor: { i: number }, original: TtlvItem): TtlvItem {
  if (item.type === 'Structure') {
    if (original.type !== 'Structure') throw new Error('shape changed');
    return { ...item, value: item.value.map((c, k) => restore(c, log, cursor, original.value[k]!)) };
  }
  if (original.placeholder === undefined) return item;
  const rec = log[cursor.i++]!;
  expect(canonical({ ...item, value: rec.dummy } as TtlvItem)).toEqual(canonical(item));
  return { ...item, value: original.value, placeholder: rec.placeholder } as TtlvItem;
}

// ---- An independent reading of the XML text, to check the writer against the OASIS files
// themselves rather than against our own reader: a regular expression over the (regular)
// vector layout, and value normalisation by JavaScript's own Date and BigInt parsers.

type XmlEvent = string;

function decodeEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);
}

function normaliseValue(type: string, value: string): string {
  if (value.startsWith('$')) return value;
  switch (type) {
    case 'ByteString': return value.toLowerCase();
    case 'BigInteger': {
      const bits = BigInt(value.length * 4);
      let v = BigInt('0x' + value);
      if (value.length > 0 && parseInt(value[0]!, 16) >= 8) v -= 1n << bits;
      return v.toString();
    }
    case 'DateTime': {
      const ms = Date.parse(value);
      if (Number.isNaN(ms)) throw new Error(`unparsable date ${value}`);
      return String(ms);
    }
    case 'Integer':
      // Mask names in any order.
      return /[A-Za-z]/.test(value.replace(/^0x/, '')) ? value.split(/\s+/).sort().join(' ') : value;
    default: return value;
  }
}

function xmlEvents(text: string): XmlEvent[] {
  const body = text.replace(/<!--[\s\S]*?-->/g, '');
  const out: XmlEvent[] = [];
  for (const m of body.matchAll(/<(\/?)([A-Za-z0-9_.]+)((?:\s+[a-z]+="[^"]*")*)\s*(\/?)>/g)) {
    const [, closing, name, attrText, selfClosing] = m;
    if (name === 'KMIP') continue;
    if (closing) { out.push('close'); continue; }
    const attrs = Object.fromEntries([...attrText!.matchAll(/([a-z]+)="([^"]*)"/g)].map((a) => [a[1]!, decodeEntities(a[2]!)]));
    if (attrs.type === undefined) {
      out.push(`open ${name}`);
      if (selfClosing) out.push('close');
    } else {
      out.push(`${name} ${attrs.type} ${normaliseValue(attrs.type, attrs.value ?? '')}`);
    }
  }
  return out;
}

const MESSAGE_TAGS = new Set<number>([Tag.RequestMessage, Tag.ResponseMessage]);

describe('OASIS KMIP test vectors round-trip', () => {
  it('finds all 168 vector files', () => {
    expect(files.length).toBe(168);
  });

  describe.each(files)('%s', (file) => {
    const text = readFileSync(path.join(vectorRoot, file), 'utf8');

    it('XML → binary TTLV → XML and → JSON → tree keep every message', () => {
      const messages = fromXml(text);
      expect(messages.length).toBeGreaterThan(0);
      // Requests and responses alternate (README "Format").
      expect(messages.length % 2).toBe(0);
      messages.forEach((m, i) => {
        expect(MESSAGE_TAGS.has(m.tag)).toBe(true);
        expect(m.tag).toBe(i % 2 === 0 ? Tag.RequestMessage : Tag.ResponseMessage);
      });

      for (const original of messages) {
        const want = canonical(original);

        // Binary: substitute, encode, decode, restore.
        const log: Recorded[] = [];
        const concrete = substitute(original, log);
        const bytes = encode(concrete);
        expect(bytes.length % 8).toBe(0);
        const decoded = decode(bytes);
        expect(canonical(decoded)).toEqual(canonical(concrete));
        const cursor = { i: 0 };
        const restored = restore(decoded, log, cursor, original);
        expect(cursor.i).toBe(log.length);
        expect(canonical(restored)).toEqual(want);

        // XML text of the restored tree reads back to the original meaning, and writing it
        // again gives the same text (the writer is deterministic).
        const xml = toXml(restored);
        const reread = fromXml(xml);
        expect(reread).toHaveLength(1);
        expect(canonical(reread[0]!)).toEqual(want);
        expect(toXml(reread[0]!)).toBe(xml);

        // JSON, both with the restored placeholders and with the concrete values.
        const json = toJson(restored, { indent: 1 });
        const fromJ = fromJson(json);
        expect(Array.isArray(fromJ)).toBe(false);
        expect(canonical(fromJ as TtlvItem)).toEqual(want);
        expect(canonical(fromJson(toJson(concrete)) as TtlvItem)).toEqual(canonical(concrete));
      }

      // The whole file as one document: <KMIP> wrapper and JSON array.
      const whole = fromXml(toXml(messages, { root: true }));
      expect(whole.map(canonical)).toEqual(messages.map(canonical));
      const arr = fromJson(toJson(messages));
      expect(Array.isArray(arr)).toBe(true);
      expect((arr as TtlvItem[]).map(canonical)).toEqual(messages.map(canonical));
    });

    it('writes the same elements, types and values as the OASIS text', () => {
      // Enumerations must come back under the very names the OASIS files use; hex case,
      // date forms, mask order and Big Integer padding may differ.
      expect(xmlEvents(toXml(fromXml(text), { root: true }))).toEqual(xmlEvents(text));
    });
  });
});
