// The azure-keyvault L1 provider (issue 15): the customer's root key is a Key Vault or Managed
// HSM key; we ask the vault to wrapKey/unwrapKey with it and never see it. @azure/keyvault-keys
// and @azure/identity are loaded with a dynamic import when the provider is opened, so
// deployments that do not use Azure never load them (DESIGN.md §6.9).
//
// Algorithms (Key Vault REST API, "Wrap Key" / "Unwrap Key"; JWA RFC 7518 §4.3, §4.4):
//   RSA and RSA-HSM keys    → RSA-OAEP-256 (OAEP with SHA-256 and MGF1-SHA-256)
//   oct-HSM keys (Managed HSM only) → A256KW (AES key wrap, RFC 3394)
// EC keys cannot wrap: status reports them disabled and wrap refuses them.
//
// Context binding: Key Vault's wrapKey has no associated data, so the context is bound the way
// the PKCS#11 KWP mechanism binds it: its SHA-256 digest goes inside the wrapped record
// (context-record.ts), and unwrap compares it. The record is padded to 8 bytes for A256KW.
//
// Blob format: 0x41 | algorithm (0x01 RSA-OAEP-256, 0x02 A256KW) | version length (1) |
// key version (ASCII) | the vault's wrapped bytes. The version is the one the vault wrapped
// with (from the kid it answered): a rotated key keeps its older versions, and unwrap must
// name the one that wrapped.
//
// wrap reads the key first (GET /keys/<name>[/<version>]): Key Vault performs the RSA
// public-key operations (encrypt, wrapKey) even on a DISABLED key — only unwrapKey, decrypt
// and sign are refused with 403 KeyDisabled — so without that read a disabled root key would
// go on wrapping new L2 keys. The read also picks the algorithm and the latest version.
//
// Status (GET key): enabled → active; enabled:false, not yet valid (nbf), expired (exp), a key
// type or key_ops that cannot wrap and unwrap → disabled; 404 (deleted — soft-deleted or
// purged — or never created) → revoked; 403 (our identity's access withdrawn: access policy,
// RBAC, firewall) → disabled; 401 after a token (token refused), 408/429/5xx, no connection,
// no answer by the deadline, no token from the identity → unreachable. Versions our blobs use
// (those this provider instance wrapped or unwrapped) are checked as well: a version disabled
// on its own disables.
//
// Credentials by reference only: the client secret from a named environment variable, the
// client certificate from a PEM file, the platform's managed identity, or AKS workload
// identity (the federated token file the platform mounts). Tenant and client ids are
// identifiers, not secrets, and may be given in configuration.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type * as IdentityTypes from '@azure/identity';
import type * as KeysTypes from '@azure/keyvault-keys';
import { openContextRecord, sealContextRecord, CONTEXT_RECORD_HEADER } from './context-record.ts';
import { L1Error } from './errors.ts';
import type { L1Description, L1Provider, L1Status } from './types.ts';

type KeysModule = typeof KeysTypes;
type IdentityModule = typeof IdentityTypes;
type FailState = Exclude<L1Status['state'], 'active'>;

export type AzureCredentialKind = 'client-secret' | 'client-certificate' | 'managed-identity' | 'workload-identity';
export const AZURE_CREDENTIAL_KINDS: readonly AzureCredentialKind[] = ['client-secret', 'client-certificate', 'managed-identity', 'workload-identity'];

