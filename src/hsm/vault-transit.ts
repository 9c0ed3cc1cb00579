// The vault-transit L1 provider (issue 15): the customer's root key is a HashiCorp Vault
// Transit key; we call its HTTP API (Vault API docs, "Transit secrets engine (API)") with
// node's http/https, no SDK, and never see the key.
//
//   wrap   = POST /v1/<mount>/encrypt/<name>  {plaintext, context?, associated_data?}
//   unwrap = POST /v1/<mount>/decrypt/<name>  {ciphertext, context?, associated_data?}
//   status = GET  /v1/<mount>/keys/<name>
//
// Context binding: for a key created with derived=true, the context goes into `context`
// (Vault derives a per-context key from it, so another context gives another key and the
// decryption fails); for AEAD key types (aes128-gcm96, aes256-gcm96, chacha20-poly1305)
// into `associated_data` as well. A key that is neither derived nor AEAD cannot bind a
// context: status reports it disabled and wrap refuses it. Both fields carry a domain
// prefix + the context (derived keys refuse an empty context).
//
// Vault's encrypt endpoint creates a missing key ("upsert") when the policy allows: after a
// customer deleted the root key, a plain encrypt would silently make a NEW root key. So wrap
// reads the key first (GET keys/<name>) and refuses when it is gone: a deleted key stays
// revoked.
//
// Status: 404 → revoked (key deleted); 403 → disabled (our token's policy no longer grants
// the key, or the token is revoked; with AppRole we log in again once first); a version our
// blobs use below min_decryption_version → disabled (the customer can lower it again),
// below min_available_version → revoked (trimmed: the key material is gone); 5xx (sealed
// Vault: 503), no connection, no answer by the deadline → unreachable. deletion_allowed is
// only a permission to delete, not a failure: the key stays active until it is deleted.
// The versions "our blobs use" are those of the last blob this provider instance wrapped or
// unwrapped under each context the hierarchy has not forgotten (L1Provider.forgetContext:
// after an L2 rotation the old L2's version may be retired without sealing the tenant): the
// serving provider (which unwrapped the tenant's L2) sees a retired version at its periodic
// check; a fresh probe (`kmipctl l1 check`) has seen no blob and can judge only deletion,
// permission and key type — the blob version is not in the L1Provider interface's status().
//
// Blob format: 0x56 | the Vault ciphertext string ("vault:v<N>:<base64>") in UTF-8.
// Credentials by reference only: token or AppRole role_id/secret_id from environment
// variables or files, read at each login so rotated credentials are picked up.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { L1Error } from './errors.ts';
import type { L1Description, L1Provider, L1Status } from './types.ts';

type FailState = Exclude<L1Status['state'], 'active'>;

