// Payload formats for SIEM export: JSON lines, syslog RFC 5424 and ArcSight CEF.
// Pure functions of a record; transports (transports.ts) add framing.
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import type { AuditRecord } from '../record.ts';

/** One record per line; field order as in AuditRecord. Fields cannot hold a line break (record.ts escapes control and format characters). */
export function formatJson(r: AuditRecord): string {
  return JSON.stringify(r);
}

/**
 * Syslog severity (RFC 5424 §6.2.1, table 2). What an operator should notice stands out:
 * a kill switch is critical (a tenant is locked out cryptographically), failed
 * seal/unseal/kill are errors, refused logins and admin failures warnings.
 */
export function syslogSeverity(r: AuditRecord): number {
  const failed = r.result === 'failure';
  switch (r.kind) {
    case 'kill': return failed ? 3 : 2;
    case 'seal': case 'unseal': return failed ? 3 : 5;
    case 'auth-failure': return 4;
    case 'admin': return failed ? 4 : 5;
    case 'kmip': return failed ? 5 : 6;
    default: return failed ? 4 : 6;
  }
}

/** CEF severity 0–10 (10 most severe), from the syslog severity (0 most severe). */
export function cefSeverity(r: AuditRecord): number {
  return ({ 0: 10, 1: 10, 2: 9, 3: 7, 4: 6, 5: 4, 6: 2, 7: 0 } as Record<number, number>)[syslogSeverity(r)] ?? 5;
}

/** A one-line human summary: "kmip Get by CN=app on uid-1 (tenant acme/db): failure ItemNotFound — detail". */
export function formatText(r: AuditRecord): string {
  const parts: string[] = [r.kind];
  if (r.operation) parts.push(r.operation);
  if (r.identity) parts.push(`by ${r.identity}`);
  if (r.objectId) parts.push(`on ${r.objectId}`);
  if (r.tenant) parts.push(`(tenant ${r.tenant}${r.service ? `/${r.service}` : ''})`);
  let s = `${parts.join(' ')}: ${r.result}${r.reason ? ` ${r.reason}` : ''}`;
  if (r.detail) s += ` — ${r.detail}`;
  return s;
}

// ---------------------------------------------------------------------------------------
// RFC 5424

export interface Rfc5424Options {
  /** Facility 0–23 (RFC 5424 §6.2.1, table 1). Default 13, "log audit". */
  facility?: number;
  /** HOSTNAME field; default the machine's host name. */
  hostname?: string;
  /** SD-ID of the structured data element (RFC 5424 §6.3.2: name@private-enterprise-number). */
  sdId?: string;
  /** What goes into MSG. */
  payload?: 'text' | 'json' | 'cef';
  /** Product version for CEF payloads. */
  version?: string;
}

/**
 * Default SD-ID. OpenKCM has no IANA enterprise number of its own; 32473 is the number
 * RFC 5612 reserves for documentation and examples. Deployments with their own PEN set sdId.
 */
export const DEFAULT_SD_ID = 'openkcm@32473';
export const APP_NAME = 'openkcm';
export const DEFAULT_FACILITY = 13;

/** PRINTUSASCII (%d33-126) of at most `max` characters, or the NILVALUE "-" (RFC 5424 §6). */
function headerToken(s: string | undefined, max: number): string {
  if (!s) return '-';
  const clean = s.replace(/[^\x21-\x7e]/g, '');
  return clean.length === 0 ? '-' : clean.slice(0, max);
}

/** PARAM-VALUE escaping: '"', '\' and ']' are preceded by '\' (RFC 5424 §6.3.3). */
export function escapeSdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

const SD_FIELDS: ReadonlyArray<[keyof AuditRecord, string]> = [
  ['seq', 'seq'], ['kind', 'kind'], ['identity', 'identity'], ['tenant', 'tenant'], ['service', 'service'],
  ['operation', 'operation'], ['objectId', 'objectId'], ['result', 'result'], ['reason', 'reason'],
  ['detail', 'detail'], ['prevHash', 'prevHash'], ['hash', 'hash'],
];

