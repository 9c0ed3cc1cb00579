// The AWS KMS L1 provider (DESIGN.md §2, issue 6): the customer's root key is a symmetric
// KMS key; we call Encrypt and Decrypt with it and never see it. @aws-sdk/client-kms is
// loaded with a dynamic import, so deployments that do not use AWS never load the SDK
// (DESIGN.md §6.9).
//
// Context binding: the context string goes into the EncryptionContext, which KMS binds to
// the ciphertext as additional authenticated data (AWS KMS Developer Guide, "Encryption
// context"): Decrypt under another context fails with InvalidCiphertextException. It also
// shows up in CloudTrail, so the customer sees which tenant's key was opened.
//
// Blob format: 0x31 | KMS CiphertextBlob. The KMS blob names its key; Decrypt is called
// with our KeyId as well, so a blob made under another KMS key is refused
// (IncorrectKeyException) even if our credentials could use that key.
//
// Every call has a deadline (timeoutMs, covering the SDK's retries): an unanswered KMS is
// reported as unreachable instead of holding an unseal forever.
import type * as KmsTypes from '@aws-sdk/client-kms';
import { L1Error } from './software.ts';
import type { L1Description, L1Provider, L1Status } from './types.ts';

type KmsModule = typeof KmsTypes;
type FailState = Exclude<L1Status['state'], 'active'>;

export interface AwsKmsL1Options {
  /** Key id, key ARN, alias name (alias/…) or alias ARN. */
  keyId: string;
  /** Default: the region of a key ARN, else the SDK's default chain (AWS_REGION, ~/.aws/config). */
  region?: string;
  /** Endpoint override (a VPC endpoint, FIPS endpoint, or a test endpoint). */
  endpoint?: string;
  /** Deadline of each KMS call, retries included (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Credentials by reference: names of environment variables. Without them the SDK's default
   * chain is used (environment, shared files, SSO, container and instance roles).
   */
  accessKeyIdEnv?: string;
  secretAccessKeyEnv?: string;
  sessionTokenEnv?: string;
  /** Where the *Env names are looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const AWS_KMS_BLOB_V1 = 0x31;
export const DEFAULT_KMS_TIMEOUT_MS = 5000;
/** AWS KMS Encrypt takes 1 to 4096 bytes of plaintext (API reference, Encrypt). */
const KMS_MAX_PLAINTEXT = 4096;
/** The EncryptionContext key that carries our context string. */
export const KMS_CONTEXT_KEY = 'openkcm';
/**
 * An empty context gets its own key, so that the mapping context → EncryptionContext stays
 * one-to-one whatever KMS thinks of empty values.
 */
const KMS_EMPTY_CONTEXT = { 'openkcm-empty-context': 'true' };

/** Option names that would carry a credential value; refused so that none sits in a config file. */
const CREDENTIAL_VALUE_FIELDS = ['accessKeyId', 'secretAccessKey', 'sessionToken', 'credentials'];

let importPromise: Promise<KmsModule> | undefined;
async function loadKmsSdk(): Promise<KmsModule> {
  importPromise ??= import('@aws-sdk/client-kms');
  try {
    return await importPromise;
  } catch (e) {
    importPromise = undefined;
    throw new L1Error(`aws-kms: @aws-sdk/client-kms cannot be loaded (${(e as Error).message}); run npm install`, 'unreachable');
  }
}

export function encryptionContextFor(context: string): Record<string, string> {
  return context === '' ? { ...KMS_EMPTY_CONTEXT } : { [KMS_CONTEXT_KEY]: context };
}

function validateOptions(o: AwsKmsL1Options): void {
  for (const f of CREDENTIAL_VALUE_FIELDS) {
    if (f in (o as unknown as Record<string, unknown>)) {
      throw new L1Error(`aws-kms.${f}: credential values are not accepted in configuration; use the SDK's default chain or name environment variables (accessKeyIdEnv, secretAccessKeyEnv)`);
    }
  }
  if (typeof o.keyId !== 'string' || o.keyId.trim() === '') throw new L1Error('aws-kms.keyId: a key id, key ARN or alias is required');
  if (!/^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+|alias\/[A-Za-z0-9/_-]+|[A-Za-z0-9-]+)$/.test(o.keyId)) {
    throw new L1Error(`aws-kms.keyId: ${JSON.stringify(o.keyId)} is neither a key id, a key or alias ARN, nor alias/<name>`);
  }
  if (o.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(o.region)) throw new L1Error(`aws-kms.region: ${JSON.stringify(o.region)} is not an AWS region name`);
  if (o.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(o.endpoint);
    } catch {
      throw new L1Error(`aws-kms.endpoint: ${JSON.stringify(o.endpoint)} is not a URL`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new L1Error('aws-kms.endpoint: must be an http or https URL');
  }
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 600_000)) {
    throw new L1Error('aws-kms.timeoutMs: must be an integer number of milliseconds from 1 to 600000');
  }
  const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
  for (const f of ['accessKeyIdEnv', 'secretAccessKeyEnv', 'sessionTokenEnv'] as const) {
    if (o[f] !== undefined && (typeof o[f] !== 'string' || !envName.test(o[f]!))) throw new L1Error(`aws-kms.${f}: must be an environment variable name`);
  }
  if ((o.accessKeyIdEnv === undefined) !== (o.secretAccessKeyEnv === undefined)) {
    throw new L1Error('aws-kms.accessKeyIdEnv/secretAccessKeyEnv: give both or neither');
  }
  if (o.sessionTokenEnv !== undefined && o.accessKeyIdEnv === undefined) throw new L1Error('aws-kms.sessionTokenEnv: needs accessKeyIdEnv and secretAccessKeyEnv');
}

