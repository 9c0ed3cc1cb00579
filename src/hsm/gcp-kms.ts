// The Google Cloud KMS L1 provider (issue 15): the customer's root key is a symmetric
// (ENCRYPT_DECRYPT) CryptoKey; we call Encrypt and Decrypt with it and never see it.
// @google-cloud/kms is loaded with a dynamic import when the provider is opened, so
// deployments that do not use Google Cloud never load it (DESIGN.md §6.9).
//
// Transport: the SDK's REST transport (`fallback: true`: HTTP/1.1 + JSON, the API's
// documented REST surface), in production as in the tests — the path we test is the path we
// ship, and Encrypt/Decrypt/Get need nothing gRPC adds.
//
// Context binding: the context string, in UTF-8, is the request's
// additionalAuthenticatedData; Cloud KMS binds it to the ciphertext and Decrypt under other
// AAD fails with INVALID_ARGUMENT (Cloud KMS docs, "Additional authenticated data").
//
// Integrity: every Encrypt/Decrypt carries CRC32C checksums of what we send
// (plaintextCrc32c, additionalAuthenticatedDataCrc32c, ciphertextCrc32c) and checks the ones
// KMS answers (verified* flags, ciphertextCrc32c, plaintextCrc32c), as the docs' "Verifying
// end-to-end data integrity" asks of clients: the SDK itself checks none of them.
//
// Blob format: 0x47 | n | the CryptoKeyVersion id (n ASCII digits) | KMS ciphertext. The
// version comes from EncryptResponse.name. KMS itself decrypts with the version named inside
// its ciphertext; ours is a readable copy, used for status and error messages.
//
// Rotation at Google (a new primary version): new wraps (a new tenant, `kmipctl tenant
// rotate-l2`) use the new primary; blobs wrapped under an older version keep unwrapping as
// long as that version is ENABLED — KMS decrypts with any enabled version, so rotating the
// root key never locks a tenant out by itself. Disabling or destroying that older version
// does: status() checks the primary AND the version of the last blob wrapped or unwrapped
// under each context still in use, and reports the worst state (revoked > disabled >
// unreachable). To retire an old version, rotate the tenant's L2 (`kmipctl tenant
// rotate-l2`): the new L2 is wrapped under the new primary and the hierarchy releases the
// old L2's context (L1Provider.forgetContext), so the old version is no longer watched and may be
// disabled or destroyed. A fresh probe (`kmipctl l1 check`) has seen no blob and judges the
// primary only: the blob's version is not in the L1Provider interface's status().
//
// Status (CryptoKeyVersion.state): ENABLED → active; DISABLED → disabled; DESTROY_SCHEDULED,
// DESTROYED, NOT_FOUND, and versions that never got key material (PENDING_IMPORT,
// IMPORT_FAILED, GENERATION_FAILED, external destruction) → revoked; PERMISSION_DENIED (our
// service account lost its role: reversible) → disabled; PENDING_GENERATION,
// UNAUTHENTICATED, 5xx, no connection, no answer by the deadline → unreachable. A key whose
// purpose is not ENCRYPT_DECRYPT cannot bind a context: disabled.
//
// Credentials by reference only: a credentials JSON file (a service-account key, or a
// workload identity federation `external_account` configuration), or the name of an
// environment variable holding that JSON, or neither: Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the GKE/GCE metadata server).
//
// Every call has a deadline (timeoutMs, covering the SDK's retries): an unanswered KMS is
// reported as unreachable instead of holding an unseal forever.
//
// Errors: over REST, google-gax 5.x (the last line for Node 20) hands on the transport's
// GaxiosError, whose `code` is the HTTP status and whose message is the JSON error body,
// instead of a GoogleError with the google.rpc.Code (googleapis/gax-nodejs#1803) — and its
// retry loop, which compares `code` with gRPC codes, then never retries a 503. So the
// provider reads the google.rpc.Code from the body's `error.status` (falling back to the
// HTTP status, API design guide "Errors"), and its call options list the HTTP statuses of
// UNAVAILABLE and DEADLINE_EXCEEDED beside their gRPC codes as retryable.
import type * as GcpKmsTypes from '@google-cloud/kms';
import { readFileSync } from 'node:fs';
import { crc32c } from '../crypto/crc32c.ts';
import { L1Error } from './errors.ts';
import type { L1Description, L1Provider, L1Status } from './types.ts';