const SD_ID = /^[\x21-\x7e]{1,32}$/;
export function isValidSdId(s: string): boolean {
  return SD_ID.test(s) && !/[= \]"]/.test(s);
}

let cachedHost: string | undefined;
const defaultHost = () => (cachedHost ??= headerToken(osHostname(), 255));

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID param="value" …] MSG`
 * (RFC 5424 §6). MSGID is the record kind; the structured data carries every field,
 * including the chain hashes, so the SIEM holds an anchor copy of the chain.
 */
export function formatRfc5424(r: AuditRecord, o: Rfc5424Options = {}): string {
  const pri = (o.facility ?? DEFAULT_FACILITY) * 8 + syslogSeverity(r);
  const host = o.hostname !== undefined ? headerToken(o.hostname, 255) : defaultHost();
  const params = SD_FIELDS
    .filter(([f]) => r[f] !== null)
    .map(([f, name]) => `${name}="${escapeSdValue(String(r[f]))}"`)
    .join(' ');
  const sd = `[${o.sdId ?? DEFAULT_SD_ID} ${params}]`;
  const payload = o.payload ?? 'text';
  const msg = payload === 'json' ? formatJson(r) : payload === 'cef' ? formatCef(r, o.version === undefined ? {} : { version: o.version }) : formatText(r);
  // MSG is MSG-UTF8 (BOM + UTF-8) when it holds non-ASCII text, otherwise plain MSG-ANY (§6.4).
  const bom = /[^\x00-\x7f]/.test(msg) ? '\ufeff' : '';
  return `<${pri}>1 ${r.time} ${host} ${APP_NAME} ${process.pid} ${headerToken(r.kind, 32)} ${sd} ${bom}${msg}`;
}

// ---------------------------------------------------------------------------------------
// CEF (ArcSight Common Event Format, "Implementing ArcSight CEF" rev. 25)

let cachedVersion: string | undefined;
/** The package version, for the CEF Device Version field. */
export function productVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cachedVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
    } catch {
      cachedVersion = '0.0.0';
    }
  }
  return cachedVersion;
}

/** Header fields: '\' and '|' are escaped with '\'. */
export function escapeCefHeader(v: string): string {
  return v.replace(/[\\|]/g, (c) => `\\${c}`);
}

/** Extension values: '\' and '=' are escaped with '\'; line breaks become \n and \r. */
export function escapeCefValue(v: string): string {
  return v.replace(/[\\=\r\n]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}

/**
 * `CEF:0|OpenKCM|OpenKCM|<version>|<signatureId>|<name>|<severity>|<extensions>`.
 * Standard keys where CEF has one (rt, externalId, cat, act, outcome, reason, suser, msg),
 * labelled custom strings for the rest.
 */
export function formatCef(r: AuditRecord, o: { version?: string } = {}): string {
  const sigId = `${r.kind}:${r.operation ?? '-'}`;
  const name = `${r.kind}${r.operation ? ` ${r.operation}` : ''} ${r.result}${r.reason ? ` ${r.reason}` : ''}`;
  const ext: Array<[string, string | number | null]> = [
    ['rt', Date.parse(r.time)],
    ['externalId', r.seq],
    ['cat', r.kind],
    ['act', r.operation],
    ['outcome', r.result],
    ['reason', r.reason],
    ['suser', r.identity],
    ['cs1Label', r.tenant === null ? null : 'tenant'], ['cs1', r.tenant],
    ['cs2Label', r.service === null ? null : 'service'], ['cs2', r.service],
    ['cs3Label', r.objectId === null ? null : 'objectId'], ['cs3', r.objectId],
    ['cs4Label', 'hash'], ['cs4', r.hash],
    ['cs5Label', 'prevHash'], ['cs5', r.prevHash],
    ['msg', r.detail],
  ];
  const extension = ext.filter(([, v]) => v !== null).map(([k, v]) => `${k}=${escapeCefValue(String(v))}`).join(' ');
  const header = ['CEF:0', 'OpenKCM', 'OpenKCM', o.version ?? productVersion(), sigId, name, String(cefSeverity(r))].map((h, i) => (i === 0 ? h : escapeCefHeader(h)));
  return `${header.join('|')}|${extension}`;
}
