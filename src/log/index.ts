// The pino factory (DESIGN.md §6.8): one root logger per process, a child per connection
// and per batch item. Two layers keep key material out of the logs:
//  1. serializers that copy only named safe fields (an identity is subject, fingerprint,
//     tenant, service; an error is its class, message, reason and stack) — whatever else an
//     object carries is dropped, so a payload handed to the logger by mistake is not dumped;
//  2. redaction paths for every property name that could hold secret bytes, as a second
//     net for fields someone logs directly.
import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Property names that may carry key material or credentials, in the spellings they take in
 * our code (camelCase) and in TTLV tag names (TitleCase). Redacted at the top level and one
 * or two levels down (pino's redaction has no recursive wildcard).
 */
export const SECRET_KEYS: readonly string[] = [
  'KeyMaterial', 'keyMaterial', 'KeyValue', 'keyValue', 'Data', 'data', 'Password', 'password',
  'secret', 'plaintext', 'key', 'privateKey', 'wrappedValue', 'value', 'payload', 'Payload',
  'RequestPayload', 'ResponsePayload', 'authentication', 'Authentication', 'Credential', 'credential',
];

export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

function safeIdentity(id: unknown): unknown {
  if (id === null || typeof id !== 'object') return id;
  const o = id as Record<string, unknown>;
  return { subject: o.subject, fingerprint: o.fingerprint, tenant: o.tenant, service: o.service };
}

function safeError(err: unknown): unknown {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { reason?: unknown; code?: unknown; offset?: unknown; path?: unknown };
  const out: Record<string, unknown> = { type: e.name, message: e.message, stack: e.stack };
  for (const k of ['reason', 'code', 'offset', 'path'] as const) if (e[k] !== undefined) out[k] = e[k];
  return out;
}

export const SERIALIZERS = { identity: safeIdentity, err: safeError, error: safeError };

let lastMs = -1;
let lastTime = '';
/**
 * pino's isoTime, made once per millisecond: under load several lines share a millisecond
 * (one per batch item, issue 12 §2), and each made a Date and its ISO string. Same output.
 */
export function isoTimeOfMillisecond(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

export interface LoggerConfig {
  level?: LogLevel;
  /** Where lines go: default stdout. Tests pass a stream to capture them. */
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    name: config.name ?? 'openkcm',
    level: config.level ?? 'info',
    serializers: SERIALIZERS,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: isoTimeOfMillisecond,
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

/**
 * A child of `log` (same bindings, serializers, level and destination) that skips the
 * redaction walk: for hot lines whose fields are all named by the caller and none of which
 * can hold key material (the batch-item line, src/server/executor.ts). The redaction walk
 * over the wildcard paths costs ~40× the line itself (issue 12 §2); the serializers, which
 * copy only named safe fields of identities and errors, still apply.
 */
export function withoutRedaction(log: Logger): Logger {
  return log.child({}, { redact: { paths: [] } });
}

/** A logger that writes nothing (tests, the conformance runner). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}
