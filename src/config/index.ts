// Typed configuration (issue 3 §5): defaults ← JSON file (--config / OPENKCM_CONFIG) ←
// OPENKCM_* environment ← command-line flags, later sources winning. Every key is declared
// once in SETTINGS with its type; an unknown key or a bad value is refused with a
// ConfigError that names the key, where it came from, and how to fix it.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve, join } from 'node:path';
import {
  DEFAULT_HOST, DEFAULT_PORT, DEFAULT_DATA_DIR, DEFAULT_CERTS_DIR, DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PIPELINE_DEPTH, DEFAULT_ADMIN_PORT, DEFAULT_CMK_CHANGE_RETENTION,
  DEFAULT_L1_STATUS_CHECK_INTERVAL_MS, MIN_L1_STATUS_CHECK_INTERVAL_MS, MAX_L1_STATUS_CHECK_INTERVAL_MS,
  DEFAULT_MAX_PRE_AUTH_CONNECTIONS, DEFAULT_MAX_PRE_AUTH_PER_SOURCE, DEFAULT_MESSAGE_TIMEOUT_MS,
} from './defaults.ts';

export * from './defaults.ts';

/** `tls.profile` values (src/server/tls-profile.ts says what each restricts; config is a leaf, so the list lives here). */
export const TLS_PROFILE_NAMES = ['none', 'suiteb-128', 'suiteb-192'] as const;
export type TlsProfileName = (typeof TLS_PROFILE_NAMES)[number];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface OpenKcmConfig {
  listen: { host: string; port: number };
  dataDir: string;
  certsDir: string;
  /**
   * PEM files, default ca.crt / server.crt / server.key inside certsDir; and the TLS profile
   * of the KMIP ports (default none; suiteb-128 / suiteb-192 restrict suites, curves and
   * signature algorithms to RFC 6460's and need an ECDSA server certificate).
   */
  tls: { caFile: string; certFile: string; keyFile: string; profile: TlsProfileName };
  /**
   * KMIP over HTTPS (issue 13 §3, KMIP Profiles 2.1 §5.3): `POST /kmip` on its own address,
   * same certificates, identities and policy as the TTLV port. Off (undefined) by default.
   */
  https: { listen: { host: string; port: number } | undefined };
  /** Generate a development PKI into certsDir when its files are absent. */
  devPki: boolean;
  limits: {
    maxMessageSize: number;
    idleTimeoutMs: number;
    handshakeTimeoutMs: number;
    maxConnections: number;
    maxPipelineDepth: number;
    /** Connections whose TLS handshake has not completed (DEFAULT_MAX_PRE_AUTH_CONNECTIONS, at most maxConnections). */
    maxPreAuthConnections: number;
    /** Of those, from one address or IPv6 /64 (DEFAULT_MAX_PRE_AUTH_PER_SOURCE, at most maxPreAuthConnections). */
    maxPreAuthPerSource: number;
    messageTimeoutMs: number;
  };
  log: { level: LogLevel };
  /**
   * Development (software) L1 key file, default <dataDir>/l1-software.key; and the interval
   * of the periodic L1 status check (issue 16 §3), default 30 s, at least 1 s.
   */
  l1: { keyFile: string; statusCheckIntervalMs: number };
  /**
   * The admin API (HTTPS, mutual TLS; src/server/admin.ts): its address (never the KMIP
   * port) and the CA key `kmipctl cert issue` signs with (default <certsDir>/ca.key; when
   * the file is absent the API runs without certificate issuing).
   */
  admin: { enabled: boolean; listen: { host: string; port: number }; caKeyFile: string };
  /**
   * SIEM export of the audit log (issue 7). `exporters` is the list exactly as written (JSON
   * file key audit.exporters, or env OPENKCM_AUDIT_EXPORTERS holding the JSON list): config is
   * a leaf module (DESIGN.md §5), so the server validates each entry with the audit module's
   * validateExportConfig before it starts, quoting `exportersFrom` in its messages, and
   * resolves the entries' relative paths against `exportersBaseDir` (the file's directory,
   * like every other path of the file; the working directory for the environment).
   */
  audit: {
    exporters: readonly unknown[]; exportersFrom: string; exportersBaseDir: string;
    /**
     * A KMIP reply waits until its audit records are on disk (default false: sent once they
     * are queued; a crash then loses at most the last group-commit window, ~5 ms plus one
     * disk flush — src/audit/log.ts).
     */
    durable: boolean;
  };
  /**
   * The vault (issue 10 §4): `url` undefined keeps objects and hierarchy keys in the SQLite
   * database of dataDir; a postgres:// URL puts them in PostgreSQL, shared by every server
   * on that database (governance and audit stay in dataDir).
   */
  store: { url: string | undefined };
  /** `openkcm cmk` (issue 10): changes kept in the governance change log for the cores' streams. */
  cmk: { changeRetention: number };
  /**
   * `openkcm serve`: KMIP worker processes (node:cluster, src/cli/serve-workers.ts). Default:
   * the number of CPUs the process may use (os.availableParallelism()); 1 runs the server in
   * one process, exactly as before workers existed.
   */
  workers: number;
  /**
   * `/metrics` (Prometheus text format), `/healthz` and `/readyz` on a listener of their own
   * (issue 14 §2; src/server/metrics-http.ts). `listen` undefined: no such listener. `tls`
   * false serves plain HTTP (a scraper on the same host or a private network); true serves
   * HTTPS with the server certificate, and `clientCertificate` true then also asks for a
   * client certificate of the CA in tls.caFile (any one: nothing in the answers is secret).
   */
  metrics: { listen: { host: string; port: number } | undefined; tls: boolean; clientCertificate: boolean };
  /**
   * OpenID Connect sign-in for administrators (issue 14 §4; src/server/sso.ts): undefined
   * when no sso.* key is set. The client secret is a reference (an environment variable's
   * name or a file), never the secret itself, so the configuration can be shown and logged.
   */
  sso: SsoConfig | undefined;
}

