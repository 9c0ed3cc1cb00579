// The fuzzer's seed corpus: every request of the OASIS KMIP test vectors
// (spec/kmip-vectors, 2.1 and 1.4 profiles), read from their XML encoding
// (src/ttlv/xml.ts) as TTLV trees. Placeholders (`$UNIQUE_IDENTIFIER_0`, `$NOW-3600`, …)
// are resolved per message at send time (resolvePlaceholders), so a mutated Get can name
// an object the live server really holds and reach deeper than ItemNotFound.
import { readFileSync } from 'node:fs';
import { listVectorFiles } from '../../conformance/runner.ts';
import { fromXml } from '../../src/ttlv/xml.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';

export interface CorpusEntry {
  /** Vector file (relative) and request index in it, to report what a finding came from. */
  source: string;
  request: TtlvItem;
}

export async function loadCorpus(root: string): Promise<CorpusEntry[]> {
  const out: CorpusEntry[] = [];
  for (const file of await listVectorFiles(root)) {
    const items = fromXml(readFileSync(file, 'utf8'));
    const requests: TtlvItem[] = [];
    const walk = (it: TtlvItem): void => {
      if (it.tag === Tag.RequestMessage) requests.push(it);
      else if (it.type === 'Structure') it.value.forEach(walk);
    };
    items.forEach(walk);
    const name = file.slice(root.length).replace(/^\/+/, '');
    requests.forEach((request, i) => out.push({ source: `${name}#${i}`, request }));
  }
  if (out.length === 0) throw new Error(`no KMIP request found under ${root} (expected the OASIS vector XML files)`);
  return out;
}

/** Deep copy of a tree (Buffers copied too: mutations must never touch the corpus). */
export function cloneItem(it: TtlvItem): TtlvItem {
  if (it.type === 'Structure') return { ...it, value: it.value.map(cloneItem) };
  if (it.type === 'ByteString') return { ...it, value: Buffer.from(it.value) };
  return { ...it };
}

/**
 * Replaces every placeholder in place: `$NOW±n` by the current time, any other variable of a
 * Text String (object ids) by an id the server returned earlier (or a made-up one), other
 * types by their type's default value that the XML reader left in `value`.
 */
export function resolvePlaceholders(it: TtlvItem, knownUids: readonly string[], pick: (n: number) => number, nowSeconds = Math.floor(Date.now() / 1000)): void {
  if (it.placeholder !== undefined) {
    const raw = it.placeholder;
    delete it.placeholder;
    const m = /^\$NOW(?:([+-])(\d+))?$/.exec(raw);
    if (m && (it.type === 'DateTime' || it.type === 'DateTimeExtended')) {
      const offset = BigInt(m[2] ?? 0) * (m[1] === '-' ? -1n : 1n);
      const secs = BigInt(nowSeconds) + offset;
      it.value = it.type === 'DateTime' ? secs : secs * 1_000_000n;
    } else if (it.type === 'TextString') {
      it.value = knownUids.length > 0 ? knownUids[pick(knownUids.length)]! : `fuzz-${raw.slice(1).toLowerCase()}`;
    }
  }
  if (it.type === 'Structure') for (const c of it.value) resolvePlaceholders(c, knownUids, pick, nowSeconds);
}
