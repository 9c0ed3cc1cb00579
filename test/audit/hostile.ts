// The catalogue of hostile text values for audited fields (issue 16 §1), shared by the
// audit-module, engine and TLS suites. H01… name them in failure messages.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { decodeAuditText, escapeAuditText, FIELD_LIMITS, type AuditRecord } from '../../src/audit/index.ts';

export interface Hostile {
  id: string;
  what: string;
  value: string;
  /** Cannot travel in TTLV (not UTF-8): engine-level only. */
  notUtf8?: boolean;
}

export const HOSTILE: readonly Hostile[] = [
  { id: 'H01', what: 'LF forging a JSON line', value: 'k01\n{"seq":999,"kind":"kmip","result":"success","objectId":"forged"}' },
  { id: 'H02', what: 'CR LF forging a syslog line', value: 'k02\r\n<110>1 2026-01-01T00:00:00Z host openkcm 1 kmip - forged' },
  { id: 'H03', what: 'NUL', value: 'k03\u0000hidden-after-nul' },
  { id: 'H04', what: 'ESC terminal sequence', value: 'k04\u001b[2J\u001b[31mred' },
  { id: 'H05', what: 'DEL and C1 NEL (a line break to some readers)', value: 'k05\u007f\u0085next line' },
  { id: 'H06', what: 'bidi override (Trojan Source)', value: 'k06-\u202eexe.txt' },
  { id: 'H07', what: 'bidi isolates and marks', value: 'k07\u2066admin\u2069\u200e\u200f\u061c' },
  { id: 'H08', what: 'zero-width characters and BOM', value: 'k08\u200badmin\u200d\ufeff\u00ad' },
  { id: 'H09', what: 'Unicode tag characters (invisible text)', value: 'k09\u{e0041}\u{e0064}\u{e006d}' },
  { id: 'H10', what: 'line and paragraph separators', value: 'k10\u2028\u2029' },
  { id: 'H11', what: 'backslash, escape and annotation look-alikes', value: 'k11\\u{a}\\\\[truncated: 1 chars, sha256:00]\\' },
  { id: 'H12', what: 'syslog/CEF metacharacters', value: 'k12|x=y ]"\\ cs1=forged msg=forged' },
  { id: 'H13', what: '10 000 characters', value: `k13${'x'.repeat(10_000)}` },
  { id: 'H14', what: 'astral characters across the cut', value: `k14${'\u{1f600}'.repeat(3000)}` },
  { id: 'H15', what: 'control characters across the cut', value: `k15${'\n'.repeat(400)}` },
  { id: 'H16', what: 'a long base64 run (looks like key material)', value: `k16${'QUJD'.repeat(100)}` },
  { id: 'H17', what: 'lone high surrogate', value: 'k17\ud800x', notUtf8: true },
  { id: 'H18', what: 'reversed surrogate pair', value: 'k18\udc00\ud800', notUtf8: true },
];

/** Unsafe characters must never appear in a stored field (record.ts). */
export const UNSAFE_STORED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[\ud800-\udfff]/u;

/**
 * A stored field holds the value: escaped, and either decodes back to it or (cut to the
 * field's limit) ends with the marker carrying the SHA-256 of the whole escaped value.
 */
export function expectStoredAs(stored: string | null, value: string, field: keyof typeof FIELD_LIMITS, label: string): void {
  expect(stored, label).not.toBeNull();
  const s = stored!;
  expect(UNSAFE_STORED.test(s), `${label}: unsafe character stored: ${JSON.stringify(s.slice(0, 80))}`).toBe(false);
  expect(s.length, label).toBeLessThanOrEqual(FIELD_LIMITS[field]);
  const d = decodeAuditText(s);
  if (!d.truncated) {
    if (d.annotations.length === 0) expect(d.text, label).toBe(value);
    return;
  }
  const full = escapeAuditText(value);
  const m = /\\\[truncated: (\d+) chars, sha256:([0-9a-f]{64})\]$/.exec(s);
  expect(m, `${label}: truncation marker`).not.toBeNull();
  if (d.annotations.length === 1) {
    // Cut only (no redaction): the marker describes the escaped value.
    expect(Number(m![1]), label).toBe(full.length);
    expect(m![2], label).toBe(createHash('sha256').update(full, 'utf8').digest('hex'));
    expect(full.startsWith(s.slice(0, s.length - m![0].length)), `${label}: kept prefix`).toBe(true);
  }
}

/** Every text field of a record is free of unsafe characters and within its limit. */
export function expectSafeRecord(r: AuditRecord, label: string): void {
  for (const f of ['identity', 'tenant', 'service', 'operation', 'objectId', 'detail'] as const) {
    const v = r[f];
    if (v === null) continue;
    expect(UNSAFE_STORED.test(v), `${label}: field ${f} holds an unsafe character`).toBe(false);
    expect(v.length, `${label}: field ${f}`).toBeLessThanOrEqual(FIELD_LIMITS[f]);
  }
}
