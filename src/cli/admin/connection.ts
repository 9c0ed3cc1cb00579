// How kmipctl reaches OpenKCM: the admin API (HTTPS, mutual TLS) and the KMIP port (TTLV over
// mutual TLS). Settings come from flags, then OPENKCM_ADMIN_* environment variables, then a
// JSON file (--admin-config / OPENKCM_ADMIN_CONFIG), then defaults that point at the
// development PKI under ./certs — so that on a development machine `kmipctl status` works
// right after `npm start`.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { resolve } from 'node:path';
import { CliError, EXIT_CONNECT, EXIT_FAILED, EXIT_USAGE } from '../output.ts';
import { DEFAULT_ADMIN_SERVER, DEFAULT_KMIP_SERVER, ENV, TOKEN_ENV, TOKEN_FILE_ENV, type ConnectionFlags } from './options.ts';

/** An admin request that takes longer than this is given up (the server is stuck or unreachable). */
export const ADMIN_REQUEST_TIMEOUT_MS = 30_000;

export interface ConnectionSettings {
  server: URL;
  kmip: { host: string; port: number };
  certFile: string;
  keyFile: string;
  caFile: string;
  /**
   * A bearer token from the organisation's IdP (issue 14 §4, admin API with single sign-on):
   * sent instead of the client certificate. Only from a file or the environment, never a
   * flag's value, which every user of the machine can read in the process list.
   */
  token?: string;
}

const FILE_KEYS = ['server', 'kmip', 'cert', 'key', 'ca'] as const;