/** What a KMS error name says about the key (the status() a caller should assume). */
function statusForKmsError(name: string): FailState | undefined {
  switch (name) {
    case 'NotFoundException':
    case 'KMSInvalidStateException': // PendingDeletion, PendingImport: no usable key material
      return 'revoked';
    case 'DisabledException':
    case 'AccessDeniedException': // the customer withdrew our permission: reversible, like Disabled
      return 'disabled';
    case 'KeyUnavailableException':
    case 'DependencyTimeoutException':
    case 'KMSInternalException':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
    case 'ThrottlingException':
    case 'LimitExceededException':
    case 'CredentialsProviderError':
    case 'TimeoutError':
    case 'AbortError':
      return 'unreachable';
    default:
      return undefined;
  }
}

export class AwsKmsL1Provider implements L1Provider {
  private closed = false;

  private constructor(
    private readonly sdk: KmsModule,
    private readonly client: KmsTypes.KMSClient,
    private readonly opts: AwsKmsL1Options,
    readonly region: string,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Loads the SDK and builds the client. Contacts nothing: whether the key exists and is
   * enabled is status()'s answer, so a KMS that is down at start gives a provider that
   * reports unreachable rather than no provider.
   */
  static async open(opts: AwsKmsL1Options): Promise<AwsKmsL1Provider> {
    validateOptions(opts);
    const sdk = await loadKmsSdk();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_KMS_TIMEOUT_MS;
    const arnRegion = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(opts.keyId)?.[1];
    const env = opts.env ?? process.env;
    const config: KmsTypes.KMSClientConfig = {
      // Two attempts: one retry of a transient failure still fits a short deadline.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
    };
    const region = opts.region ?? arnRegion;
    if (region !== undefined) config.region = region;
    if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
    if (opts.accessKeyIdEnv !== undefined) {
      const idName = opts.accessKeyIdEnv;
      const secretName = opts.secretAccessKeyEnv!;
      const tokenName = opts.sessionTokenEnv;
      // Read at each signing, so rotated credentials in the environment are picked up.
      config.credentials = async () => {
        const accessKeyId = env[idName];
        const secretAccessKey = env[secretName];
        if (!accessKeyId) throw new L1Error(`aws-kms: the credentials environment variable ${idName} is not set`, 'unreachable');
        if (!secretAccessKey) throw new L1Error(`aws-kms: the credentials environment variable ${secretName} is not set`, 'unreachable');
        const sessionToken = tokenName !== undefined ? env[tokenName] : undefined;
        if (tokenName !== undefined && !sessionToken) throw new L1Error(`aws-kms: the credentials environment variable ${tokenName} is not set`, 'unreachable');
        return sessionToken !== undefined ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
      };
    }
    const client = new sdk.KMSClient(config);
    let resolvedRegion: string;
    try {
      resolvedRegion = await client.config.region();
    } catch {
      client.destroy();
      throw new L1Error('aws-kms.region: not given, not in the key ARN, and the SDK default chain (AWS_REGION, ~/.aws/config) has none');
    }
    return new AwsKmsL1Provider(sdk, client, opts, resolvedRegion, timeoutMs);
  }

  private where(): string {
    return this.opts.endpoint ?? `AWS KMS in ${this.region}`;
  }

  private mapError(op: string, e: unknown): L1Error {
    if (e instanceof L1Error) return e;
    const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    const name = err.name ?? 'Error';
    const message = err.message ?? String(e);
    if (name === 'InvalidCiphertextException') {
      return new L1Error(`aws-kms: unwrap failed (InvalidCiphertextException): the blob was altered, made under another key, or bound to another context`);
    }
    if (name === 'IncorrectKeyException') {
      return new L1Error(`aws-kms: unwrap failed (IncorrectKeyException): the blob was made under another KMS key than ${this.opts.keyId}`);
    }
    let status = statusForKmsError(name);
    const http = err.$metadata?.httpStatusCode;
    // No HTTP answer at all (connection refused, reset, DNS), or a server-side failure:
    // the key may be fine, but we cannot reach it.
    if (status === undefined && (http === undefined || http >= 500)) status = 'unreachable';
    const why = err.code !== undefined && !message.includes(err.code) ? `${message} [${err.code}]` : message;
    return new L1Error(`aws-kms: ${op} of ${this.opts.keyId} at ${this.where()} failed (${name}${why ? ': ' + why : ''})`, status);
  }

  /** One KMS call under the deadline; the deadline covers retries and aborts the request. */
  private async call<T>(op: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) throw new L1Error('aws-kms: provider is closed', 'unreachable');
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new L1Error(`aws-kms: ${op} of ${this.opts.keyId} got no answer from ${this.where()} within ${this.timeoutMs} ms`, 'unreachable'));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([send(ac.signal), deadline]);
    } catch (e) {
      throw this.mapError(op, e);
    } finally {
      clearTimeout(timer);
    }
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    if (plaintext.length === 0 || plaintext.length > KMS_MAX_PLAINTEXT) {
      throw new L1Error(`aws-kms: KMS Encrypt takes 1 to ${KMS_MAX_PLAINTEXT} bytes, not ${plaintext.length}`);
    }
    const cmd = new this.sdk.EncryptCommand({ KeyId: this.opts.keyId, Plaintext: plaintext, EncryptionContext: encryptionContextFor(context) });
    const out = await this.call('Encrypt', (abortSignal) => this.client.send(cmd, { abortSignal }));
    if (out.CiphertextBlob === undefined || out.CiphertextBlob.length === 0) throw new L1Error(`aws-kms: Encrypt at ${this.where()} returned no CiphertextBlob`);
    return Buffer.concat([Buffer.of(AWS_KMS_BLOB_V1), out.CiphertextBlob]);
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < 2) throw new L1Error(`aws-kms: the blob is ${blob.length} bytes, too short to hold a KMS ciphertext`);
    if (blob[0] !== AWS_KMS_BLOB_V1) throw new L1Error(`aws-kms: the blob has unknown format byte 0x${blob[0]!.toString(16).padStart(2, '0')}`);
    const cmd = new this.sdk.DecryptCommand({
      CiphertextBlob: blob.subarray(1),
      EncryptionContext: encryptionContextFor(context),
      KeyId: this.opts.keyId,
    });
    const out = await this.call('Decrypt', (abortSignal) => this.client.send(cmd, { abortSignal }));
    if (out.Plaintext === undefined) throw new L1Error(`aws-kms: Decrypt at ${this.where()} returned no Plaintext`);
    const copy = Buffer.from(out.Plaintext);
    out.Plaintext.fill(0);
    return copy;
  }

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'aws-kms: provider is closed' };
    let meta: KmsTypes.KeyMetadata | undefined;
    try {
      const cmd = new this.sdk.DescribeKeyCommand({ KeyId: this.opts.keyId });
      meta = (await this.call('DescribeKey', (abortSignal) => this.client.send(cmd, { abortSignal }))).KeyMetadata;
    } catch (e) {
      const err = e instanceof L1Error ? e : this.mapError('DescribeKey', e);
      return { state: err.status ?? 'unreachable', detail: err.message };
    }
    if (meta === undefined) return { state: 'unreachable', detail: `aws-kms: DescribeKey at ${this.where()} returned no KeyMetadata` };
    const name = meta.Arn ?? this.opts.keyId;
    switch (meta.KeyState) {
      case 'Enabled':
      case 'Updating': // a multi-Region key being updated stays usable
        break;
      case 'Disabled':
        return { state: 'disabled', detail: `aws-kms: key ${name} is Disabled` };
      case 'PendingDeletion':
      case 'PendingReplicaDeletion': {
        const when = meta.DeletionDate instanceof Date ? ` (deletion scheduled for ${meta.DeletionDate.toISOString()})` : '';
        return { state: 'revoked', detail: `aws-kms: key ${name} is ${meta.KeyState}${when}` };
      }
      case 'PendingImport':
        return { state: 'revoked', detail: `aws-kms: key ${name} is PendingImport: its key material was never imported or has expired` };
      case 'Unavailable':
        return { state: 'unreachable', detail: `aws-kms: key ${name} is Unavailable (its custom key store is disconnected)` };
      default:
        return { state: 'unreachable', detail: `aws-kms: key ${name} is in state ${String(meta.KeyState)}` };
    }
    if (meta.KeyUsage !== undefined && meta.KeyUsage !== 'ENCRYPT_DECRYPT') {
      return { state: 'disabled', detail: `aws-kms: key ${name} has KeyUsage ${meta.KeyUsage}, not ENCRYPT_DECRYPT` };
    }
    if (meta.KeySpec !== undefined && meta.KeySpec !== 'SYMMETRIC_DEFAULT') {
      // Only symmetric KMS keys take an EncryptionContext, which our context binding needs.
      return { state: 'disabled', detail: `aws-kms: key ${name} has KeySpec ${meta.KeySpec}; a SYMMETRIC_DEFAULT key is needed` };
    }
    return { state: 'active' };
  }

  describe(): L1Description {
    const ref = this.opts.keyId.startsWith('arn:') ? this.opts.keyId : `${this.opts.keyId} (${this.region})`;
    return { provider: 'aws-kms', keyRef: ref, developmentOnly: false };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }
}
