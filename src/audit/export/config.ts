// Typed, validated configuration of the SIEM exporters. validateExportConfig() takes what
// a JSON file gave (unknown) and either returns typed exporters with defaults filled in or
// throws AuditConfigError naming the key, the expected form and the value it got.
import { isIP } from 'node:net';
import { isValidSdId } from './format.ts';

export class AuditConfigError extends Error {
  override readonly name = 'AuditConfigError';
}

export interface RetryConfig {
  /** First wait after a failed delivery, in ms (default 250). */
  minDelayMs: number;
  /** Longest wait between attempts, in ms (default 30 000). */
  maxDelayMs: number;
}

interface CommonConfig {
  /** Unique; keys the delivery cursor in audit_export_cursor. Default "<type>:<target>". */
  name: string;
  /**
   * Records held in memory for this exporter. When full, further records are not copied:
   * they stay in the store, are counted (droppedFromBuffer) and read back from the store
   * once the buffer drains. Default 10 000.
   */
  bufferSize: number;
  /** Records per send (default 256). */
  batchSize: number;
  /** Where a new exporter (no cursor yet) starts: the whole log ('start', default) or new records only. */
  from: 'start' | 'now';
  retry: RetryConfig;
}

export interface FileExporterConfig extends CommonConfig {
  type: 'file';
  path: string;
  /** Line format (default 'json', i.e. JSON lines). */
  format: 'json' | 'cef' | 'rfc5424';
  /** Rotate when the file would exceed this size in bytes (default 10 MiB). */
  maxBytes: number;
  /** Rotated files kept: path.1 … path.keep (default 5). */
  keep: number;
}

export interface SyslogTlsConfig {
  /** PEM text, or caFile: trust anchors for the SIEM's certificate (default: Node's CA store). */
  ca?: string;
  caFile?: string;
  /** Client certificate and key (PEM text or files) when the SIEM wants mutual TLS. */
  cert?: string;
  certFile?: string;
  key?: string;
  keyFile?: string;
  /** Name checked against the SIEM's certificate (default: host). */
  servername?: string;
  /** Default true. false disables certificate checks: for a lab only. */
  rejectUnauthorized: boolean;
}

export interface SyslogExporterConfig extends CommonConfig {
  type: 'syslog';
  /** udp (RFC 5426), tcp with octet counting (RFC 6587 §3.4.1), tls (RFC 5425). */
  transport: 'udp' | 'tcp' | 'tls';
  host: string;
  /** Default 514 for udp/tcp, 6514 for tls (RFC 5425 §4.1). */
  port: number;
  /** MSG part: human text (default), the JSON record, or a CEF line. */
  payload: 'text' | 'json' | 'cef';
  /** 0–23, default 13 (log audit). */
  facility: number;
  hostname?: string;
  sdId?: string;
  /** Give up a connection attempt after this long (default 5000 ms). */
  connectTimeoutMs: number;
  tls?: SyslogTlsConfig;
}

export type ExporterConfig = FileExporterConfig | SyslogExporterConfig;

/** What a caller may write: every defaulted field optional. */
export type ExporterConfigInput =
  | (Partial<Omit<FileExporterConfig, 'type' | 'path' | 'retry'>> & { type: 'file'; path: string; retry?: Partial<RetryConfig> })
  | (Partial<Omit<SyslogExporterConfig, 'type' | 'host' | 'transport' | 'retry' | 'tls'>> & {
    type: 'syslog'; transport: 'udp' | 'tcp' | 'tls'; host: string; retry?: Partial<RetryConfig>; tls?: Partial<SyslogTlsConfig>;
  });

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v));

function obj(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AuditConfigError(`${where}: expected an object, got ${show(v)}`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new AuditConfigError(`${where}.${k}: unknown key (allowed: ${allowed.join(', ')})`);
  }
}

function int(o: Record<string, unknown>, k: string, where: string, min: number, max: number, dflt: number): number {
  const v = o[k];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new AuditConfigError(`${where}.${k}: expected an integer ${min}..${max}, got ${show(v)}`);
  }
  return v;
}

function str(o: Record<string, unknown>, k: string, where: string, required: true): string;
function str(o: Record<string, unknown>, k: string, where: string, required?: false): string | undefined;
function str(o: Record<string, unknown>, k: string, where: string, required = false): string | undefined {
  const v = o[k];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new AuditConfigError(`${where}.${k}: expected a non-empty string, got ${show(v)}`);
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, k: string, where: string, values: readonly T[], dflt?: T): T {
  const v = o[k];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new AuditConfigError(`${where}.${k}: expected one of ${values.map((x) => `'${x}'`).join(', ')}, got ${show(v)}`);
  }
  return v as T;
}

const COMMON_KEYS = ['type', 'name', 'bufferSize', 'batchSize', 'from', 'retry'];

function common(o: Record<string, unknown>, where: string, defaultName: string): CommonConfig {
  let retry: RetryConfig = { minDelayMs: 250, maxDelayMs: 30_000 };
  if (o.retry !== undefined) {
    const r = obj(o.retry, `${where}.retry`);
    onlyKeys(r, ['minDelayMs', 'maxDelayMs'], `${where}.retry`);
    retry = { minDelayMs: int(r, 'minDelayMs', `${where}.retry`, 1, 3_600_000, 250), maxDelayMs: int(r, 'maxDelayMs', `${where}.retry`, 1, 3_600_000, 30_000) };
    if (retry.maxDelayMs < retry.minDelayMs) throw new AuditConfigError(`${where}.retry.maxDelayMs: must be ≥ minDelayMs (${retry.minDelayMs}), got ${retry.maxDelayMs}`);
  }
  return {
    name: str(o, 'name', where) ?? defaultName,
    bufferSize: int(o, 'bufferSize', where, 1, 10_000_000, 10_000),
    batchSize: int(o, 'batchSize', where, 1, 100_000, 256),
    from: oneOf(o, 'from', where, ['start', 'now'] as const, 'start'),
    retry,
  };
}