type KmsModule = typeof GcpKmsTypes;
type KmsClient = GcpKmsTypes.KeyManagementServiceClient;
type ICryptoKeyVersion = GcpKmsTypes.protos.google.cloud.kms.v1.ICryptoKeyVersion;
type FailState = Exclude<L1Status['state'], 'active'>;

export interface GcpKmsL1Options {
  /** The CryptoKey: projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>. */
  keyName: string;
  /**
   * The API endpoint as a URL (default https://cloudkms.googleapis.com): a regional or
   * Private Service Connect endpoint; http:// only for a local test endpoint.
   */
  endpoint?: string;
  /** Deadline of each KMS call, retries included (default 5000 ms). */
  timeoutMs?: number;
  /** Path of a credentials JSON file: a service-account key or an external_account configuration. */
  credentialsFile?: string;
  /** Name of an environment variable holding that JSON. Neither: Application Default Credentials. */
  credentialsEnv?: string;
  /** Where credentialsEnv is looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const GCP_KMS_BLOB_V1 = 0x47;
export const DEFAULT_GCP_KMS_TIMEOUT_MS = 5000;
export const DEFAULT_GCP_KMS_ENDPOINT = 'https://cloudkms.googleapis.com';
/** Largest plaintext we wrap: L2 keys are 32 bytes; the bound stops a caller bug early (KMS takes up to 64 KiB). */
const MAX_WRAP_PLAINTEXT = 4096;
/** Cloud KMS takes at most 64 KiB of additional authenticated data (EncryptRequest). */
const MAX_AAD = 65536;
/** Largest KMS ciphertext we accept in a blob: 4096 bytes of plaintext plus KMS's overhead, with room. */
const MAX_KMS_CIPHERTEXT = 8192;
/** Resource ids: a project id (or number), a location, key ring and key ids of [A-Za-z0-9_-]{1,63}. */
const KEY_NAME = /^projects\/([a-z][a-z0-9.:-]{4,61}[a-z0-9]|\d+)\/locations\/([a-z0-9-]{1,63})\/keyRings\/([A-Za-z0-9_-]{1,63})\/cryptoKeys\/([A-Za-z0-9_-]{1,63})$/;
const VERSION_ID = /^\d{1,20}$/;
/** Option names that would carry a credential value; refused so that none sits in a config file. */
const CREDENTIAL_VALUE_FIELDS = ['credentials', 'privateKey', 'private_key', 'apiKey', 'accessToken'];

/** gRPC status codes (google.rpc.Code) the provider tells apart; GoogleError.code carries them. */
const Code = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
} as const;
const CODE_BY_NAME: Record<string, number> = Code;
const CODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));
/** HTTP status → google.rpc.Code, for an error body without `status` (API design guide, "Errors"). */
const CODE_OF_HTTP: Record<number, number> = {
  400: Code.INVALID_ARGUMENT, 401: Code.UNAUTHENTICATED, 403: Code.PERMISSION_DENIED, 404: Code.NOT_FOUND, 409: Code.ABORTED,
  429: Code.RESOURCE_EXHAUSTED, 499: Code.CANCELLED, 500: Code.INTERNAL, 501: Code.UNIMPLEMENTED, 503: Code.UNAVAILABLE, 504: Code.DEADLINE_EXCEEDED,
};
/** Retried within the deadline: UNAVAILABLE and DEADLINE_EXCEEDED, as gRPC codes and as the HTTP statuses gax 5 reports (see the header). */
const RETRY_CODES = [Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, 503, 504];