/** A claim value → what it makes the person: `admin`, `auditor`, or `tenant-admin:<tenant>`. */
export type SsoRoleMapping = Readonly<Record<string, string>>;

export interface SsoConfig {
  /** The IdP's issuer URL exactly as its discovery document names it. */
  issuer: string;
  clientId: string;
  clientSecretEnv: string | undefined;
  clientSecretFile: string | undefined;
  /** The `aud` a bearer token for the admin API must carry (default: clientId). */
  audience: string;
  /** Where the IdP sends the browser back; default https://<admin address>/auth/callback. */
  redirectUrl: string | undefined;
  /** The claim (a string or a list of strings) whose values `roles` maps. */
  roleClaim: string;
  roles: SsoRoleMapping;
  scopes: string;
  /** Console session lifetime; a session never outlives it, whatever the IdP says. */
  sessionTtlSeconds: number;
}

/** Console session lifetime bounds: a forgotten browser is not an administrator for days. */
export const DEFAULT_SSO_SESSION_TTL_SECONDS = 3600;
export const MAX_SSO_SESSION_TTL_SECONDS = 12 * 3600;
/** The environment variable the README suggests for the client secret (not a setting: it is the secret). */
export const SSO_CLIENT_SECRET_ENV = 'OPENKCM_SSO_CLIENT_SECRET';

/** More workers than this is a typo, not a machine: each one holds its tenants' keys and a database handle. */
export const MAX_WORKERS = 256;

/** One worker per CPU this process may run on (cgroup/affinity aware), at most MAX_WORKERS. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(MAX_WORKERS, availableParallelism()));
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly key: string, readonly source: string, detail: string) {
    super(`configuration ${source} "${key}": ${detail}`);
  }
}

type Kind = 'hostport' | 'path' | 'int' | 'bool' | 'level' | 'list' | 'dburl' | 'choice' | 'string' | 'url' | 'envname' | 'rolemap';
interface Setting {
  kind: Kind;
  /** kind 'choice': the accepted values. */
  choices?: readonly string[];
  env: string;
  flag?: string;
  min?: number;
  max?: number;
  help: string;
}