function validateOne(v: unknown, where: string): ExporterConfig {
  const o = obj(v, where);
  const type = oneOf(o, 'type', where, ['file', 'syslog'] as const);
  if (type === 'file') {
    onlyKeys(o, [...COMMON_KEYS, 'path', 'format', 'maxBytes', 'keep'], where);
    const path = str(o, 'path', where, true);
    return {
      ...common(o, where, `file:${path}`),
      type,
      path,
      format: oneOf(o, 'format', where, ['json', 'cef', 'rfc5424'] as const, 'json'),
      maxBytes: int(o, 'maxBytes', where, 4096, Number.MAX_SAFE_INTEGER, 10 * 1024 * 1024),
      keep: int(o, 'keep', where, 0, 1000, 5),
    };
  }
  onlyKeys(o, [...COMMON_KEYS, 'transport', 'host', 'port', 'payload', 'facility', 'hostname', 'sdId', 'connectTimeoutMs', 'tls'], where);
  const transport = oneOf(o, 'transport', where, ['udp', 'tcp', 'tls'] as const);
  const host = str(o, 'host', where, true);
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw new AuditConfigError(`${where}.host: expected a host name or IP address, got ${show(host)}`);
  }
  const port = int(o, 'port', where, 1, 65_535, transport === 'tls' ? 6514 : 514);
  const sdId = str(o, 'sdId', where);
  if (sdId !== undefined && !isValidSdId(sdId)) {
    throw new AuditConfigError(`${where}.sdId: expected an SD-ID of 1–32 printable ASCII characters without '=', ' ', ']' or '"' (e.g. "openkcm@32473"), got ${show(sdId)}`);
  }
  let tls: SyslogTlsConfig | undefined;
  if (o.tls !== undefined) {
    if (transport !== 'tls') throw new AuditConfigError(`${where}.tls: only for transport 'tls' (transport is '${transport}')`);
    const t = obj(o.tls, `${where}.tls`);
    const w = `${where}.tls`;
    onlyKeys(t, ['ca', 'caFile', 'cert', 'certFile', 'key', 'keyFile', 'servername', 'rejectUnauthorized'], w);
    for (const [a, b] of [['ca', 'caFile'], ['cert', 'certFile'], ['key', 'keyFile']] as const) {
      if (t[a] !== undefined && t[b] !== undefined) throw new AuditConfigError(`${w}: give ${a} (PEM text) or ${b} (a path), not both`);
    }
    if (t.rejectUnauthorized !== undefined && typeof t.rejectUnauthorized !== 'boolean') {
      throw new AuditConfigError(`${w}.rejectUnauthorized: expected true or false, got ${show(t.rejectUnauthorized)}`);
    }
    tls = { rejectUnauthorized: t.rejectUnauthorized !== false };
    for (const k of ['ca', 'caFile', 'cert', 'certFile', 'key', 'keyFile', 'servername'] as const) {
      const s = str(t, k, w);
      if (s !== undefined) tls[k] = s;
    }
    const hasCert = tls.cert !== undefined || tls.certFile !== undefined;
    const hasKey = tls.key !== undefined || tls.keyFile !== undefined;
    if (hasCert !== hasKey) throw new AuditConfigError(`${w}: a client certificate needs its key and a key its certificate (give both or neither)`);
  }
  const hostname = str(o, 'hostname', where);
  if (hostname !== undefined && !/^[\x21-\x7e]{1,255}$/.test(hostname)) {
    throw new AuditConfigError(`${where}.hostname: expected 1–255 printable ASCII characters without spaces (RFC 5424 §6.2.4), got ${show(hostname)}`);
  }
  const cfg: SyslogExporterConfig = {
    ...common(o, where, `syslog-${transport}:${host}:${port}`),
    type,
    transport,
    host,
    port,
    payload: oneOf(o, 'payload', where, ['text', 'json', 'cef'] as const, 'text'),
    facility: int(o, 'facility', where, 0, 23, 13),
    connectTimeoutMs: int(o, 'connectTimeoutMs', where, 1, 600_000, 5_000),
  };
  if (hostname !== undefined) cfg.hostname = hostname;
  if (sdId !== undefined) cfg.sdId = sdId;
  if (tls !== undefined) cfg.tls = tls;
  return cfg;
}

/**
 * Validates a list of exporters (or `{ exporters: [...] }`). `where` prefixes messages
 * with the config path the list came from.
 */
export function validateExportConfig(input: unknown, where = 'audit.exporters'): ExporterConfig[] {
  let list = input;
  if (list !== null && typeof list === 'object' && !Array.isArray(list)) {
    const o = list as Record<string, unknown>;
    onlyKeys(o, ['exporters'], where.replace(/\.exporters$/, ''));
    list = o.exporters;
  }
  if (!Array.isArray(list)) throw new AuditConfigError(`${where}: expected a list of exporters, got ${show(list)}`);
  const out = list.map((e, i) => validateOne(e, `${where}[${i}]`));
  const seen = new Map<string, number>();
  out.forEach((e, i) => {
    const j = seen.get(e.name);
    if (j !== undefined) throw new AuditConfigError(`${where}[${i}].name: "${e.name}" is already used by ${where}[${j}]; each exporter needs its own name (it keys its delivery cursor)`);
    seen.set(e.name, i);
  });
  return out;
}