let importPromise: Promise<KmsModule> | undefined;
async function loadKmsSdk(): Promise<KmsModule> {
  importPromise ??= import('@google-cloud/kms');
  try {
    return await importPromise;
  } catch (e) {
    importPromise = undefined;
    throw new L1Error(`gcp-kms: @google-cloud/kms cannot be loaded (${(e as Error).message}); run npm install`, 'unreachable');
  }
}

/** The status a CryptoKeyVersion state means for blobs under that version (see the header). */
export function statusForVersionState(state: string): L1Status['state'] {
  switch (state) {
    case 'ENABLED':
      return 'active';
    case 'DISABLED':
      return 'disabled';
    case 'DESTROY_SCHEDULED':
    case 'DESTROYED':
    case 'PENDING_IMPORT':
    case 'IMPORT_FAILED':
    case 'GENERATION_FAILED':
    case 'PENDING_EXTERNAL_DESTRUCTION':
    case 'EXTERNAL_DESTRUCTION_FAILED':
      return 'revoked';
    default: // PENDING_GENERATION (an HSM key being made), or a state this code does not know
      return 'unreachable';
  }
}

const SEVERITY: Record<FailState, number> = { revoked: 3, disabled: 2, unreachable: 1 };

function validateOptions(o: GcpKmsL1Options): void {
  const raw = o as unknown as Record<string, unknown>;
  for (const f of CREDENTIAL_VALUE_FIELDS) {
    if (f in raw) throw new L1Error(`gcp-kms.${f}: credential values are not accepted in configuration; name a credentials file (credentialsFile) or an environment variable (credentialsEnv), or use Application Default Credentials`);
  }
  if (typeof o.keyName !== 'string' || o.keyName === '') throw new L1Error('gcp-kms.keyName: the CryptoKey resource name is required (projects/…/locations/…/keyRings/…/cryptoKeys/…)');
  if (/\/cryptoKeyVersions\//.test(o.keyName)) {
    throw new L1Error('gcp-kms.keyName: name the CryptoKey, not one of its versions: Encrypt uses the primary version and Decrypt finds the version in the ciphertext');
  }
  if (!KEY_NAME.test(o.keyName)) {
    throw new L1Error(`gcp-kms.keyName: ${JSON.stringify(o.keyName)} is not a CryptoKey resource name (projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>)`);
  }
  if (o.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(o.endpoint);
    } catch {
      throw new L1Error(`gcp-kms.endpoint: ${JSON.stringify(o.endpoint)} is not a URL (e.g. https://cloudkms.googleapis.com)`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new L1Error('gcp-kms.endpoint: must be an http or https URL');
    if (u.pathname !== '/' || u.search !== '' || u.username !== '' || u.password !== '') throw new L1Error('gcp-kms.endpoint: give the server only (scheme, host, port), without a path');
  }
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 600_000)) {
    throw new L1Error('gcp-kms.timeoutMs: must be an integer number of milliseconds from 1 to 600000');
  }
  if (o.credentialsFile !== undefined && o.credentialsEnv !== undefined) {
    throw new L1Error('gcp-kms.credentialsFile/credentialsEnv: give at most one of them (neither: Application Default Credentials)');
  }
  if (o.credentialsEnv !== undefined && (typeof o.credentialsEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.credentialsEnv))) {
    throw new L1Error('gcp-kms.credentialsEnv: must be an environment variable name');
  }
  if (o.credentialsFile !== undefined && (typeof o.credentialsFile !== 'string' || o.credentialsFile === '')) {
    throw new L1Error('gcp-kms.credentialsFile: must be a file path');
  }
}

/** An Int64Value/number field of a KMS answer (proto3 JSON sends int64 as strings). */
function int64(v: unknown): number | undefined {
  const x = typeof v === 'object' && v !== null && 'value' in v ? (v as { value: unknown }).value : v;
  if (typeof x === 'number') return x;
  if (typeof x === 'string' && /^\d+$/.test(x)) return Number(x);
  if (typeof x === 'object' && x !== null && typeof (x as { toNumber?: unknown }).toNumber === 'function') return (x as { toNumber(): number }).toNumber();
  return undefined;
}