/** Every setting, by its dotted key in the JSON file. */
export const SETTINGS: Readonly<Record<string, Setting>> = {
  listen: { kind: 'hostport', env: 'OPENKCM_LISTEN', flag: 'listen', help: 'HOST:PORT, e.g. 127.0.0.1:5696 or [::1]:5696' },
  dataDir: { kind: 'path', env: 'OPENKCM_DATA', flag: 'data', help: 'a directory for the database and the development L1 key' },
  certsDir: { kind: 'path', env: 'OPENKCM_CERTS', flag: 'certs', help: 'a directory holding ca.crt, server.crt, server.key' },
  'tls.caFile': { kind: 'path', env: 'OPENKCM_TLS_CA', help: 'a PEM file of the CA(s) that issue client certificates' },
  'tls.certFile': { kind: 'path', env: 'OPENKCM_TLS_CERT', help: 'the server certificate chain, PEM' },
  'tls.keyFile': { kind: 'path', env: 'OPENKCM_TLS_KEY', help: 'the server private key, PEM' },
  'tls.profile': {
    kind: 'choice', choices: TLS_PROFILE_NAMES, env: 'OPENKCM_TLS_PROFILE', flag: 'tlsProfile',
    help: `${TLS_PROFILE_NAMES.join(', ')} (Suite B profiles of RFC 6460 need an ECDSA server certificate: P-256 or P-384 for suiteb-128, P-384 for suiteb-192)`,
  },
  'https.listen': { kind: 'hostport', env: 'OPENKCM_HTTPS_LISTEN', flag: 'httpsListen', help: 'HOST:PORT of KMIP over HTTPS (POST /kmip), e.g. 127.0.0.1:5443' },
  devPki: { kind: 'bool', env: 'OPENKCM_DEV_PKI', help: 'true or false' },
  'limits.maxMessageSize': { kind: 'int', env: 'OPENKCM_MAX_MESSAGE_SIZE', flag: 'maxMessageSize', min: 64, max: 64 * 1024 * 1024, help: 'bytes, 64 to 67108864' },
  'limits.idleTimeoutMs': { kind: 'int', env: 'OPENKCM_IDLE_TIMEOUT_MS', flag: 'idleTimeout', min: 100, max: 24 * 3600_000, help: 'milliseconds, 100 to 86400000' },
  'limits.handshakeTimeoutMs': { kind: 'int', env: 'OPENKCM_HANDSHAKE_TIMEOUT_MS', min: 100, max: 600_000, help: 'milliseconds, 100 to 600000' },
  'limits.maxConnections': { kind: 'int', env: 'OPENKCM_MAX_CONNECTIONS', flag: 'maxConnections', min: 1, max: 1_000_000, help: 'a count, 1 to 1000000' },
  'limits.maxPipelineDepth': { kind: 'int', env: 'OPENKCM_MAX_PIPELINE_DEPTH', min: 1, max: 10_000, help: 'a count, 1 to 10000' },
  'limits.maxPreAuthConnections': { kind: 'int', env: 'OPENKCM_MAX_PRE_AUTH_CONNECTIONS', min: 1, max: 1_000_000, help: 'a count, 1 to 1000000, at most limits.maxConnections' },
  'limits.maxPreAuthPerSource': { kind: 'int', env: 'OPENKCM_MAX_PRE_AUTH_PER_SOURCE', min: 1, max: 1_000_000, help: 'a count, 1 to 1000000, at most limits.maxPreAuthConnections' },
  'limits.messageTimeoutMs': { kind: 'int', env: 'OPENKCM_MESSAGE_TIMEOUT_MS', min: 100, max: 3600_000, help: 'milliseconds, 100 to 3600000' },
  'log.level': { kind: 'level', env: 'OPENKCM_LOG_LEVEL', flag: 'logLevel', help: LOG_LEVELS.join(', ') },
  'l1.keyFile': { kind: 'path', env: 'OPENKCM_L1_KEY_FILE', help: 'path of the development L1 key file' },
  'l1.statusCheckIntervalMs': {
    kind: 'int', env: 'OPENKCM_L1_STATUS_CHECK_INTERVAL_MS', flag: 'l1StatusCheckInterval',
    min: MIN_L1_STATUS_CHECK_INTERVAL_MS, max: MAX_L1_STATUS_CHECK_INTERVAL_MS,
    help: `milliseconds between two L1 status checks, ${MIN_L1_STATUS_CHECK_INTERVAL_MS} to ${MAX_L1_STATUS_CHECK_INTERVAL_MS}`,
  },
  'admin.enabled': { kind: 'bool', env: 'OPENKCM_ADMIN_ENABLED', help: 'true or false (run the admin API)' },
  'admin.listen': { kind: 'hostport', env: 'OPENKCM_ADMIN_LISTEN', flag: 'adminListen', help: 'HOST:PORT of the admin API, e.g. 127.0.0.1:5697' },
  'admin.caKeyFile': { kind: 'path', env: 'OPENKCM_ADMIN_CA_KEY', help: 'the PEM key of the CA in tls.caFile, for kmipctl cert issue' },
  'metrics.listen': { kind: 'hostport', env: 'OPENKCM_METRICS_LISTEN', flag: 'metricsListen', help: 'HOST:PORT of /metrics, /healthz and /readyz, e.g. 127.0.0.1:9464 (unset: not served)' },
  'metrics.tls': { kind: 'bool', env: 'OPENKCM_METRICS_TLS', help: 'true or false (HTTPS with the server certificate; default true)' },
  'metrics.clientCertificate': { kind: 'bool', env: 'OPENKCM_METRICS_CLIENT_CERT', help: 'true or false (with metrics.tls, require a client certificate of tls.caFile; default true)' },
  'store.url': { kind: 'dburl', env: 'OPENKCM_DATABASE_URL', flag: 'databaseUrl', help: 'a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE' },
  workers: { kind: 'int', env: 'OPENKCM_WORKERS', flag: 'workers', min: 1, max: MAX_WORKERS, help: `a count of processes, 1 to ${MAX_WORKERS} (default: the number of CPUs)` },
  'cmk.changeRetention': { kind: 'int', env: 'OPENKCM_CMK_CHANGE_RETENTION', flag: 'changeRetention', min: 1, max: 100_000_000, help: 'a count of changes, 1 to 100000000 (default 50000)' },
  'audit.durable': { kind: 'bool', env: 'OPENKCM_AUDIT_DURABLE', help: 'true or false (a reply waits until its audit records are on disk)' },
  'sso.issuer': { kind: 'url', env: 'OPENKCM_SSO_ISSUER', help: 'the IdP issuer URL, https:// (http:// only on loopback, for development)' },
  'sso.clientId': { kind: 'string', env: 'OPENKCM_SSO_CLIENT_ID', help: 'the client id registered at the IdP' },
  'sso.clientSecretEnv': { kind: 'envname', env: 'OPENKCM_SSO_CLIENT_SECRET_ENV', help: `the NAME of an environment variable holding the client secret, e.g. ${SSO_CLIENT_SECRET_ENV}` },
  'sso.clientSecretFile': { kind: 'path', env: 'OPENKCM_SSO_CLIENT_SECRET_FILE', help: 'a file holding the client secret' },
  'sso.audience': { kind: 'string', env: 'OPENKCM_SSO_AUDIENCE', help: 'the aud claim of bearer tokens for the admin API (default: sso.clientId)' },
  'sso.redirectUrl': { kind: 'url', env: 'OPENKCM_SSO_REDIRECT_URL', help: 'the console callback URL registered at the IdP, https://HOST:PORT/auth/callback' },
  'sso.roleClaim': { kind: 'string', env: 'OPENKCM_SSO_ROLE_CLAIM', help: 'the claim whose values sso.roles maps, e.g. groups' },
  'sso.roles': { kind: 'rolemap', env: 'OPENKCM_SSO_ROLES', help: 'a JSON object from claim values to "admin", "auditor" or "tenant-admin:<tenant>", e.g. {"kms-admins":"admin"}' },
  'sso.scopes': { kind: 'string', env: 'OPENKCM_SSO_SCOPES', help: 'the scopes the console asks for, space-separated, including openid' },
  'sso.sessionTtlSeconds': { kind: 'int', env: 'OPENKCM_SSO_SESSION_TTL', min: 60, max: MAX_SSO_SESSION_TTL_SECONDS, help: `seconds, 60 to ${MAX_SSO_SESSION_TTL_SECONDS} (default ${DEFAULT_SSO_SESSION_TTL_SECONDS})` },
  'audit.exporters': { kind: 'list', env: 'OPENKCM_AUDIT_EXPORTERS', help: 'a JSON list of SIEM exporters, e.g. [{"type":"syslog","transport":"tcp","host":"siem.example","port":514}]' },
};