export interface VaultTransitL1Options {
  /** Vault's address, e.g. https://vault.example:8200. */
  address: string;
  keyName: string;
  /** Mount path of the Transit engine (default transit). */
  mount?: string;
  namespace?: string;
  /** The token by reference (exactly one way to authenticate: token or AppRole). */
  tokenEnv?: string;
  tokenFile?: string;
  roleIdEnv?: string;
  roleIdFile?: string;
  secretIdEnv?: string;
  secretIdFile?: string;
  /** Mount path of the AppRole auth method (default approle). */
  approleMount?: string;
  /** PEM file of the CA that issued Vault's certificate (default: the system's CAs). */
  caFile?: string;
  timeoutMs?: number;
  /** Where the *Env names are looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const VAULT_BLOB_V1 = 0x56;
export const DEFAULT_VAULT_TIMEOUT_MS = 5000;
/** Largest plaintext we wrap: L2 keys are 32 bytes; the bound stops a caller bug early. */
const MAX_WRAP_PLAINTEXT = 4096;
/**
 * Largest Vault response body we read. A key's metadata lists one timestamp per version;
 * 1 MiB holds thousands of versions and stops a hostile or broken endpoint from filling
 * our memory.
 */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Largest ciphertext string accepted in a blob (4096 bytes of plaintext in base64 + header). */
const MAX_CIPHERTEXT_CHARS = 8192;
const CONTEXT_PREFIX = 'openkcm-l1-context:';
const AEAD_TYPES = new Set(['aes128-gcm96', 'aes256-gcm96', 'chacha20-poly1305']);
/** Re-login this long before an AppRole token's lease ends. */
const LEASE_MARGIN_MS = 30_000;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function vaultContextFor(context: string): string {
  return Buffer.from(CONTEXT_PREFIX + context, 'utf8').toString('base64');
}

interface KeyInfo {
  type: string;
  derived: boolean;
  deletionAllowed: boolean;
  latestVersion: number;
  minDecryptionVersion: number;
  minAvailableVersion: number;
  supportsEncryption: boolean;
  supportsDecryption: boolean;
}

class VaultHttpError extends Error {
  constructor(readonly statusCode: number, readonly errors: string[]) {
    super(errors.length > 0 ? errors.join('; ') : `HTTP ${statusCode}`);
  }
}

function validateOptions(o: VaultTransitL1Options): void {
  const raw = o as unknown as Record<string, unknown>;
  for (const f of ['token', 'roleId', 'secretId']) {
    if (f in raw) throw new L1Error(`vault-transit.${f}: credential values are not accepted in configuration; name an environment variable or a file (tokenEnv/tokenFile, roleIdEnv/roleIdFile, secretIdEnv/secretIdFile)`);
  }
  let u: URL;
  try {
    u = new URL(o.address);
  } catch {
    throw new L1Error(`vault-transit.address: ${JSON.stringify(o.address)} is not a URL (e.g. https://vault.example:8200)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new L1Error('vault-transit.address: must be an http or https URL');
  if (u.pathname !== '/' || u.search !== '') throw new L1Error('vault-transit.address: give the server only (scheme, host, port), without a path');
  if (typeof o.keyName !== 'string' || !/^[A-Za-z0-9._-]+$/.test(o.keyName)) throw new L1Error('vault-transit.keyName: a Transit key name (letters, digits, . _ -) is required');
  for (const f of ['mount', 'approleMount', 'namespace'] as const) {
    if (o[f] !== undefined && (typeof o[f] !== 'string' || !PATH_SEGMENT.test(o[f]!) || o[f]!.split('/').some((x) => /^\.+$/.test(x)))) throw new L1Error(`vault-transit.${f}: must be a path such as transit or team/transit`);
  }
  const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
  for (const f of ['tokenEnv', 'roleIdEnv', 'secretIdEnv'] as const) {
    if (o[f] !== undefined && (typeof o[f] !== 'string' || !envName.test(o[f]!))) throw new L1Error(`vault-transit.${f}: must be an environment variable name`);
  }
  const token = o.tokenEnv !== undefined || o.tokenFile !== undefined;
  const approle = o.roleIdEnv !== undefined || o.roleIdFile !== undefined || o.secretIdEnv !== undefined || o.secretIdFile !== undefined;
  if (token === approle) throw new L1Error('vault-transit: give a token reference (tokenEnv or tokenFile) or AppRole references (roleIdEnv|roleIdFile and secretIdEnv|secretIdFile), not both or neither');
  if (token && o.tokenEnv !== undefined && o.tokenFile !== undefined) throw new L1Error('vault-transit.tokenEnv/tokenFile: give exactly one of them');
  if (approle && (o.roleIdEnv === undefined) === (o.roleIdFile === undefined)) throw new L1Error('vault-transit.roleIdEnv/roleIdFile: give exactly one of them');
  if (approle && (o.secretIdEnv === undefined) === (o.secretIdFile === undefined)) throw new L1Error('vault-transit.secretIdEnv/secretIdFile: give exactly one of them');
  if (o.caFile !== undefined) {
    try {
      readFileSync(o.caFile);
    } catch (e) {
      throw new L1Error(`vault-transit.caFile: cannot read ${o.caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 600_000)) {
    throw new L1Error('vault-transit.timeoutMs: must be an integer number of milliseconds from 1 to 600000');
  }
}

function parseVersion(ciphertext: string): number | undefined {
  const m = /^vault:v(\d+):/.exec(ciphertext);
  return m ? Number(m[1]) : undefined;
}

export class VaultTransitL1Provider implements L1Provider {
  private closed = false;
  private token: { value: string; until: number } | undefined;
  /**
   * The key version of the last blob wrapped or unwrapped under each context, until the
   * hierarchy forgets the context (an L2 rotation replaced that blob): status checks them.
   */
  private readonly versionsInUse = new Map<string, number>();
  private readonly mount: string;
  private readonly timeoutMs: number;
  private readonly ca: Buffer | undefined;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(private readonly opts: VaultTransitL1Options) {
    this.mount = opts.mount ?? 'transit';
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS;
    this.ca = opts.caFile !== undefined ? readFileSync(opts.caFile) : undefined;
    this.env = opts.env ?? process.env;
  }

  /** Checks the options. Contacts nothing: a Vault down at start gives status unreachable. */
  static async open(opts: VaultTransitL1Options): Promise<VaultTransitL1Provider> {
    validateOptions(opts);
    return new VaultTransitL1Provider({ ...opts });
  }

  private keyPath(): string {
    return `${this.mount}/keys/${this.opts.keyName}`;
  }

  private where(): string {
    return `${this.opts.address.replace(/\/$/, '')}/v1/${this.keyPath()}`;
  }

  private readRef(kind: string, envName: string | undefined, file: string | undefined): string {
    if (envName !== undefined) {
      const v = this.env[envName];
      if (!v) throw new L1Error(`vault-transit: the ${kind} environment variable ${envName} is not set`, 'unreachable');
      return v.trim();
    }
    try {
      const v = readFileSync(file!, 'utf8').trim();
      if (v === '') throw new Error('empty');
      return v;
    } catch (e) {
      throw new L1Error(`vault-transit: cannot read the ${kind} file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'unreachable');
    }
  }

  /** One HTTP exchange with Vault; the body is JSON both ways. Rejects VaultHttpError on non-2xx. */
  private http(method: string, path: string, body: unknown, token: string | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    const url = new URL(`/v1/${path}`, this.opts.address);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (token !== undefined) headers['x-vault-token'] = token;
    if (this.opts.namespace !== undefined) headers['x-vault-namespace'] = this.opts.namespace;
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = req(url, { method, headers, signal, ...(this.ca !== undefined ? { ca: this.ca } : {}) }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          if (text.trim() !== '') {
            try {
              json = JSON.parse(text) as Record<string, unknown>;
            } catch {
              if ((res.statusCode ?? 0) < 300) return reject(new Error(`Vault answered HTTP ${res.statusCode} with a body that is not JSON`));
            }
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(json);
          const errors = Array.isArray(json.errors) ? json.errors.map(String) : [];
          reject(new VaultHttpError(status, errors));
        });
      });
      r.on('error', reject);
      r.end(payload);
    });
  }

  private async login(signal: AbortSignal): Promise<string> {
    if (this.opts.roleIdEnv === undefined && this.opts.roleIdFile === undefined) {
      return this.readRef('token', this.opts.tokenEnv, this.opts.tokenFile);
    }
    if (this.token !== undefined && Date.now() < this.token.until) return this.token.value;
    const roleId = this.readRef('AppRole role_id', this.opts.roleIdEnv, this.opts.roleIdFile);
    const secretId = this.readRef('AppRole secret_id', this.opts.secretIdEnv, this.opts.secretIdFile);
    const out = await this.http('POST', `auth/${this.opts.approleMount ?? 'approle'}/login`, { role_id: roleId, secret_id: secretId }, undefined, signal);
    const auth = out.auth as { client_token?: unknown; lease_duration?: unknown } | undefined;
    if (typeof auth?.client_token !== 'string') throw new L1Error('vault-transit: the AppRole login answered without auth.client_token', 'unreachable');
    const lease = typeof auth.lease_duration === 'number' && auth.lease_duration > 0 ? auth.lease_duration * 1000 : 3600_000;
    this.token = { value: auth.client_token, until: Date.now() + Math.max(lease - LEASE_MARGIN_MS, lease / 2) };
    return this.token.value;
  }

  private mapError(op: string, e: unknown): L1Error {
    if (e instanceof L1Error) return e;
    if (e instanceof VaultHttpError) {
      const what = `vault-transit: ${op} of ${this.where()} failed (HTTP ${e.statusCode}${e.errors.length ? `: ${e.errors.join('; ')}` : ''})`;
      let status: FailState | undefined;
      if (e.statusCode === 404) status = 'revoked';
      else if (e.statusCode === 403) status = 'disabled';
      else if (e.statusCode >= 500 || e.statusCode === 429) status = 'unreachable';
      return new L1Error(what, status);
    }
    const err = e as NodeJS.ErrnoException;
    return new L1Error(`vault-transit: ${op} of ${this.where()} failed (${err.code ?? err.message})`, 'unreachable');
  }

  /** One authenticated call under the deadline (login included); an AppRole token refused once is renewed. */
  private async call(op: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    if (this.closed) throw new L1Error('vault-transit: provider is closed', 'unreachable');
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new L1Error(`vault-transit: ${op} of ${this.where()} got no answer within ${this.timeoutMs} ms`, 'unreachable'));
      }, this.timeoutMs);
    });
    const attempt = async () => {
      try {
        return await this.http(method, path, body, await this.login(ac.signal), ac.signal);
      } catch (e) {
        if (e instanceof VaultHttpError && e.statusCode === 403 && this.token !== undefined) {
          this.token = undefined; // expired or revoked AppRole token: one fresh login
          return this.http(method, path, body, await this.login(ac.signal), ac.signal);
        }
        throw e;
      }
    };
    try {
      return await Promise.race([attempt(), deadline]);
    } catch (e) {
      throw this.mapError(op, e);
    } finally {
      clearTimeout(timer);
    }
  }

  private async keyInfo(): Promise<KeyInfo> {
    const out = await this.call('read key', 'GET', this.keyPath());
    const d = (out.data ?? {}) as Record<string, unknown>;
    const num = (v: unknown, dflt: number) => (typeof v === 'number' && Number.isInteger(v) ? v : dflt);
    return {
      type: String(d.type ?? 'unknown'),
      derived: d.derived === true,
      deletionAllowed: d.deletion_allowed === true,
      latestVersion: num(d.latest_version, 1),
      minDecryptionVersion: num(d.min_decryption_version, 1),
      minAvailableVersion: num(d.min_available_version, 0),
      supportsEncryption: d.supports_encryption !== false,
      supportsDecryption: d.supports_decryption !== false,
    };
  }

  /** Whether the key can hold our blobs, and how the context is bound (see the header). */
  private keyStatus(k: KeyInfo): L1Status {
    const name = this.where();
    if (!k.supportsEncryption || !k.supportsDecryption) return { state: 'disabled', detail: `vault-transit: key ${name} of type ${k.type} does not encrypt and decrypt` };
    if (!k.derived && !AEAD_TYPES.has(k.type)) {
      return { state: 'disabled', detail: `vault-transit: key ${name} of type ${k.type} is neither derived nor AEAD, so it cannot bind the context; create it with derived=true or as aes256-gcm96` };
    }
    const used = [...new Set(this.versionsInUse.values())];
    const trimmed = used.filter((v) => v < k.minAvailableVersion);
    if (trimmed.length > 0) return { state: 'revoked', detail: `vault-transit: key ${name} was trimmed below version ${k.minAvailableVersion}; our blobs use version ${Math.min(...trimmed)}` };
    const retired = used.filter((v) => v < k.minDecryptionVersion);
    if (retired.length > 0) return { state: 'disabled', detail: `vault-transit: key ${name} has min_decryption_version ${k.minDecryptionVersion}; our blobs use version ${Math.min(...retired)}` };
    return { state: 'active' };
  }

  private bindFields(k: KeyInfo, context: string): Record<string, string> {
    const c = vaultContextFor(context);
    const out: Record<string, string> = {};
    if (k.derived) out.context = c;
    if (AEAD_TYPES.has(k.type)) out.associated_data = c;
    return out;
  }

  /** The key as wrap/unwrap need it; refuses a deleted, retired or unusable key. */
  private async usableKey(op: string, version?: number): Promise<KeyInfo> {
    let k: KeyInfo;
    try {
      k = await this.keyInfo();
    } catch (e) {
      const err = e as L1Error;
      throw new L1Error(`${err.message}; ${op} refused`, err.status);
    }
    const st = this.keyStatus(k);
    if (st.state !== 'active') throw new L1Error(`${st.detail}; ${op} refused`, st.state);
    if (version !== undefined && version < k.minDecryptionVersion) {
      throw new L1Error(`vault-transit: key ${this.where()} has min_decryption_version ${k.minDecryptionVersion}; the blob uses version ${version}; ${op} refused`, 'disabled');
    }
    return k;
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    if (plaintext.length === 0 || plaintext.length > MAX_WRAP_PLAINTEXT) throw new L1Error(`vault-transit: wraps 1 to ${MAX_WRAP_PLAINTEXT} bytes, not ${plaintext.length}`);
    // Read first: encrypt would create a deleted key anew (see the header).
    const k = await this.usableKey('encrypt');
    const out = await this.call('encrypt', 'POST', `${this.mount}/encrypt/${this.opts.keyName}`, { plaintext: plaintext.toString('base64'), ...this.bindFields(k, context) });
    const ct = (out.data as { ciphertext?: unknown } | undefined)?.ciphertext;
    const version = typeof ct === 'string' ? parseVersion(ct) : undefined;
    if (typeof ct !== 'string' || version === undefined || ct.length > MAX_CIPHERTEXT_CHARS) {
      throw new L1Error(`vault-transit: encrypt at ${this.where()} returned no vault:v<N>: ciphertext`);
    }
    this.versionsInUse.set(context, version);
    return Buffer.concat([Buffer.of(VAULT_BLOB_V1), Buffer.from(ct, 'utf8')]);
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < 2) throw new L1Error(`vault-transit: the blob is ${blob.length} bytes, too short to hold a Vault ciphertext`);
    if (blob[0] !== VAULT_BLOB_V1) throw new L1Error(`vault-transit: the blob has unknown format byte 0x${blob[0]!.toString(16).padStart(2, '0')}`);
    const ct = blob.subarray(1).toString('utf8');
    const version = parseVersion(ct);
    if (version === undefined || ct.length > MAX_CIPHERTEXT_CHARS || !/^vault:v\d+:[A-Za-z0-9+/]+=*$/.test(ct)) {
      throw new L1Error('vault-transit: the blob does not hold a vault:v<N>: ciphertext');
    }
    const k = await this.usableKey('decrypt', version);
    let out: Record<string, unknown>;
    try {
      out = await this.call('decrypt', 'POST', `${this.mount}/decrypt/${this.opts.keyName}`, { ciphertext: ct, ...this.bindFields(k, context) });
    } catch (e) {
      const err = e as L1Error;
      if (err.status === undefined) {
        throw new L1Error(`vault-transit: unwrap failed (${err.message.replace(/^vault-transit: /, '')}): the blob was altered, made under another key, or bound to another context`);
      }
      throw err;
    }
    const pt = (out.data as { plaintext?: unknown } | undefined)?.plaintext;
    if (typeof pt !== 'string') throw new L1Error(`vault-transit: decrypt at ${this.where()} returned no plaintext`);
    this.versionsInUse.set(context, version);
    return Buffer.from(pt, 'base64');
  }

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'vault-transit: provider is closed' };
    try {
      return this.keyStatus(await this.keyInfo());
    } catch (e) {
      const err = this.mapError('read key', e);
      return { state: err.status ?? 'unreachable', detail: err.message };
    }
  }

  /** The blob of `context` is gone (the L2 before a rotation): its key version is no longer watched. */
  forgetContext(context: string): void {
    this.versionsInUse.delete(context);
  }

  describe(): L1Description {
    return { provider: 'vault-transit', keyRef: this.opts.namespace !== undefined ? `${this.where()} (namespace ${this.opts.namespace})` : this.where(), developmentOnly: false };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.token = undefined;
  }
}