export interface AzureKeyVaultL1Options {
  /** https://<vault>.vault.azure.net or https://<hsm>.managedhsm.azure.net (a port is kept). */
  vaultUrl: string;
  keyName: string;
  /** Pins one key version (32 hex digits); default: the latest version at each wrap. */
  keyVersion?: string;
  credentialType: AzureCredentialKind;
  /** Directory (tenant) id; default AZURE_TENANT_ID. Not used by managed-identity. */
  tenantId?: string;
  /** Application (client) id; default AZURE_CLIENT_ID. For managed-identity: a user-assigned identity. */
  clientId?: string;
  /** client-secret: the NAME of the environment variable holding the secret (default AZURE_CLIENT_SECRET). */
  clientSecretEnv?: string;
  /** client-certificate: PEM file with the certificate and its private key. */
  clientCertificateFile?: string;
  /** workload-identity: the federated token file; default AZURE_FEDERATED_TOKEN_FILE. */
  federatedTokenFile?: string;
  /** Microsoft Entra authority (sovereign clouds); default https://login.microsoftonline.com. Trusted as named (no instance discovery). */
  authorityHost?: string;
  /** PEM file of the CA that issued the vault's (and authority's) certificate; default: the system's CAs. */
  caFile?: string;
  /** Deadline of each vault call, token and retries included (default 5000 ms). */
  timeoutMs?: number;
  /** Where the *Env names and AZURE_* defaults are looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const AZURE_BLOB_V1 = 0x41;
export const DEFAULT_AZURE_TIMEOUT_MS = 5000;
const ALG_IDS = { 'RSA-OAEP-256': 0x01, A256KW: 0x02 } as const;
type WrapAlgorithm = keyof typeof ALG_IDS;
/**
 * Largest plaintext we wrap. RSA-OAEP-256 with a 2048-bit key takes at most 190 bytes
 * (RFC 8017 §7.1.1: k − 2·hLen − 2); the record adds its header and up to 7 bytes of
 * padding. L2 keys are 32 bytes.
 */
export const AZURE_MAX_WRAP_PLAINTEXT = 190 - CONTEXT_RECORD_HEADER - 7;
/** Largest wrapped value accepted in a blob: an RSA-4096 ciphertext. */
const MAX_WRAPPED_BYTES = 512;
const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
const KEY_VERSION = /^[0-9A-Za-z]{1,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const GUID_OR_NAME = /^[0-9A-Za-z._-]{1,128}$/;

/** Option names that would carry a credential value; refused so that none sits in a config file. */
const CREDENTIAL_VALUE_FIELDS = ['clientSecret', 'clientCertificate', 'certificate', 'federatedToken', 'token', 'password'];

let importPromise: Promise<[KeysModule, IdentityModule]> | undefined;
async function loadAzureSdk(): Promise<[KeysModule, IdentityModule]> {
  importPromise ??= Promise.all([import('@azure/keyvault-keys'), import('@azure/identity')]);
  try {
    return await importPromise;
  } catch (e) {
    importPromise = undefined;
    throw new L1Error(`azure-keyvault: @azure/keyvault-keys or @azure/identity cannot be loaded (${(e as Error).message}); run npm install`, 'unreachable');
  }
}

function httpsUrl(field: string, value: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new L1Error(`azure-keyvault.${field}: ${JSON.stringify(value)} is not a URL (${what})`);
  }
  if (u.protocol !== 'https:') throw new L1Error(`azure-keyvault.${field}: must be an https URL (${what})`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
    throw new L1Error(`azure-keyvault.${field}: give the host only (https://host[:port]), without a path (${what})`);
  }
  return u;
}

function validateOptions(o: AzureKeyVaultL1Options): void {
  const raw = o as unknown as Record<string, unknown>;
  for (const f of CREDENTIAL_VALUE_FIELDS) {
    if (f in raw) {
      throw new L1Error(`azure-keyvault.${f}: credential values are not accepted in configuration; name an environment variable (clientSecretEnv), a certificate file (clientCertificateFile), or use managed-identity or workload-identity`);
    }
  }
  if (typeof o.vaultUrl !== 'string') throw new L1Error('azure-keyvault.vaultUrl: the vault URL is required (https://<vault>.vault.azure.net)');
  httpsUrl('vaultUrl', o.vaultUrl, 'e.g. https://<vault>.vault.azure.net or https://<hsm>.managedhsm.azure.net');
  if (typeof o.keyName !== 'string' || !KEY_NAME.test(o.keyName)) throw new L1Error('azure-keyvault.keyName: a Key Vault key name (1 to 127 letters, digits and -) is required');
  if (o.keyVersion !== undefined && (typeof o.keyVersion !== 'string' || !KEY_VERSION.test(o.keyVersion))) {
    throw new L1Error(`azure-keyvault.keyVersion: ${JSON.stringify(o.keyVersion)} is not a key version (the last segment of the key identifier)`);
  }
  if (!AZURE_CREDENTIAL_KINDS.includes(o.credentialType)) {
    throw new L1Error(`azure-keyvault.credentialType: must be ${AZURE_CREDENTIAL_KINDS.slice(0, -1).join(', ')} or ${AZURE_CREDENTIAL_KINDS.at(-1)}, not ${JSON.stringify(o.credentialType)}`);
  }
  for (const f of ['tenantId', 'clientId'] as const) {
    if (o[f] !== undefined && (typeof o[f] !== 'string' || !GUID_OR_NAME.test(o[f]!))) throw new L1Error(`azure-keyvault.${f}: must be an id (a GUID or a domain name)`);
  }
  if (o.clientSecretEnv !== undefined && (typeof o.clientSecretEnv !== 'string' || !ENV_NAME.test(o.clientSecretEnv))) {
    throw new L1Error('azure-keyvault.clientSecretEnv: must be an environment variable name');
  }
  const onlyFor: [keyof AzureKeyVaultL1Options, AzureCredentialKind[]][] = [
    ['clientSecretEnv', ['client-secret']],
    ['clientCertificateFile', ['client-certificate']],
    ['federatedTokenFile', ['workload-identity']],
    ['tenantId', ['client-secret', 'client-certificate', 'workload-identity']],
    ['authorityHost', ['client-secret', 'client-certificate', 'workload-identity']],
  ];
  for (const [f, kinds] of onlyFor) {
    if (o[f] !== undefined && !kinds.includes(o.credentialType)) throw new L1Error(`azure-keyvault.${f}: only used with credentialType ${kinds.join(' or ')}, not ${o.credentialType}`);
  }
  if (o.credentialType === 'client-certificate' && o.clientCertificateFile === undefined) {
    throw new L1Error('azure-keyvault.clientCertificateFile: required with credentialType client-certificate (a PEM file with the certificate and its private key)');
  }
  if (o.authorityHost !== undefined) httpsUrl('authorityHost', o.authorityHost, 'e.g. https://login.microsoftonline.us');
  for (const f of ['caFile', 'clientCertificateFile'] as const) {
    if (o[f] === undefined) continue;
    try {
      readFileSync(o[f]!);
    } catch (e) {
      throw new L1Error(`azure-keyvault.${f}: cannot read ${o[f]} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 600_000)) {
    throw new L1Error('azure-keyvault.timeoutMs: must be an integer number of milliseconds from 1 to 600000');
  }
}

/** The wrap algorithm for a key type, or why the key cannot wrap. */
function algorithmFor(kty: string | undefined): WrapAlgorithm | string {
  switch (kty) {
    case 'RSA':
    case 'RSA-HSM':
      return 'RSA-OAEP-256';
    case 'oct-HSM':
    case 'oct':
      return 'A256KW';
    default:
      return `key type ${String(kty)} cannot wrap keys; an RSA, RSA-HSM or (Managed HSM) oct-HSM key is needed`;
  }
}

interface RestErrorLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  details?: { error?: { code?: string; message?: string; innererror?: { code?: string }; innerError?: { code?: string } } };
}

/** Key Vault's error code and inner error code (REST API "KeyVaultError"). */
function errorCodes(e: RestErrorLike): { code?: string; inner?: string; message?: string } {
  const err = e.details?.error;
  return { code: err?.code ?? e.code, inner: err?.innererror?.code ?? err?.innerError?.code, message: err?.message ?? e.message };
}

const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);

export class AzureKeyVaultL1Provider implements L1Provider {
  private closed = false;
  /** Key versions of the blobs this provider wrapped or unwrapped: status checks them. */
  private readonly versionsInUse = new Set<string>();
  private readonly crypto = new Map<string, KeysTypes.CryptographyClient>();
  private readonly vaultUrl: string;

  private constructor(
    private readonly client: KeysTypes.KeyClient,
    private readonly opts: AzureKeyVaultL1Options,
    private readonly timeoutMs: number,
    private readonly agent: Agent | undefined,
  ) {
    this.vaultUrl = opts.vaultUrl.replace(/\/$/, '');
  }

  /**
   * Loads the SDKs and builds the client and credential. Contacts nothing: whether the key
   * exists and is enabled is status()'s answer, so a vault that is down at start gives a
   * provider that reports unreachable rather than no provider.
   */
  static async open(opts: AzureKeyVaultL1Options): Promise<AzureKeyVaultL1Provider> {
    validateOptions(opts);
    const [keys, identity] = await loadAzureSdk();
    const env = opts.env ?? process.env;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_AZURE_TIMEOUT_MS;
    // One agent for the vault and the authority: it carries the extra CA when one is named.
    const agent = opts.caFile !== undefined ? new Agent({ keepAlive: true, ca: readFileSync(opts.caFile) }) : undefined;
    const common = {
      ...(agent !== undefined ? { agent } : {}),
      // One retry of a transient failure (the SDK retries 408, 429, 5xx and lost
      // connections): it still fits the deadline, which bounds everything anyway.
      retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
    };
    const credential = makeCredential(identity, opts, env, common);
    const client = new keys.KeyClient(opts.vaultUrl, credential, common);
    return new AzureKeyVaultL1Provider(client, { ...opts }, timeoutMs, agent);
  }

  private keyRef(version?: string): string {
    return `${this.vaultUrl}/keys/${this.opts.keyName}${version !== undefined ? `/${version}` : ''}`;
  }

  private cryptoClient(version: string): KeysTypes.CryptographyClient {
    let c = this.crypto.get(version);
    if (c === undefined) {
      // Shares the KeyClient's pipeline, so the challenge and token are shared too.
      c = this.client.getCryptographyClient(this.opts.keyName, { keyVersion: version });
      this.crypto.set(version, c);
    }
    return c;
  }

  /** What an SDK or credential error says about the key, as an L1Error. */
  private mapError(op: string, e: unknown, version?: string): L1Error {
    if (e instanceof L1Error) return e;
    const err = e as RestErrorLike;
    const name = err.name ?? 'Error';
    const where = `azure-keyvault: ${op} of ${this.keyRef(version)}`;
    if (CREDENTIAL_ERRORS.has(name)) {
      // The identity gave no token (missing environment, unreachable authority, refused
      // client): the key may be fine, but we cannot reach it.
      return new L1Error(`${where} failed: no token from the ${this.opts.credentialType} credential (${name}: ${firstLine(err.message ?? '')})`, 'unreachable');
    }
    if (name === 'AbortError') return new L1Error(`${where} got no answer within ${this.timeoutMs} ms`, 'unreachable');
    const http = err.statusCode;
    const { code, inner, message } = errorCodes(err);
    const why = `${http !== undefined ? `HTTP ${http}` : (code ?? name)}${code !== undefined && http !== undefined ? ` ${code}` : ''}${inner !== undefined ? `/${inner}` : ''}: ${firstLine(message ?? '')}`;
    let status: FailState | undefined;
    if (http === 404) status = 'revoked';
    else if (http === 403) status = 'disabled'; // KeyDisabled, or access withdrawn (AccessDenied, ForbiddenByRbac, ForbiddenByFirewall)
    else if (http === undefined || http === 401 || http === 408 || http === 429 || http >= 500) status = 'unreachable';
    return new L1Error(`${where} failed (${why})`, status);
  }

  /** One vault call under the deadline; the deadline covers the token, the challenge and retries. */
  private async call<T>(op: string, send: (signal: AbortSignal) => Promise<T>, version?: string): Promise<T> {
    if (this.closed) throw new L1Error('azure-keyvault: provider is closed', 'unreachable');
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new L1Error(`azure-keyvault: ${op} of ${this.keyRef(version)} got no answer within ${this.timeoutMs} ms`, 'unreachable'));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([send(ac.signal), deadline]);
    } catch (e) {
      throw this.mapError(op, e, version);
    } finally {
      clearTimeout(timer);
    }
  }

  private async getKey(version: string | undefined): Promise<KeysTypes.KeyVaultKey> {
    return this.call('get key', (abortSignal) => this.client.getKey(this.opts.keyName, { ...(version !== undefined ? { version } : {}), abortSignal }), version);
  }

  /** Whether a key (version) can hold our blobs; the reason when it cannot. */
  private judge(k: KeysTypes.KeyVaultKey): L1Status {
    const ref = k.id ?? this.keyRef(k.properties.version);
    const p = k.properties;
    if (p.enabled === false) return { state: 'disabled', detail: `azure-keyvault: key ${ref} is disabled` };
    const now = Date.now();
    if (p.notBefore instanceof Date && now < p.notBefore.getTime()) return { state: 'disabled', detail: `azure-keyvault: key ${ref} is not valid before ${p.notBefore.toISOString()}` };
    if (p.expiresOn instanceof Date && now > p.expiresOn.getTime()) return { state: 'disabled', detail: `azure-keyvault: key ${ref} expired on ${p.expiresOn.toISOString()}` };
    const alg = algorithmFor(k.keyType ?? k.key?.kty);
    if (!(alg in ALG_IDS)) return { state: 'disabled', detail: `azure-keyvault: key ${ref}: ${alg}` };
    const ops = k.keyOperations ?? k.key?.keyOps;
    if (ops !== undefined) {
      const missing = (['wrapKey', 'unwrapKey'] as const).filter((op) => !ops.includes(op));
      if (missing.length > 0) return { state: 'disabled', detail: `azure-keyvault: key ${ref} does not permit ${missing.join(' and ')} (key_ops: ${ops.join(', ') || 'none'})` };
    }
    return { state: 'active' };
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    if (plaintext.length === 0 || plaintext.length > AZURE_MAX_WRAP_PLAINTEXT) {
      throw new L1Error(`azure-keyvault: wraps 1 to ${AZURE_MAX_WRAP_PLAINTEXT} bytes, not ${plaintext.length}`);
    }
    // Read first: Key Vault wraps with a disabled RSA key (see the header).
    let k: KeysTypes.KeyVaultKey;
    try {
      k = await this.getKey(this.opts.keyVersion);
    } catch (e) {
      const err = e as L1Error;
      throw new L1Error(`${err.message}; wrap refused`, err.status);
    }
    const st = this.judge(k);
    if (st.state !== 'active') throw new L1Error(`${st.detail}; wrap refused`, st.state);
    const alg = algorithmFor(k.keyType ?? k.key?.kty) as WrapAlgorithm;
    const version = k.properties.version;
    if (version === undefined || !KEY_VERSION.test(version)) throw new L1Error(`azure-keyvault: the vault answered key ${this.keyRef()} without a usable version in its kid`);
    const record = sealContextRecord(plaintext, context, alg === 'A256KW' ? 8 : 1);
    let wrapped: Uint8Array;
    try {
      const out = await this.call('wrapKey', (abortSignal) => this.cryptoClient(version).wrapKey(alg, record, { abortSignal }), version);
      wrapped = out.result;
    } finally {
      record.fill(0);
    }
    if (!(wrapped instanceof Uint8Array) || wrapped.length === 0 || wrapped.length > MAX_WRAPPED_BYTES) {
      throw new L1Error(`azure-keyvault: wrapKey at ${this.keyRef(version)} returned no usable value`);
    }
    this.versionsInUse.add(version);
    const v = Buffer.from(version, 'ascii');
    return Buffer.concat([Buffer.of(AZURE_BLOB_V1, ALG_IDS[alg], v.length), v, wrapped]);
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < 4) throw new L1Error(`azure-keyvault: the blob is ${blob.length} bytes, too short to hold a wrapped key`);
    if (blob[0] !== AZURE_BLOB_V1) throw new L1Error(`azure-keyvault: the blob has unknown format byte 0x${blob[0]!.toString(16).padStart(2, '0')}`);
    const alg = (Object.keys(ALG_IDS) as WrapAlgorithm[]).find((a) => ALG_IDS[a] === blob[1]);
    if (alg === undefined) throw new L1Error(`azure-keyvault: the blob names unknown algorithm 0x${blob[1]!.toString(16).padStart(2, '0')}`);
    const vEnd = 3 + blob[2]!;
    const version = blob.subarray(3, vEnd).toString('latin1');
    const wrapped = blob.subarray(vEnd);
    if (blob.length <= vEnd || !KEY_VERSION.test(version)) throw new L1Error('azure-keyvault: the blob does not hold a key version and a wrapped key');
    // RFC 3394 §2.2.1: n ≥ 2 64-bit blocks plus the integrity block; an RSA ciphertext is the modulus size.
    if (wrapped.length > MAX_WRAPPED_BYTES || (alg === 'A256KW' && (wrapped.length < 24 || wrapped.length % 8 !== 0))) {
      throw new L1Error(`azure-keyvault: the blob's ${alg} value has an impossible length (${wrapped.length} bytes)`);
    }
    let record: Uint8Array;
    try {
      record = (await this.call('unwrapKey', (abortSignal) => this.cryptoClient(version).unwrapKey(alg, wrapped, { abortSignal }), version)).result;
    } catch (e) {
      const err = e as L1Error;
      if (err.status === 'revoked') {
        // 404 on a version: the whole key is gone, or the blob names a version of another key.
        const st = await this.status();
        if (st.state === 'active') throw new L1Error(`azure-keyvault: unwrap failed: the blob names version ${version}, which key ${this.keyRef()} does not have (made under another key?)`);
      }
      if (err.status === undefined) {
        throw new L1Error(`azure-keyvault: unwrap failed (${err.message.replace(/^azure-keyvault: /, '')}): the blob was altered or made under another key`);
      }
      throw err;
    }
    const inner = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
    try {
      const out = openContextRecord(inner, context, 'azure-keyvault');
      this.versionsInUse.add(version);
      return out;
    } finally {
      inner.fill(0);
    }
  }

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'azure-keyvault: provider is closed' };
    let k: KeysTypes.KeyVaultKey;
    try {
      k = await this.getKey(this.opts.keyVersion);
    } catch (e) {
      const err = this.mapError('get key', e);
      if (err.status === 'revoked') return { state: 'revoked', detail: await this.whyGone(err.message) };
      return { state: err.status ?? 'unreachable', detail: err.message };
    }
    const st = this.judge(k);
    if (st.state !== 'active') return st;
    for (const v of this.versionsInUse) {
      if (v === k.properties.version) continue;
      try {
        const older = this.judge(await this.getKey(v));
        if (older.state !== 'active') return { state: older.state, detail: `${older.detail}; our blobs use this version` };
      } catch (e) {
        const err = this.mapError('get key', e, v);
        return { state: err.status ?? 'unreachable', detail: `${err.message}; our blobs use this version` };
      }
    }
    return { state: 'active' };
  }