/** Environment variables that are not settings but are ours (kmipctl's connection settings among them). */
const OTHER_ENV = new Set([
  'OPENKCM_CONFIG', 'OPENKCM_WORKER_SLOT', 'OPENKCM_ADMIN_SERVER', 'OPENKCM_ADMIN_KMIP', 'OPENKCM_ADMIN_CERT', 'OPENKCM_ADMIN_KEY', 'OPENKCM_ADMIN_CA', 'OPENKCM_ADMIN_CONFIG',
  'OPENKCM_ADMIN_TOKEN', 'OPENKCM_ADMIN_TOKEN_FILE', SSO_CLIENT_SECRET_ENV,
]);

export function defaultConfig(cwd = process.cwd()): OpenKcmConfig {
  const dataDir = resolve(cwd, DEFAULT_DATA_DIR);
  const certsDir = resolve(cwd, DEFAULT_CERTS_DIR);
  return {
    listen: { host: DEFAULT_HOST, port: DEFAULT_PORT },
    dataDir,
    certsDir,
    tls: { caFile: join(certsDir, 'ca.crt'), certFile: join(certsDir, 'server.crt'), keyFile: join(certsDir, 'server.key'), profile: 'none' },
    https: { listen: undefined },
    devPki: true,
    limits: {
      maxMessageSize: DEFAULT_MAX_MESSAGE_BYTES,
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
      handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      maxPipelineDepth: DEFAULT_MAX_PIPELINE_DEPTH,
      maxPreAuthConnections: DEFAULT_MAX_PRE_AUTH_CONNECTIONS,
      maxPreAuthPerSource: DEFAULT_MAX_PRE_AUTH_PER_SOURCE,
      messageTimeoutMs: DEFAULT_MESSAGE_TIMEOUT_MS,
    },
    log: { level: 'info' },
    l1: { keyFile: join(dataDir, 'l1-software.key'), statusCheckIntervalMs: DEFAULT_L1_STATUS_CHECK_INTERVAL_MS },
    admin: { enabled: true, listen: { host: DEFAULT_HOST, port: DEFAULT_ADMIN_PORT }, caKeyFile: join(certsDir, 'ca.key') },
    audit: { exporters: [], exportersFrom: 'defaults', exportersBaseDir: cwd, durable: false },
    store: { url: undefined },
    cmk: { changeRetention: DEFAULT_CMK_CHANGE_RETENTION },
    workers: defaultWorkers(),
    metrics: { listen: undefined, tls: true, clientCertificate: true },
    sso: undefined,
  };
}