function timestamp(t: unknown): string | undefined {
  const secs = int64((t as { seconds?: unknown } | null | undefined)?.seconds);
  return secs === undefined ? undefined : new Date(secs * 1000).toISOString();
}

function parseBlob(blob: Buffer): { versionId: string; ciphertext: Buffer } {
  if (blob.length < 3) throw new L1Error(`gcp-kms: the blob is ${blob.length} bytes, too short to hold a KMS ciphertext`);
  if (blob[0] !== GCP_KMS_BLOB_V1) throw new L1Error(`gcp-kms: the blob has unknown format byte 0x${blob[0]!.toString(16).padStart(2, '0')}`);
  const n = blob[1]!;
  const versionId = blob.subarray(2, 2 + n).toString('latin1');
  const ciphertext = blob.subarray(2 + n);
  if (!VERSION_ID.test(versionId) || ciphertext.length === 0 || ciphertext.length > MAX_KMS_CIPHERTEXT) {
    throw new L1Error('gcp-kms: the blob does not hold a key version and a KMS ciphertext');
  }
  return { versionId, ciphertext };
}

interface GoogleErrorLike {
  code?: unknown;
  message?: string;
  name?: string;
  response?: { data?: unknown };
}

/**
 * The google.rpc.Code and message of a failed call: a GoogleError's own code, or the JSON
 * error body of a GaxiosError (see the header); undefined code when no HTTP answer came.
 */
export function rpcError(e: unknown): { code: number | undefined; name: string; message: string } {
  const err = (e ?? {}) as GoogleErrorLike;
  const message = String(err.message ?? e);
  if (typeof err.code === 'number' && err.code < 100) return { code: err.code, name: CODE_NAMES[err.code] ?? `code ${err.code}`, message };
  if (typeof err.code === 'number') {
    let body: unknown = err.response?.data;
    if (typeof body !== 'object' || body === null) {
      try {
        body = JSON.parse(typeof body === 'string' ? body : message);
      } catch {
        body = undefined;
      }
    }
    const detail = (body as { error?: { status?: unknown; message?: unknown } } | undefined)?.error;
    const status = typeof detail?.status === 'string' ? detail.status : undefined;
    const code = status !== undefined && CODE_BY_NAME[status] !== undefined ? CODE_BY_NAME[status] : CODE_OF_HTTP[err.code] ?? (err.code >= 500 ? Code.UNKNOWN : undefined);
    const text = typeof detail?.message === 'string' ? detail.message : `HTTP ${err.code}`;
    return { code, name: code !== undefined ? CODE_NAMES[code]! : `HTTP ${err.code}`, message: text };
  }
  return { code: undefined, name: typeof err.code === 'string' ? err.code : err.name ?? 'Error', message };
}