  /** The detail of a 404: a soft-deleted key says when it was deleted and when it will be purged. */
  private async whyGone(notFound: string): Promise<string> {
    try {
      const d = await this.call('get deleted key', (abortSignal) => this.client.getDeletedKey(this.opts.keyName, { abortSignal }));
      const when = d.properties.deletedOn instanceof Date ? ` on ${d.properties.deletedOn.toISOString()}` : '';
      const purge = d.properties.scheduledPurgeDate instanceof Date ? `; purge scheduled for ${d.properties.scheduledPurgeDate.toISOString()}` : '';
      return `azure-keyvault: key ${this.keyRef()} was deleted${when}${purge}`;
    } catch {
      // No soft-deleted key either (purged, never created, or no permission to list deleted keys).
      return notFound;
    }
  }

  describe(): L1Description {
    return { provider: 'azure-keyvault', keyRef: this.keyRef(this.opts.keyVersion), developmentOnly: false };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.crypto.clear();
    this.agent?.destroy();
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** The token credential the options name; secrets are read from their references only. */
function makeCredential(
  identity: IdentityModule,
  o: AzureKeyVaultL1Options,
  env: NodeJS.ProcessEnv,
  common: { agent?: Agent; retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number } },
): IdentityTypes.TokenCredential {
  // A configured authority (a sovereign cloud, Azure Stack) is trusted as named: MSAL's
  // instance discovery always asks login.microsoftonline.com, which such a network may not reach.
  const authority = o.authorityHost !== undefined ? { authorityHost: o.authorityHost, disableInstanceDiscovery: true } : {};
  const need = (value: string | undefined, name: string, field: string): string => {
    if (value === undefined || value === '') {
      throw new L1Error(`azure-keyvault: the ${o.credentialType} credential needs ${field} in configuration or the environment variable ${name}`, 'unreachable');
    }
    return value;
  };
  // Ids and references are resolved at each token request, so a credential missing at start
  // makes the provider unreachable (status says what is missing) rather than unopenable.
  const lazy = (build: () => IdentityTypes.TokenCredential): IdentityTypes.TokenCredential => ({
    getToken: (scopes, options) => build().getToken(scopes, options),
  });
  switch (o.credentialType) {
    case 'managed-identity': {
      // No agent: the platform's identity endpoints (IMDS, App Service) are plain HTTP on the
      // host or link-local network, so the vault's CA has nothing to do with them.
      const { agent: _agent, ...rest } = common;
      return o.clientId !== undefined ? new identity.ManagedIdentityCredential({ clientId: o.clientId, ...rest }) : new identity.ManagedIdentityCredential(rest);
    }
    case 'workload-identity': {
      let cached: { key: string; cred: IdentityTypes.TokenCredential } | undefined;
      return lazy(() => {
        const tenantId = need(o.tenantId ?? env.AZURE_TENANT_ID, 'AZURE_TENANT_ID', 'tenantId');
        const clientId = need(o.clientId ?? env.AZURE_CLIENT_ID, 'AZURE_CLIENT_ID', 'clientId');
        const tokenFilePath = need(o.federatedTokenFile ?? env.AZURE_FEDERATED_TOKEN_FILE, 'AZURE_FEDERATED_TOKEN_FILE', 'federatedTokenFile');
        const key = `${tenantId}\0${clientId}\0${tokenFilePath}`;
        if (cached?.key !== key) cached = { key, cred: new identity.WorkloadIdentityCredential({ tenantId, clientId, tokenFilePath, ...authority, ...common }) };
        return cached.cred;
      });
    }
    case 'client-secret': {
      const secretName = o.clientSecretEnv ?? 'AZURE_CLIENT_SECRET';
      let cached: { key: string; cred: IdentityTypes.TokenCredential } | undefined;
      return lazy(() => {
        const tenantId = need(o.tenantId ?? env.AZURE_TENANT_ID, 'AZURE_TENANT_ID', 'tenantId');
        const clientId = need(o.clientId ?? env.AZURE_CLIENT_ID, 'AZURE_CLIENT_ID', 'clientId');
        const secret = env[secretName];
        if (!secret) throw new L1Error(`azure-keyvault: the client secret environment variable ${secretName} is not set`, 'unreachable');
        // A rotated secret in the environment gets a new credential (and a new token).
        const key = `${tenantId}\0${clientId}\0${secret}`;
        if (cached?.key !== key) cached = { key, cred: new identity.ClientSecretCredential(tenantId, clientId, secret, { ...authority, ...common }) };
        return cached.cred;
      });
    }
    case 'client-certificate': {
      let cached: { key: string; cred: IdentityTypes.TokenCredential } | undefined;
      return lazy(() => {
        const tenantId = need(o.tenantId ?? env.AZURE_TENANT_ID, 'AZURE_TENANT_ID', 'tenantId');
        const clientId = need(o.clientId ?? env.AZURE_CLIENT_ID, 'AZURE_CLIENT_ID', 'clientId');
        const key = `${tenantId}\0${clientId}`;
        if (cached?.key !== key) cached = { key, cred: new identity.ClientCertificateCredential(tenantId, clientId, { certificatePath: o.clientCertificateFile! }, { ...authority, ...common }) };
        return cached.cred;
      });
    }
  }
}