export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

type Value = string | number | boolean | { host: string; port: number } | readonly unknown[];

function convert(key: string, s: Setting, raw: unknown, source: string, baseDir: string): Value {
  const bad = (what: string): never => { throw new ConfigError(key, source, `${what}; expected ${s.help}`); };
  switch (s.kind) {
    case 'hostport': {
      if (typeof raw !== 'string') return bad(`must be a string, got ${JSON.stringify(raw)}`);
      return parseHostPort(raw) ?? bad(`"${raw}" is not HOST:PORT with a port from 0 to 65535`);
    }
    case 'path':
      if (typeof raw !== 'string' || raw.trim() === '') return bad(`must be a non-empty path, got ${JSON.stringify(raw)}`);
      return resolve(baseDir, raw);
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) return bad(`${JSON.stringify(raw)} is not a whole number`);
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) return bad(`${n} is out of range`);
      return n;
    }
    case 'bool':
      if (raw === true || raw === 'true' || raw === '1') return true;
      if (raw === false || raw === 'false' || raw === '0') return false;
      return bad(`${JSON.stringify(raw)} is not a boolean`);
    case 'level':
      if (typeof raw === 'string' && (LOG_LEVELS as readonly string[]).includes(raw)) return raw;
      return bad(`${JSON.stringify(raw)} is not a log level`);
    case 'choice':
      if (typeof raw === 'string' && (s.choices ?? []).includes(raw.trim())) return raw.trim();
      return bad(`${JSON.stringify(raw)} is not one of ${(s.choices ?? []).join(', ')}`);
    case 'dburl': {
      // The value is never echoed: it may carry a password.
      if (typeof raw !== 'string' || raw.trim() === '') return bad('must be a non-empty string');
      let u: URL;
      try {
        u = new URL(raw.trim());
      } catch {
        return bad('is not a URL');
      }
      if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return bad(`has the scheme ${u.protocol.replace(/:$/, '')}`);
      if (u.pathname === '' || u.pathname === '/') return bad('names no database');
      return raw.trim();
    }
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') return bad(`must be a non-empty string, got ${JSON.stringify(raw)}`);
      return raw.trim();
    case 'envname':
      if (typeof raw !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw)) return bad(`${JSON.stringify(raw)} is not an environment variable name`);
      return raw;
    case 'url': {
      if (typeof raw !== 'string' || raw.trim() === '') return bad('must be a non-empty URL');
      let u: URL;
      try {
        u = new URL(raw.trim());
      } catch {
        return bad(`${JSON.stringify(raw)} is not a URL`);
      }
      // Tokens and codes travel over it: plain http only where nobody else can listen.
      const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) return bad(`${JSON.stringify(raw)} is not https://`);
      if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') return bad(`${JSON.stringify(raw)} carries a query, fragment or credentials`);
      return raw.trim();
    }
    case 'rolemap': {
      const v = jsonIfText(raw, bad);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return bad('must be an object');
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) return bad('maps no claim value: nobody could sign in');
      for (const [claim, role] of entries) {
        if (typeof role !== 'string' || !/^(admin|auditor|tenant-admin:[^\s:]+)$/.test(role)) {
          return bad(`"${claim}" maps to ${JSON.stringify(role)}`);
        }
      }
      return JSON.stringify(Object.fromEntries(entries));
    }
    case 'list': {
      const v = jsonIfText(raw, bad);
      if (!Array.isArray(v)) return bad(`must be a list, got ${v === null ? 'null' : typeof v}`);
      return v as readonly unknown[];
    }
  }
}