export class GcpKmsL1Provider implements L1Provider {
  private closed = false;
  private client: Promise<KmsClient> | undefined;
  /**
   * The CryptoKeyVersion id of the last blob wrapped or unwrapped under each context, until
   * the hierarchy forgets the context: status checks these versions.
   */
  private readonly versionsInUse = new Map<string, string>();
  private readonly timeoutMs: number;
  private readonly endpoint: URL;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    private readonly sdk: KmsModule,
    private readonly opts: GcpKmsL1Options,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_GCP_KMS_TIMEOUT_MS;
    this.endpoint = new URL(opts.endpoint ?? DEFAULT_GCP_KMS_ENDPOINT);
    this.env = opts.env ?? process.env;
  }

  /**
   * Checks the options and loads the SDK. Contacts nothing and reads no credentials yet:
   * whether they work and the key is enabled is status()'s answer, so a KMS or a credentials
   * file missing at start gives a provider that reports unreachable rather than no provider.
   */
  static async open(opts: GcpKmsL1Options): Promise<GcpKmsL1Provider> {
    validateOptions(opts);
    const sdk = await loadKmsSdk();
    return new GcpKmsL1Provider(sdk, { ...opts });
  }

  private where(): string {
    return this.opts.endpoint !== undefined ? ` at ${this.opts.endpoint}` : '';
  }

  private versionName(id: string): string {
    return `${this.opts.keyName}/cryptoKeyVersions/${id}`;
  }

  /** The credentials JSON the reference names, read at client creation (a fresh one after a failure). */
  private credentials(): Record<string, unknown> | undefined {
    let text: string;
    let from: string;
    if (this.opts.credentialsEnv !== undefined) {
      from = `the environment variable ${this.opts.credentialsEnv}`;
      const v = this.env[this.opts.credentialsEnv];
      if (!v) throw new L1Error(`gcp-kms: the credentials environment variable ${this.opts.credentialsEnv} is not set`, 'unreachable');
      text = v;
    } else if (this.opts.credentialsFile !== undefined) {
      from = `the credentials file ${this.opts.credentialsFile}`;
      try {
        text = readFileSync(this.opts.credentialsFile, 'utf8');
      } catch (e) {
        throw new L1Error(`gcp-kms: cannot read the credentials file ${this.opts.credentialsFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'unreachable');
      }
    } else {
      return undefined; // Application Default Credentials, found by the SDK
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new L1Error(`gcp-kms: ${from} does not hold JSON credentials`, 'unreachable');
    }
    const type = (json as { type?: unknown } | null)?.type;
    if (typeof json !== 'object' || json === null || typeof type !== 'string') {
      throw new L1Error(`gcp-kms: ${from} holds no "type" (a service_account key or an external_account configuration is expected)`, 'unreachable');
    }
    return json as Record<string, unknown>;
  }

  private getClient(): Promise<KmsClient> {
    this.client ??= (async () => {
      const creds = this.credentials();
      const https = this.endpoint.protocol === 'https:';
      return new this.sdk.KeyManagementServiceClient({
        fallback: true, // REST transport (see the header)
        apiEndpoint: this.endpoint.hostname.replace(/^\[|\]$/g, ''),
        port: this.endpoint.port !== '' ? Number(this.endpoint.port) : https ? 443 : 80,
        protocol: https ? 'https' : 'http',
        ...(creds !== undefined ? { credentials: creds as never } : {}),
      });
    })();
    this.client.catch(() => (this.client = undefined));
    return this.client;
  }

  private mapError(op: string, e: unknown): L1Error {
    if (e instanceof L1Error) return e;
    const r = rpcError(e);
    const code = r.code;
    const name = r.name;
    const message = r.message.replace(/^\d+ [A-Z_]+: /, '');
    const what = `gcp-kms: ${op} of ${this.opts.keyName}${this.where()} failed (${name}${message ? `: ${message}` : ''})`;
    let status: FailState | undefined;
    switch (code) {
      case Code.NOT_FOUND:
        status = 'revoked';
        break;
      case Code.PERMISSION_DENIED:
        status = 'disabled';
        break;
      case Code.FAILED_PRECONDITION: {
        // "CryptoKeyVersion … is not enabled, current state is: DESTROY_SCHEDULED."
        const state = /current state is:? ([A-Z_]+)/.exec(message)?.[1];
        const s = state !== undefined ? statusForVersionState(state) : 'disabled';
        status = s === 'active' ? 'disabled' : s;
        break;
      }
      case Code.INVALID_ARGUMENT:
      case Code.OUT_OF_RANGE:
      case undefined:
        // INVALID_ARGUMENT: a bad request or, on Decrypt, a bad blob (no key state). No gRPC
        // code at all: no HTTP answer (refused, reset, DNS) or not a KMS answer.
        status = code === undefined ? 'unreachable' : undefined;
        break;
      default: // UNAUTHENTICATED, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, …
        status = 'unreachable';
    }
    return new L1Error(what, status);
  }

  /** One KMS call under the deadline; the SDK gets the same deadline for its retries. */
  private async call<T>(op: string, send: (client: KmsClient, options: { timeout: number; retry: { retryCodes: number[] } }) => Promise<T>): Promise<T> {
    if (this.closed) throw new L1Error('gcp-kms: provider is closed', 'unreachable');
    let timer: NodeJS.Timeout | undefined;
    let pending: (Promise<T> & { cancel?: () => void }) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        pending?.cancel?.();
        reject(new L1Error(`gcp-kms: ${op} of ${this.opts.keyName} got no answer${this.where()} within ${this.timeoutMs} ms`, 'unreachable'));
      }, this.timeoutMs);
    });
    try {
      const attempt = this.getClient().then((client) => {
        pending = send(client, { timeout: this.timeoutMs, retry: { retryCodes: RETRY_CODES } }) as Promise<T> & { cancel?: () => void };
        return pending;
      });
      return await Promise.race([attempt, deadline]);
    } catch (e) {
      throw this.mapError(op, e);
    } finally {
      clearTimeout(timer);
    }
  }

  private contextBytes(context: string): Buffer {
    const aad = Buffer.from(context, 'utf8');
    if (aad.length > MAX_AAD) throw new L1Error(`gcp-kms: the context is ${aad.length} bytes; Cloud KMS takes at most ${MAX_AAD} bytes of additional authenticated data`);
    return aad;
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    if (plaintext.length === 0 || plaintext.length > MAX_WRAP_PLAINTEXT) throw new L1Error(`gcp-kms: wraps 1 to ${MAX_WRAP_PLAINTEXT} bytes, not ${plaintext.length}`);
    const aad = this.contextBytes(context);
    const [out] = await this.call('Encrypt', (c, o) => c.encrypt({
      name: this.opts.keyName,
      plaintext,
      additionalAuthenticatedData: aad,
      plaintextCrc32c: { value: crc32c(plaintext) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    }, o));
    if (out.verifiedPlaintextCrc32c !== true || out.verifiedAdditionalAuthenticatedDataCrc32c !== true) {
      throw new L1Error(`gcp-kms: Encrypt${this.where()} did not confirm the request's checksums (corrupted in transit, or not Cloud KMS)`, 'unreachable');
    }
    const ct = out.ciphertext == null ? Buffer.alloc(0) : Buffer.from(out.ciphertext as Uint8Array);
    if (ct.length === 0 || ct.length > MAX_KMS_CIPHERTEXT) throw new L1Error(`gcp-kms: Encrypt${this.where()} returned ${ct.length === 0 ? 'no' : 'an oversized'} ciphertext`);
    if (int64(out.ciphertextCrc32c) !== crc32c(ct)) throw new L1Error(`gcp-kms: Encrypt${this.where()} returned a ciphertext that does not match its checksum (corrupted in transit)`, 'unreachable');
    const prefix = `${this.opts.keyName}/cryptoKeyVersions/`;
    const versionId = typeof out.name === 'string' && out.name.startsWith(prefix) ? out.name.slice(prefix.length) : '';
    if (!VERSION_ID.test(versionId)) throw new L1Error(`gcp-kms: Encrypt${this.where()} named no version of ${this.opts.keyName} (${JSON.stringify(out.name)})`);
    this.versionsInUse.set(context, versionId);
    return Buffer.concat([Buffer.of(GCP_KMS_BLOB_V1, versionId.length), Buffer.from(versionId, 'latin1'), ct]);
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    const { versionId, ciphertext } = parseBlob(blob);
    const aad = this.contextBytes(context);
    let out: GcpKmsTypes.protos.google.cloud.kms.v1.IDecryptResponse;
    try {
      [out] = await this.call('Decrypt', (c, o) => c.decrypt({
        name: this.opts.keyName,
        ciphertext,
        additionalAuthenticatedData: aad,
        ciphertextCrc32c: { value: crc32c(ciphertext) },
        additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
      }, o));
    } catch (e) {
      const err = e as L1Error;
      if (err.status === undefined) {
        throw new L1Error(`gcp-kms: unwrap failed (${err.message.replace(/^gcp-kms: /, '')}): the blob was altered, made under another key, or bound to another context`);
      }
      throw err;
    }
    const pt = out.plaintext == null ? Buffer.alloc(0) : Buffer.from(out.plaintext as Uint8Array);
    if (out.plaintext != null && typeof (out.plaintext as Buffer).fill === 'function') (out.plaintext as Buffer).fill(0);
    if (int64(out.plaintextCrc32c) !== crc32c(pt)) {
      pt.fill(0);
      throw new L1Error(`gcp-kms: Decrypt${this.where()} returned a plaintext that does not match its checksum (corrupted in transit)`, 'unreachable');
    }
    if (pt.length === 0) throw new L1Error(`gcp-kms: Decrypt${this.where()} returned no plaintext`);
    this.versionsInUse.set(context, versionId);
    return pt;
  }

  private versionStatus(v: ICryptoKeyVersion | null | undefined, label: string): L1Status {
    const state = String(v?.state ?? 'CRYPTO_KEY_VERSION_STATE_UNSPECIFIED');
    const s = statusForVersionState(state);
    if (s === 'active') return { state: 'active' };
    const when = state === 'DESTROY_SCHEDULED' && timestamp(v?.destroyTime) !== undefined ? ` (destruction scheduled for ${timestamp(v?.destroyTime)})` : '';
    return { state: s, detail: `gcp-kms: ${label} ${v?.name ?? '?'} is ${state}${when}` };
  }

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'gcp-kms: provider is closed' };
    try {
      const [key] = await this.call('GetCryptoKey', (c, o) => c.getCryptoKey({ name: this.opts.keyName }, o));
      const purpose = String(key.purpose ?? 'CRYPTO_KEY_PURPOSE_UNSPECIFIED');
      if (purpose !== 'ENCRYPT_DECRYPT') {
        return { state: 'disabled', detail: `gcp-kms: key ${this.opts.keyName} has purpose ${purpose}; a symmetric ENCRYPT_DECRYPT key is needed (only it takes additional authenticated data)` };
      }
      if (key.primary == null) return { state: 'disabled', detail: `gcp-kms: key ${this.opts.keyName} has no primary version` };
      const found: L1Status[] = [this.versionStatus(key.primary, 'primary version')];
      const primaryId = String(key.primary.name ?? '').split('/').at(-1);
      for (const id of [...new Set(this.versionsInUse.values())].sort((a, b) => Number(a) - Number(b))) {
        if (id === primaryId) continue;
        try {
          const [v] = await this.call('GetCryptoKeyVersion', (c, o) => c.getCryptoKeyVersion({ name: this.versionName(id) }, o));
          found.push(this.versionStatus(v, 'version'));
        } catch (e) {
          const err = this.mapError('GetCryptoKeyVersion', e);
          found.push({ state: err.status ?? 'unreachable', detail: `${err.message} (a version our blobs use)` });
        }
      }
      let worst: L1Status = { state: 'active' };
      for (const s of found) if (s.state !== 'active' && (worst.state === 'active' || SEVERITY[s.state] > SEVERITY[worst.state])) worst = s;
      return worst;
    } catch (e) {
      const err = this.mapError('GetCryptoKey', e);
      return { state: err.status ?? 'unreachable', detail: err.message };
    }
  }

  /** The blob of `context` is gone (e.g. the L2 before a rotation): its version is no longer watched. */
  forgetContext(context: string): void {
    this.versionsInUse.delete(context);
  }

  describe(): L1Description {
    return { provider: 'gcp-kms', keyRef: this.opts.keyName, developmentOnly: false };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) await c.then((x) => x.close(), () => undefined).catch(() => undefined);
  }
}