/** The bearer token: --token-file, then OPENKCM_ADMIN_TOKEN_FILE, then OPENKCM_ADMIN_TOKEN; undefined without any. */
function resolveToken(flags: ConnectionFlags, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const file = flags.tokenFile ?? (env[TOKEN_FILE_ENV] || undefined);
  let token: string | undefined;
  if (file !== undefined) {
    const p = resolve(cwd, file);
    try {
      token = readFileSync(p, 'utf8').trim();
    } catch (e) {
      throw new CliError(EXIT_USAGE, `cannot read the token file ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `pass --token-file or set ${TOKEN_FILE_ENV}`);
    }
    if (token === '') throw new CliError(EXIT_USAGE, `the token file ${p} is empty`, 'write the access token from your identity provider into it');
  } else if (env[TOKEN_ENV]) {
    token = env[TOKEN_ENV]!.trim();
  }
  if (token !== undefined && !/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) {
    throw new CliError(EXIT_USAGE, 'the bearer token holds characters a token cannot have (RFC 6750 §2.1)', 'give the access token alone, without "Bearer " or quotes');
  }
  return token;
}

function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s.trim());
  if (!m || Number(m[3]) > 65535) throw new CliError(EXIT_USAGE, `${what} "${s}" is not HOST:PORT`, 'e.g. --kmip 127.0.0.1:5696');
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

export function resolveSettings(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ConnectionSettings {
  let file: Partial<Record<(typeof FILE_KEYS)[number], string>> = {};
  let fileDir = cwd;
  const configPath = flags.adminConfig ?? env.OPENKCM_ADMIN_CONFIG;
  if (configPath !== undefined) {
    const path = resolve(cwd, configPath);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new CliError(EXIT_USAGE, `cannot read the admin configuration ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        `it must be a JSON object with some of: ${FILE_KEYS.join(', ')}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(EXIT_USAGE, `${path} must hold a JSON object`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!(FILE_KEYS as readonly string[]).includes(k)) throw new CliError(EXIT_USAGE, `${path}: unknown key "${k}"`, `known keys: ${FILE_KEYS.join(', ')}`);
      if (typeof v !== 'string' || v === '') throw new CliError(EXIT_USAGE, `${path}: "${k}" must be a non-empty string`);
    }
    file = parsed as typeof file;
    fileDir = resolve(path, '..');
  }
  const pick = (k: (typeof FILE_KEYS)[number], dflt: string): { v: string; base: string } => {
    const fromFlag = flags[k];
    if (fromFlag !== undefined) return { v: fromFlag, base: cwd };
    const fromEnv = env[ENV[k]];
    if (fromEnv !== undefined && fromEnv !== '') return { v: fromEnv, base: cwd };
    if (file[k] !== undefined) return { v: file[k]!, base: fileDir };
    return { v: dflt, base: cwd };
  };
  const serverRaw = pick('server', DEFAULT_ADMIN_SERVER).v;
  let server: URL;
  try {
    server = new URL(serverRaw);
  } catch {
    throw new CliError(EXIT_USAGE, `admin server "${serverRaw}" is not a URL`, `e.g. --server ${DEFAULT_ADMIN_SERVER}`);
  }
  if (server.protocol !== 'https:') throw new CliError(EXIT_USAGE, `admin server "${serverRaw}" must use https:`, 'the admin API is HTTPS with mutual TLS only');
  const path = (k: 'cert' | 'key' | 'ca', dflt: string) => {
    const { v, base } = pick(k, dflt);
    return resolve(base, v);
  };
  return {
    server,
    kmip: parseHostPort(pick('kmip', DEFAULT_KMIP_SERVER).v, 'KMIP endpoint'),
    certFile: path('cert', 'certs/client.crt'),
    keyFile: path('key', 'certs/client.key'),
    caFile: path('ca', 'certs/ca.crt'),
    ...((token) => (token !== undefined ? { token } : {}))(resolveToken(flags, env, cwd)),
  };
}

/** The CA file alone (an admin API call with a bearer token needs no client certificate). */
export function readCaFile(s: ConnectionSettings): Buffer {
  try {
    return readFileSync(s.caFile);
  } catch (e) {
    throw new CliError(EXIT_USAGE, `cannot read the CA certificate ${s.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `pass --ca or set ${ENV.ca}`);
  }
}

export function readTlsFiles(s: ConnectionSettings): { cert: Buffer; key: Buffer; ca: Buffer } {
  const read = (what: string, p: string, flag: string, envName: string) => {
    try {
      return readFileSync(p);
    } catch (e) {
      throw new CliError(EXIT_USAGE, `cannot read the ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        `pass ${flag} or set ${envName}`);
    }
  };
  return {
    cert: read('client certificate', s.certFile, '--cert', ENV.cert),
    key: read('client key', s.keyFile, '--key', ENV.key),
    ca: read('CA certificate', s.caFile, '--ca', ENV.ca),
  };
}

/** Network and TLS failures → exit 3 with what to check. */
export function connectError(e: NodeJS.ErrnoException, target: string): CliError {
  const code = e.code ?? '';
  if (code === 'ECONNREFUSED') return new CliError(EXIT_CONNECT, `cannot connect to ${target}: connection refused`, 'is the server running (openkcm serve)? check --server / --kmip');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new CliError(EXIT_CONNECT, `cannot connect to ${target}: host not found`, 'check the host name in --server / --kmip');
  if (code === 'ETIMEDOUT' || code === 'TIMEOUT') return new CliError(EXIT_CONNECT, `cannot connect to ${target}: timed out`, 'check the address and any firewall in between');
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|SSL|alert/i.test(code + ' ' + e.message)) {
    return new CliError(EXIT_CONNECT, `TLS with ${target} failed: ${e.message}`, 'check --ca (the CA of the server) and --cert/--key (a client certificate issued by the server\'s CA)');
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') return new CliError(EXIT_CONNECT, `connection to ${target} was closed: ${e.message}`, 'the server refused the client certificate, or it is not the admin port');
  return new CliError(EXIT_CONNECT, `cannot talk to ${target}: ${e.message}`);
}

export interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

/** A minimal client of the admin API: JSON in, JSON out, errors as CliError. */
export class AdminClient {
  private readonly tls: { cert?: Buffer; key?: Buffer; ca: Buffer };
  constructor(readonly settings: ConnectionSettings, private readonly timeoutMs = ADMIN_REQUEST_TIMEOUT_MS) {
    // With a token the certificate stays home: the server would take it first (src/server/admin.ts).
    this.tls = settings.token !== undefined ? { ca: readCaFile(settings) } : readTlsFiles(settings);
  }

  get<T = Record<string, unknown>>(path: string): Promise<T> { return this.call('GET', path); }
  post<T = Record<string, unknown>>(path: string, body: unknown = {}): Promise<T> { return this.call('POST', path, body); }
  put<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> { return this.call('PUT', path, body); }
  delete<T = Record<string, unknown>>(path: string): Promise<T> { return this.call('DELETE', path); }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.settings.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const target = this.settings.server.host;
    return new Promise<T>((resolvePromise, reject) => {
      const req = request(url, {
        method,
        ...(this.tls.cert ? { cert: this.tls.cert, key: this.tls.key } : {}),
        ca: this.tls.ca,
        minVersion: 'TLSv1.2',
        headers: { accept: 'application/json', ...(this.settings.token !== undefined ? { authorization: `Bearer ${this.settings.token}` } : {}), ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(connectError(e, target)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? {} : JSON.parse(text);
          } catch {
            reject(new CliError(EXIT_FAILED, `the server at ${target} answered ${res.statusCode} with a body that is not JSON`, 'is --server the admin API port (default 5697)?'));
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolvePromise(json as T);
            return;
          }
          const err = (json as ApiErrorBody).error;
          reject(new CliError(EXIT_FAILED, `${err?.message ?? `HTTP ${status}`}${err?.code ? ` (${err.code})` : ''}`, err?.hint));
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'TIMEOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => reject(connectError(e, target)));
      if (payload) req.write(payload);
      req.end();
    });
  }
}

/** Percent-encodes one path segment. */
export const seg = (s: string) => encodeURIComponent(s);
