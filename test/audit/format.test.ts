// Export formats (RFC 5424, CEF, JSON lines) and exporter configuration validation.
import { describe, expect, it } from 'vitest';
import {
  AuditConfigError, GENESIS_HASH, escapeCefHeader, escapeCefValue, escapeSdValue, formatCef, formatJson, formatRfc5424,
  recordHash, validateExportConfig, type AuditRecord,
} from '../../src/audit/index.ts';
import { deframe, parse5424, parseCef } from './syslog-parse.ts';
import { octetCount } from '../../src/audit/index.ts';

function rec(over: Partial<AuditRecord> = {}): AuditRecord {
  const base = {
    seq: 42, time: '2025-03-04T05:06:07.089Z', kind: 'kmip' as const, identity: 'CN=app|1, O="Acme\\Corp"', tenant: 'acme', service: 'db',
    operation: 'Get', objectId: 'uid=7]x', result: 'failure' as const, reason: 'ItemNotFound' as const, detail: 'a=b | c\\d ]"', prevHash: GENESIS_HASH,
    ...over,
  };
  const { hash: _h, ...rest } = { ...base, hash: '' };
  return { ...rest, hash: over.hash ?? recordHash(rest) };
}

describe('RFC 5424', () => {
  it('header fields, structured data with every field (escaped), MSG', () => {
    const r = rec();
    const line = formatRfc5424(r, { hostname: 'kms-1', facility: 13 });
    const p = parse5424(line);
    expect(p.version).toBe(1);
    expect(p.facility).toBe(13);
    expect(p.severity).toBe(5); // a failed KMIP operation: notice
    expect(p.timestamp).toBe(r.time);
    expect(p.hostname).toBe('kms-1');
    expect(p.appName).toBe('openkcm');
    expect(p.procId).toBe(String(process.pid));
    expect(p.msgId).toBe('kmip');
    const sd = p.sd.get('openkcm@32473')!;
    expect(sd).toEqual({
      seq: '42', kind: 'kmip', identity: r.identity, tenant: 'acme', service: 'db', operation: 'Get', objectId: 'uid=7]x',
      result: 'failure', reason: 'ItemNotFound', detail: r.detail, prevHash: r.prevHash, hash: r.hash,
    });
    expect(p.msg).toBe('kmip Get by CN=app|1, O="Acme\\Corp" on uid=7]x (tenant acme/db): failure ItemNotFound — a=b | c\\d ]"');
    expect(p.bom).toBe(true); // the em dash is not ASCII → MSG-UTF8 with BOM (§6.4)
  });

  it('escapes exactly ", \\ and ] in PARAM-VALUE; null fields are omitted; severities by kind', () => {
    expect(escapeSdValue('a"b\\c]d=e')).toBe('a\\"b\\\\c\\]d=e');
    const p = parse5424(formatRfc5424(rec({ identity: null, objectId: null, reason: null, detail: null, result: 'success', kind: 'kill', operation: 'tenant.kill' }), { hostname: 'h' }));
    expect(Object.keys(p.sd.get('openkcm@32473')!)).toEqual(['seq', 'kind', 'tenant', 'service', 'operation', 'result', 'prevHash', 'hash']);
    expect(p.severity).toBe(2); // kill switch: critical
    expect(p.msgId).toBe('kill');
    expect(p.bom).toBe(false);
    expect(parse5424(formatRfc5424(rec({ kind: 'auth-failure', operation: null }), { facility: 10, sdId: 'audit@99999' })).pri).toBe(10 * 8 + 4);
  });

  it('a host name with spaces or non-ASCII is reduced to PRINTUSASCII', () => {
    expect(parse5424(formatRfc5424(rec(), { hostname: 'my host é' })).hostname).toBe('myhost');
    expect(parse5424(formatRfc5424(rec(), { hostname: 'ééé' })).hostname).toBe('-');
  });

  it('JSON and CEF payloads inside MSG', () => {
    const r = rec();
    expect(JSON.parse(parse5424(formatRfc5424(r, { payload: 'json' })).msg)).toEqual(r);
    const cef = parseCef(parse5424(formatRfc5424(r, { payload: 'cef', version: '1.2.3' })).msg);
    expect(cef.header.slice(0, 4)).toEqual(['CEF:0', 'OpenKCM', 'OpenKCM', '1.2.3']);
  });

  it('octet counting counts bytes, not characters', () => {
    const f = octetCount('é1');
    expect(f.toString('utf8')).toBe('3 é1');
    const both = Buffer.concat([octetCount('abc'), octetCount('<1>1 x'), Buffer.from('12 partial')]);
    const { messages, rest } = deframe(both);
    expect(messages).toEqual(['abc', '<1>1 x']);
    expect(rest.toString()).toBe('12 partial');
  });
});