/**
 * A structured setting (a list, a map) as given: the environment can only carry text, so
 * there it is JSON; a config file's value is already parsed.
 */
function jsonIfText(raw: unknown, bad: (what: string) => never): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch (e) {
    return bad(`is not valid JSON (${(e as Error).message})`);
  }
}

function flatten(obj: unknown, prefix: string, out: Map<string, unknown>, file: string): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new ConfigError(prefix || '(root)', `file ${file}`, 'must be a JSON object');
  }
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(key in SETTINGS)) flatten(v, key, out, file);
    else out.set(key, v);
  }
}

function suggest(key: string, known: string[]): string {
  const lower = key.toLowerCase();
  const near = known.find((k) => k.toLowerCase() === lower || k.toLowerCase().endsWith('.' + lower) || lower.endsWith(k.toLowerCase()));
  return near ? ` (did you mean "${near}"?)` : ` (known keys: ${known.join(', ')})`;
}

export interface ConfigSources {
  /** Command-line flags by commander's camelCase names (listen, data, certs, config, maxMessageSize…). */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The sso.* keys as one SsoConfig, or undefined when none is set; a partial set is refused. */
function ssoFrom(get: <T extends Value>(k: string) => T | undefined, where: (k: string) => string): SsoConfig | undefined {
  const keys = Object.keys(SETTINGS).filter((k) => k.startsWith('sso.'));
  const set = keys.filter((k) => get(k) !== undefined);
  if (set.length === 0) return undefined;
  for (const k of ['sso.issuer', 'sso.clientId', 'sso.roles']) {
    if (get(k) === undefined) {
      throw new ConfigError(k, where(set[0]!), `is missing: single sign-on (${set.join(', ')} set) needs sso.issuer, sso.clientId and sso.roles`);
    }
  }
  if (get('sso.clientSecretEnv') !== undefined && get('sso.clientSecretFile') !== undefined) {
    throw new ConfigError('sso.clientSecretFile', where('sso.clientSecretFile'), 'and sso.clientSecretEnv are both set; give the client secret one way');
  }
  const scopes = get<string>('sso.scopes') ?? 'openid profile email';
  if (!scopes.split(/\s+/).includes('openid')) throw new ConfigError('sso.scopes', where('sso.scopes'), `"${scopes}" lacks openid, without which there is no ID token`);
  const clientId = get<string>('sso.clientId')!;
  return {
    issuer: get<string>('sso.issuer')!,
    clientId,
    clientSecretEnv: get<string>('sso.clientSecretEnv'),
    clientSecretFile: get<string>('sso.clientSecretFile'),
    audience: get<string>('sso.audience') ?? clientId,
    redirectUrl: get<string>('sso.redirectUrl'),
    roleClaim: get<string>('sso.roleClaim') ?? 'groups',
    roles: JSON.parse(get<string>('sso.roles')!) as SsoRoleMapping,
    scopes,
    sessionTtlSeconds: get<number>('sso.sessionTtlSeconds') ?? DEFAULT_SSO_SESSION_TTL_SECONDS,
  };
}

/** Builds the configuration; throws ConfigError naming the offending key. */
export function loadConfig(sources: ConfigSources = {}): OpenKcmConfig {
  const cwd = sources.cwd ?? process.cwd();
  const env = sources.env ?? {};
  const flags = sources.flags ?? {};
  const values = new Map<string, Value>();
  const explicit = new Set<string>();
  const sourceOf = new Map<string, string>();
  const baseOf = new Map<string, string>();

  const configFile = (flags.config as string | undefined) ?? env.OPENKCM_CONFIG;
  if (configFile !== undefined) {
    const path = resolve(cwd, configFile);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError('config', flags.config !== undefined ? 'flag --config' : 'env OPENKCM_CONFIG', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError('(file)', `file ${path}`, `is not valid JSON: ${(e as Error).message}`);
    }
    const flat = new Map<string, unknown>();
    flatten(json, '', flat, path);
    for (const [k, raw] of flat) {
      const s = SETTINGS[k];
      if (!s) throw new ConfigError(k, `file ${path}`, `unknown key${suggest(k, Object.keys(SETTINGS))}; remove it or correct its name`);
      values.set(k, convert(k, s, raw, `file ${path}`, dirname(path)));
      explicit.add(k);
      sourceOf.set(k, `file ${path}`);
      baseOf.set(k, dirname(path));
    }
  }

  const envNames = new Map(Object.entries(SETTINGS).map(([k, s]) => [s.env, k]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('OPENKCM_') || raw === undefined || OTHER_ENV.has(name)) continue;
    const k = envNames.get(name);
    if (k === undefined) {
      throw new ConfigError(name, 'environment', `unknown variable${suggest(name, [...envNames.keys()])}; unset it or correct its name`);
    }
    values.set(k, convert(k, SETTINGS[k]!, raw, `env ${name}`, cwd));
    explicit.add(k);
    sourceOf.set(k, `env ${name}`);
    baseOf.set(k, cwd);
  }

  const flagNames = new Map(Object.entries(SETTINGS).filter(([, s]) => s.flag).map(([k, s]) => [s.flag!, k]));
  for (const [name, raw] of Object.entries(flags)) {
    if (raw === undefined || name === 'config') continue;
    const k = flagNames.get(name);
    if (k === undefined) throw new ConfigError(name, 'flags', 'unknown option');
    values.set(k, convert(k, SETTINGS[k]!, raw, `flag --${name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, cwd));
    explicit.add(k);
  }

  const c = defaultConfig(cwd);
  const get = <T extends Value>(k: string): T | undefined => values.get(k) as T | undefined;
  c.listen = get('listen') ?? c.listen;
  c.dataDir = get<string>('dataDir') ?? c.dataDir;
  c.certsDir = get<string>('certsDir') ?? c.certsDir;
  // Files default to the (possibly moved) directories.
  c.tls = {
    caFile: get<string>('tls.caFile') ?? join(c.certsDir, 'ca.crt'),
    certFile: get<string>('tls.certFile') ?? join(c.certsDir, 'server.crt'),
    keyFile: get<string>('tls.keyFile') ?? join(c.certsDir, 'server.key'),
    profile: get<TlsProfileName>('tls.profile') ?? c.tls.profile,
  };
  c.https = { listen: get<{ host: string; port: number }>('https.listen') };
  c.devPki = get<boolean>('devPki') ?? c.devPki;
  c.limits = {
    maxMessageSize: get<number>('limits.maxMessageSize') ?? c.limits.maxMessageSize,
    idleTimeoutMs: get<number>('limits.idleTimeoutMs') ?? c.limits.idleTimeoutMs,
    handshakeTimeoutMs: get<number>('limits.handshakeTimeoutMs') ?? c.limits.handshakeTimeoutMs,
    maxConnections: get<number>('limits.maxConnections') ?? c.limits.maxConnections,
    maxPipelineDepth: get<number>('limits.maxPipelineDepth') ?? c.limits.maxPipelineDepth,
    maxPreAuthConnections: 0,
    maxPreAuthPerSource: 0,
    messageTimeoutMs: get<number>('limits.messageTimeoutMs') ?? c.limits.messageTimeoutMs,
  };
  // The pre-auth budgets are parts of the ones above them: unset, they shrink with them;
  // set, they must fit (issue 16 §4).
  const where = (k: string) => sourceOf.get(k) ?? (explicit.has(k) ? 'flags' : 'defaults');
  const preAuth = get<number>('limits.maxPreAuthConnections');
  if (preAuth !== undefined && preAuth > c.limits.maxConnections) {
    throw new ConfigError('limits.maxPreAuthConnections', where('limits.maxPreAuthConnections'),
      `${preAuth} is more than limits.maxConnections (${c.limits.maxConnections}), which counts every connection; lower it or raise limits.maxConnections`);
  }
  c.limits.maxPreAuthConnections = preAuth ?? Math.min(DEFAULT_MAX_PRE_AUTH_CONNECTIONS, c.limits.maxConnections);
  const perSource = get<number>('limits.maxPreAuthPerSource');
  if (perSource !== undefined && perSource > c.limits.maxPreAuthConnections) {
    throw new ConfigError('limits.maxPreAuthPerSource', where('limits.maxPreAuthPerSource'),
      `${perSource} is more than limits.maxPreAuthConnections (${c.limits.maxPreAuthConnections}); lower it or raise limits.maxPreAuthConnections`);
  }
  c.limits.maxPreAuthPerSource = perSource ?? Math.min(DEFAULT_MAX_PRE_AUTH_PER_SOURCE, c.limits.maxPreAuthConnections);
  c.log = { level: get<LogLevel>('log.level') ?? c.log.level };
  c.l1 = {
    keyFile: get<string>('l1.keyFile') ?? join(c.dataDir, 'l1-software.key'),
    statusCheckIntervalMs: get<number>('l1.statusCheckIntervalMs') ?? c.l1.statusCheckIntervalMs,
  };
  c.admin = {
    enabled: get<boolean>('admin.enabled') ?? c.admin.enabled,
    // An ephemeral KMIP port (tests, benchmarks: several servers on one host) gets an
    // ephemeral admin port too, unless one is set: a fixed 5697 would make them collide.
    listen: get<{ host: string; port: number }>('admin.listen') ?? (c.listen.port === 0 ? { ...c.admin.listen, port: 0 } : c.admin.listen),
    caKeyFile: get<string>('admin.caKeyFile') ?? join(c.certsDir, 'ca.key'),
  };
  c.cmk = { changeRetention: get<number>('cmk.changeRetention') ?? c.cmk.changeRetention };
  c.workers = get<number>('workers') ?? c.workers;
  c.audit = { exporters: get<readonly unknown[]>('audit.exporters') ?? c.audit.exporters, exportersFrom: sourceOf.get('audit.exporters') ?? 'defaults',
    exportersBaseDir: baseOf.get('audit.exporters') ?? cwd, durable: get<boolean>('audit.durable') ?? c.audit.durable };
  c.store = { url: get<string>('store.url') };
  c.metrics = {
    listen: get<{ host: string; port: number }>('metrics.listen'),
    tls: get<boolean>('metrics.tls') ?? c.metrics.tls,
    clientCertificate: get<boolean>('metrics.clientCertificate') ?? c.metrics.clientCertificate,
  };
  const m = c.metrics.listen;
  if (m !== undefined && m.port !== 0 && (m.port === c.listen.port || (c.admin.enabled && m.port === c.admin.listen.port))) {
    throw new ConfigError('metrics.listen', where('metrics.listen'),
      `port ${m.port} is the ${m.port === c.listen.port ? 'KMIP' : 'admin API'} port; /metrics needs its own (e.g. 9464)`);
  }
  c.sso = ssoFrom(get, where);
  // Two listeners on one port: the second would fail to bind with a less helpful message.
  if (c.https.listen !== undefined && c.https.listen.port !== 0 && (c.https.listen.port === c.listen.port || (c.admin.enabled && c.https.listen.port === c.admin.listen.port))) {
    throw new ConfigError('https.listen', where('https.listen'),
      `port ${c.https.listen.port} is already the ${c.https.listen.port === c.listen.port ? 'KMIP (TTLV)' : 'admin API'} port; KMIP over HTTPS needs its own`);
  }
  if (c.admin.enabled && c.admin.listen.port !== 0 && c.admin.listen.port === c.listen.port) {
    throw new ConfigError('admin.listen', explicit.has('admin.listen') ? 'settings' : 'defaults',
      `port ${c.admin.listen.port} is the KMIP port; the admin API needs its own (default ${DEFAULT_ADMIN_PORT})`);
  }
  return c;
}
