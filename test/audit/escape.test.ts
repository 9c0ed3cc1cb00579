// Unsafe characters in audited fields (issue 16 §1): escaped, never refused; cut with a
// marker and the SHA-256 of the whole value; key-material-looking details redacted. Every
// exporter receives safe text, the chain covers the stored form and still verifies.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FIELD_LIMITS, auditText, decodeAuditText, escapeAuditText, formatCef, formatJson, formatRfc5424, openAuditDatabase, openAuditLog,
  verifyAuditLog, type AuditRecord,
} from '../../src/audit/index.ts';
import { parse5424, parseCef } from './syslog-parse.ts';
import { HOSTILE, UNSAFE_STORED, expectSafeRecord, expectStoredAs } from './hostile.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('escaping (src/audit/record.ts)', () => {
  it('the documented forms: \\\\, \\u{hex}, annotations', () => {
    expect(escapeAuditText('plain text, CN=app, O=Acme')).toBe('plain text, CN=app, O=Acme');
    expect(escapeAuditText('a\nb')).toBe('a\\u{a}b');
    expect(escapeAuditText('\u0000\u001b\u007f\u0085')).toBe('\\u{0}\\u{1b}\\u{7f}\\u{85}');
    expect(escapeAuditText('x\u202ey\u2066\u200b\ufeff\u2028')).toBe('x\\u{202e}y\\u{2066}\\u{200b}\\u{feff}\\u{2028}');
    expect(escapeAuditText('tag\u{e0041}')).toBe('tag\\u{e0041}');
    expect(escapeAuditText('lone\ud800 \udc00')).toBe('lone\\u{d800} \\u{dc00}');
    expect(escapeAuditText('C:\\dir')).toBe('C:\\\\dir');
    // Paired surrogates, accents, CJK and emoji are text, not unsafe.
    expect(escapeAuditText('Zoë 東京 \u{1f600}')).toBe('Zoë 東京 \u{1f600}');
  });

  it('is reversible for any string, lone surrogates included, and escapes exactly the unsafe set (property)', () => {
    // The reference: the rule as one regular expression over Unicode properties.
    const reference = (s: string) => s.replace(/[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[\ud800-\udfff]/gu, (c) => (c === '\\' ? '\\\\' : `\\u{${c.codePointAt(0)!.toString(16)}}`));
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
      const e = escapeAuditText(s);
      expect(e).toBe(reference(s));
      expect(UNSAFE_STORED.test(e)).toBe(false);
      expect(decodeAuditText(e)).toEqual({ text: s, annotations: [], truncated: false });
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('\\', 'u', '{', '}', '[', ']', 'a', '0', '\n', '\ud800', '\udc00'), maxLength: 40 }), (s) => {
      expect(decodeAuditText(escapeAuditText(s)).text).toBe(s);
    }), { numRuns: 2000 });
  });

  it('cuts to the field limit between escape sequences, with the length and SHA-256 of the whole escaped value', () => {
    for (const field of ['identity', 'tenant', 'service', 'objectId', 'detail'] as const) {
      for (const h of HOSTILE) {
        const stored = auditText(field, h.value);
        expectStoredAs(stored, h.value, field, `${h.id} ${h.what} in ${field}`);
      }
    }
    const long = '\n'.repeat(1000);
    const s = auditText('objectId', long);
    const full = escapeAuditText(long);
    expect(s).toMatch(/^(\\u\{a\})+\\\[truncated: 5000 chars, sha256:[0-9a-f]{64}\]$/);
    expect(s).toContain(createHash('sha256').update(full, 'utf8').digest('hex'));
    expect(s.length).toBeLessThanOrEqual(FIELD_LIMITS.objectId);
    // No half of a surrogate pair is left at the cut.
    const emoji = auditText('tenant', '\u{1f600}'.repeat(200));
    expect(/[\ud800-\udfff]/u.test(emoji)).toBe(false);
    expect(decodeAuditText(emoji)).toMatchObject({ truncated: true, annotations: [expect.stringMatching(/^truncated: 400 chars/)] });
  });

  it('a detail that looks like key material is redacted in place, not refused', () => {
    expect(auditText('detail', 'key: -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- done')).toBe('key: \\[redacted: PEM block] done');
    expect(auditText('detail', `wrapped ${'A'.repeat(200)} end`)).toBe('wrapped \\[redacted: 200 chars of base64/hex alphabet] end');
    // A fingerprint is not redacted.
    expect(auditText('detail', `sha256 ${'ab'.repeat(32)}`)).toBe(`sha256 ${'ab'.repeat(32)}`);
    // Other fields are never redacted (an identity may carry a long subject).
    expect(auditText('identity', 'A'.repeat(200))).toBe('A'.repeat(200));
  });
});

describe('the log stores one record per append, whatever the text', () => {
  it('every hostile value in every text field: one record each, stored escaped, exporters get safe single lines, the chain verifies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-escape-'));
    dirs.push(dir);
    const db = openAuditDatabase(join(dir, 'audit.db'));
    const log = openAuditLog(db);
    for (const h of HOSTILE) {
      log.append({ kind: 'kmip', identity: h.value, tenant: h.value, service: h.value, operation: 'Get', objectId: h.value, result: 'failure', reason: 'ItemNotFound', detail: h.value });
      log.append({ kind: 'auth-failure', identity: `sha256:${'ab'.repeat(32)}`, result: 'failure', reason: 'PermissionDenied', detail: `subject ${h.value}` });
    }
    expect(log.lastSeq()).toBe(HOSTILE.length * 2);
    const recs: AuditRecord[] = log.tail(HOSTILE.length * 2);
    expect(recs).toHaveLength(HOSTILE.length * 2);
    HOSTILE.forEach((h, i) => {
      const r = recs[i * 2]!;
      const label = `${h.id} ${h.what}`;
      expectSafeRecord(r, label);
      expectStoredAs(r.objectId, h.value, 'objectId', label);
      expectStoredAs(r.identity, h.value, 'identity', label);
      expectStoredAs(r.tenant, h.value, 'tenant', label);
      for (const x of [r, recs[i * 2 + 1]!]) {
        const json = formatJson(x);
        expect(json.split('\n'), label).toHaveLength(1);
        expect(UNSAFE_STORED.test(json), label).toBe(false);
        expect(JSON.parse(json), label).toEqual(x);
        const line = formatRfc5424(x, { hostname: 'kms-1', payload: 'cef' });
        expect(/[\r\n\u0000\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(line), label).toBe(false);
        const p = parse5424(line);
        const sd = p.sd.get('openkcm@32473')!;
        if (x.objectId !== null) expect(sd.objectId, label).toBe(x.objectId);
        expect(sd.hash, label).toBe(x.hash);
        const cef = parseCef(formatCef(x, { version: '1' }));
        if (x.detail !== null) expect(cef.ext.msg, label).toBe(x.detail);
        if (x.objectId !== null) expect(cef.ext.cs3, label).toBe(x.objectId);
        const text = formatRfc5424(x, { hostname: 'kms-1', payload: 'text' });
        expect(text.split(/\r\n|\r|\n/), label).toHaveLength(1);
      }
    });
    expect(log.verify()).toMatchObject({ ok: true, count: HOSTILE.length * 2 });
    log.close();
    db.close();
    // What `kmipctl audit verify` runs, on a fresh handle: the stored (escaped) form is what is hashed.
    const again = new Database(join(dir, 'audit.db'), { readonly: true });
    try {
      expect(verifyAuditLog(again)).toMatchObject({ ok: true, count: HOSTILE.length * 2 });
    } finally {
      again.close();
    }
  });
});