describe('CEF', () => {
  it('header: CEF:0|OpenKCM|OpenKCM|version|signatureId|name|severity| with | and \\ escaped', () => {
    const r = rec({ operation: 'Get' });
    const line = formatCef(r, { version: '0.1.0' });
    expect(line.startsWith('CEF:0|OpenKCM|OpenKCM|0.1.0|kmip:Get|kmip Get failure ItemNotFound|4|')).toBe(true);
    expect(escapeCefHeader('a|b\\c=d')).toBe('a\\|b\\\\c=d');
    expect(escapeCefValue('a|b\\c=d\ne')).toBe('a|b\\\\c\\=d\\ne');
    const { header, ext } = parseCef(line);
    expect(header).toHaveLength(7);
    expect(ext).toMatchObject({
      rt: String(Date.parse(r.time)), externalId: '42', cat: 'kmip', act: 'Get', outcome: 'failure', reason: 'ItemNotFound',
      suser: r.identity, cs1Label: 'tenant', cs1: 'acme', cs2Label: 'service', cs2: 'db', cs3Label: 'objectId', cs3: 'uid=7]x',
      cs4Label: 'hash', cs4: r.hash, cs5Label: 'prevHash', cs5: r.prevHash, msg: r.detail,
    });
    // every '=' inside a value is escaped: the raw extension has no unescaped '=' other than key separators
    expect(line.split('|').slice(7).join('|')).toContain('suser=CN\\=app|1, O\\="Acme\\\\Corp"');
  });

  it('null fields are left out; signature id of a record without operation', () => {
    const { header, ext } = parseCef(formatCef(rec({ operation: null, identity: null, tenant: null, detail: null, kind: 'auth-failure' }), { version: 'x|y' }));
    expect(header[3]).toBe('x|y');
    expect(header[4]).toBe('auth-failure:-');
    expect(header[6]).toBe('6');
    expect(ext.suser).toBeUndefined();
    expect(ext.cs1Label).toBeUndefined();
    expect(ext.msg).toBeUndefined();
  });

  it('JSON lines: one line per record, parses back', () => {
    const r = rec();
    const line = formatJson(r);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(r);
  });
});

describe('exporter configuration', () => {
  it('fills defaults', () => {
    const [f, u, t] = validateExportConfig([
      { type: 'file', path: '/var/log/openkcm/audit.jsonl' },
      { type: 'syslog', transport: 'udp', host: '10.0.0.5' },
      { type: 'syslog', transport: 'tls', host: 'siem.example', tls: { caFile: '/etc/ca.pem' } },
    ]);
    expect(f).toMatchObject({ name: 'file:/var/log/openkcm/audit.jsonl', format: 'json', maxBytes: 10 * 1024 * 1024, keep: 5, bufferSize: 10_000, from: 'start' });
    expect(u).toMatchObject({ name: 'syslog-udp:10.0.0.5:514', port: 514, payload: 'text', facility: 13 });
    expect(t).toMatchObject({ port: 6514, tls: { caFile: '/etc/ca.pem', rejectUnauthorized: true } });
    expect(validateExportConfig({ exporters: [] })).toEqual([]);
  });

  it('refuses bad values with the key, the expected form and the value', () => {
    const cases: Array<[unknown, string]> = [
      ['nope', 'audit.exporters: expected a list of exporters, got "nope"'],
      [[{ type: 'kafka' }], "audit.exporters[0].type: expected one of 'file', 'syslog', got \"kafka\""],
      [[{ type: 'file' }], 'audit.exporters[0].path: expected a non-empty string, got nothing'],
      [[{ type: 'file', path: 'a', colour: 'red' }], 'audit.exporters[0].colour: unknown key'],
      [[{ type: 'file', path: 'a', maxBytes: 10 }], 'audit.exporters[0].maxBytes: expected an integer 4096..'],
      [[{ type: 'syslog', transport: 'udp', host: 'h', port: 70000 }], 'audit.exporters[0].port: expected an integer 1..65535, got 70000'],
      [[{ type: 'syslog', transport: 'tcp', host: 'h', port: '514' }], 'audit.exporters[0].port: expected an integer 1..65535, got "514"'],
      [[{ type: 'syslog', transport: 'smtp', host: 'h' }], "audit.exporters[0].transport: expected one of 'udp', 'tcp', 'tls'"],
      [[{ type: 'syslog', transport: 'tcp', host: 'bad host' }], 'audit.exporters[0].host: expected a host name or IP address'],
      [[{ type: 'syslog', transport: 'tcp', host: 'h', tls: {} }], "audit.exporters[0].tls: only for transport 'tls'"],
      [[{ type: 'syslog', transport: 'tls', host: 'h', tls: { ca: 'x', caFile: 'y' } }], 'give ca (PEM text) or caFile (a path), not both'],
      [[{ type: 'syslog', transport: 'tls', host: 'h', tls: { certFile: 'c' } }], 'a client certificate needs its key'],
      [[{ type: 'syslog', transport: 'udp', host: 'h', sdId: 'has space' }], 'audit.exporters[0].sdId: expected an SD-ID'],
      [[{ type: 'syslog', transport: 'udp', host: 'h', facility: 24 }], 'audit.exporters[0].facility: expected an integer 0..23'],
      [[{ type: 'file', path: 'a', retry: { minDelayMs: 500, maxDelayMs: 100 } }], 'audit.exporters[0].retry.maxDelayMs: must be ≥ minDelayMs'],
      [[{ type: 'file', path: 'a' }, { type: 'file', path: 'a' }], 'audit.exporters[1].name: "file:a" is already used by audit.exporters[0]'],
    ];
    for (const [input, msg] of cases) {
      expect(() => validateExportConfig(input), msg).toThrow(AuditConfigError);
      expect(() => validateExportConfig(input)).toThrow(msg);
    }
  });
});
