// A KMS-compatible HTTP endpoint for tests. It stands in for AWS KMS because no AWS
// emulator can run here; the aws-kms L1 provider drives the real @aws-sdk/client-kms
// against it.
//
// Protocol: AWS JSON 1.1 as the SDK speaks it for KMS — POST /, Content-Type
// application/x-amz-json-1.1, X-Amz-Target: TrentService.<Operation>, JSON bodies with
// blobs in base64 and timestamps in epoch seconds; errors as HTTP 400 with
// {"__type": "<Exception>", "message": "…"} and the x-amzn-ErrorType header.
// The SigV4 signature is NOT verified (we have no AWS secret to check it against); the
// endpoint only records whether a request carried an AWS4-HMAC-SHA256 Authorization header.
//
// Operations: CreateKey, CreateAlias, DescribeKey, Encrypt, Decrypt, DisableKey, EnableKey,
// ScheduleKeyDeletion, CancelKeyDeletion. Key states follow AWS: Enabled, Disabled,
// PendingDeletion. Encrypt really encrypts: AES-256-GCM under a per-key secret, with the
// canonical EncryptionContext as associated data, in a ciphertext blob that names its key.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody, sendJson, TestEndpoint } from './http-endpoint.ts';

export type KmsKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport' | 'Unavailable';

interface KmsKey {
  id: string;
  arn: string;
  secret: Buffer;
  state: KmsKeyState;
  created: number;
  description: string;
  deletionDate?: number;
}

export interface KmsRequestRecord {
  target: string;
  signed: boolean;
  contentType: string | undefined;
}

/** Blob layout: version | key id length | key id (UTF-8) | iv (12) | tag (16) | ciphertext. */
const BLOB_V1 = 0x01;
const MAX_PLAINTEXT = 4096; // AWS KMS Encrypt accepts up to 4096 bytes of plaintext
const MAX_BODY = 1 << 20;

class KmsException extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

/** The order of EncryptionContext pairs does not matter to KMS; the AAD is their sorted form. */
function canonicalContext(ctx: unknown): Buffer {
  if (ctx === undefined || ctx === null) return Buffer.alloc(0);
  if (typeof ctx !== 'object' || Array.isArray(ctx)) throw new KmsException('SerializationException', 'EncryptionContext must be a map');
  const entries = Object.entries(ctx as Record<string, unknown>);
  for (const [, v] of entries) if (typeof v !== 'string') throw new KmsException('SerializationException', 'EncryptionContext values must be strings');
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function base64Field(body: Record<string, unknown>, name: string): Buffer {
  const v = body[name];
  if (typeof v !== 'string') throw new KmsException('ValidationException', `1 validation error detected: Value at '${name.charAt(0).toLowerCase() + name.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return Buffer.from(v, 'base64');
}

export class KmsEndpoint extends TestEndpoint {
  readonly region: string;
  readonly account = '111122223333';
  readonly requests: KmsRequestRecord[] = [];
  private readonly keys = new Map<string, KmsKey>();
  private readonly aliases = new Map<string, string>();

  constructor(region = 'eu-central-1') {
    super();
    this.region = region;
  }

  /** Listens on 127.0.0.1 (port 0 the first time, the same port again after stop()). */
  async start(): Promise<string> {
    await this.listen(createServer((req, res) => void this.handle(req, res)));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portOf()}`;
  }

  /** Test back door, as an AWS operator would see it in the console. */
  keyState(keyId: string): KmsKeyState {
    return this.resolve(keyId).state;
  }

  /** Sets a state no public operation reaches here (PendingImport, Unavailable). */
  forceState(keyId: string, state: KmsKeyState): void {
    this.resolve(keyId).state = state;
  }

  private resolve(keyId: unknown): KmsKey {
    if (typeof keyId !== 'string' || keyId === '') throw new KmsException('ValidationException', "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1");
    let id = keyId;
    const aliasArn = /^arn:aws:kms:[^:]+:\d+:(alias\/.+)$/.exec(id);
    if (aliasArn) id = aliasArn[1]!;
    if (id.startsWith('alias/')) {
      const target = this.aliases.get(id);
      if (target === undefined) throw new KmsException('NotFoundException', `Alias arn:aws:kms:${this.region}:${this.account}:${id} is not found.`);
      id = target;
    }
    const keyArn = /^arn:aws:kms:[^:]+:\d+:key\/(.+)$/.exec(id);
    if (keyArn) id = keyArn[1]!;
    const key = this.keys.get(id);
    if (key === undefined) throw new KmsException('NotFoundException', `Key '${keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${this.region}:${this.account}:key/${id}`}' does not exist`);
    return key;
  }

  private metadata(k: KmsKey): Record<string, unknown> {
    return {
      AWSAccountId: this.account,
      KeyId: k.id,
      Arn: k.arn,
      CreationDate: k.created,
      Enabled: k.state === 'Enabled',
      Description: k.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: k.state,
      ...(k.deletionDate !== undefined ? { DeletionDate: k.deletionDate } : {}),
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    };
  }

  /** Encrypt/Decrypt need an Enabled key, and answer as AWS does otherwise. */
  private usable(k: KmsKey): void {
    if (k.state === 'Enabled') return;
    if (k.state === 'Disabled') throw new KmsException('DisabledException', `${k.arn} is disabled.`);
    if (k.state === 'Unavailable') throw new KmsException('KeyUnavailableException', `${k.arn} is unavailable.`, 500);
    throw new KmsException('KMSInvalidStateException', `${k.arn} is pending ${k.state === 'PendingDeletion' ? 'deletion' : 'import'}.`);
  }

  private op(target: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (target) {
      case 'CreateKey': {
        const id = randomUUID();
        const k: KmsKey = {
          id,
          arn: `arn:aws:kms:${this.region}:${this.account}:key/${id}`,
          secret: randomBytes(32),
          state: 'Enabled',
          created: Math.floor(Date.now() / 1000),
          description: typeof body.Description === 'string' ? body.Description : '',
        };
        if (body.KeyUsage !== undefined && body.KeyUsage !== 'ENCRYPT_DECRYPT') throw new KmsException('UnsupportedOperationException', 'only ENCRYPT_DECRYPT keys are emulated');
        this.keys.set(id, k);
        return { KeyMetadata: this.metadata(k) };
      }
      case 'CreateAlias': {
        const name = body.AliasName;
        if (typeof name !== 'string' || !/^alias\/[a-zA-Z0-9/_-]+$/.test(name) || name.startsWith('alias/aws/')) {
          throw new KmsException('ValidationException', `Alias must start with the prefix "alias/" and not "alias/aws/"`);
        }
        if (this.aliases.has(name)) throw new KmsException('AlreadyExistsException', `An alias with the name arn:aws:kms:${this.region}:${this.account}:${name} already exists`);
        this.aliases.set(name, this.resolve(body.TargetKeyId).id);
        return {};
      }
      case 'DescribeKey':
        return { KeyMetadata: this.metadata(this.resolve(body.KeyId)) };
      case 'Encrypt': {
        const k = this.resolve(body.KeyId);
        this.usable(k);
        const pt = base64Field(body, 'Plaintext');
        if (pt.length < 1 || pt.length > MAX_PLAINTEXT) {
          throw new KmsException('ValidationException', "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096");
        }
        const iv = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', k.secret, iv);
        const idBytes = Buffer.from(k.id, 'utf8');
        const header = Buffer.concat([Buffer.of(BLOB_V1, idBytes.length), idBytes]);
        c.setAAD(Buffer.concat([header, canonicalContext(body.EncryptionContext)]));
        const ct = Buffer.concat([c.update(pt), c.final()]);
        return { CiphertextBlob: Buffer.concat([header, iv, c.getAuthTag(), ct]).toString('base64'), KeyId: k.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'Decrypt': {
        const blob = base64Field(body, 'CiphertextBlob');
        const invalid = () => new KmsException('InvalidCiphertextException', '');
        if (blob.length < 2 || blob[0] !== BLOB_V1) throw invalid();
        const idEnd = 2 + blob[1]!;
        if (blob.length < idEnd + 12 + 16) throw invalid();
        const blobKeyId = blob.subarray(2, idEnd).toString('utf8');
        const k = this.keys.get(blobKeyId);
        if (k === undefined) throw invalid();
        if (body.KeyId !== undefined && this.resolve(body.KeyId).id !== k.id) {
          throw new KmsException('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
        }
        this.usable(k);
        const d = createDecipheriv('aes-256-gcm', k.secret, blob.subarray(idEnd, idEnd + 12));
        d.setAAD(Buffer.concat([blob.subarray(0, idEnd), canonicalContext(body.EncryptionContext)]));
        d.setAuthTag(blob.subarray(idEnd + 12, idEnd + 28));
        let pt: Buffer;
        try {
          pt = Buffer.concat([d.update(blob.subarray(idEnd + 28)), d.final()]);
        } catch {
          throw invalid(); // altered blob or another EncryptionContext: AWS gives no detail either
        }
        return { KeyId: k.arn, Plaintext: pt.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'DisableKey':
      case 'EnableKey': {
        const k = this.resolve(body.KeyId);
        if (k.state === 'PendingDeletion' || k.state === 'PendingImport') throw new KmsException('KMSInvalidStateException', `${k.arn} is pending ${k.state === 'PendingDeletion' ? 'deletion' : 'import'}.`);
        k.state = target === 'EnableKey' ? 'Enabled' : 'Disabled';
        return {};
      }
      case 'ScheduleKeyDeletion': {
        const k = this.resolve(body.KeyId);
        const days = body.PendingWindowInDays ?? 30;
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 7 || days > 30) {
          throw new KmsException('ValidationException', "1 validation error detected: Value at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30");
        }
        if (k.state === 'PendingDeletion') throw new KmsException('KMSInvalidStateException', `${k.arn} is pending deletion.`);
        k.state = 'PendingDeletion';
        k.deletionDate = Math.floor(Date.now() / 1000) + days * 86400;
        return { KeyId: k.arn, DeletionDate: k.deletionDate, KeyState: 'PendingDeletion', PendingWindowInDays: days };
      }
      case 'CancelKeyDeletion': {
        const k = this.resolve(body.KeyId);
        if (k.state !== 'PendingDeletion') throw new KmsException('KMSInvalidStateException', `${k.arn} is not pending deletion.`);
        k.state = 'Disabled'; // AWS leaves a key whose deletion was cancelled Disabled
        delete k.deletionDate;
        return { KeyId: k.arn };
      }
      default:
        throw new KmsException('UnknownOperationException', '');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const targetHeader = req.headers['x-amz-target'];
    const full = typeof targetHeader === 'string' ? targetHeader : '';
    this.requests.push({
      target: full,
      signed: /^AWS4-HMAC-SHA256 Credential=/.test(req.headers.authorization ?? ''),
      contentType: req.headers['content-type'],
    });
    const raw = await readBody(req, MAX_BODY);
    if (raw === undefined) return;
    if (this.stalled) return; // never answer; the client's timeout must fire
    const send = (status: number, payload: unknown, errorType?: string) =>
      sendJson(res, status, payload, { 'x-amzn-requestid': randomUUID(), ...(errorType !== undefined ? { 'x-amzn-errortype': errorType } : {}) }, 'application/x-amz-json-1.1');
    try {
      if (req.method !== 'POST') throw new KmsException('UnknownOperationException', '', 404);
      if (!full.startsWith('TrentService.')) throw new KmsException('UnknownOperationException', '');
      let body: unknown;
      try {
        body = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
      } catch {
        throw new KmsException('SerializationException', 'Start of structure or map found where not expected.');
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KmsException('SerializationException', 'expected a JSON object');
      send(200, this.op(full.slice('TrentService.'.length), body as Record<string, unknown>));
    } catch (e) {
      if (e instanceof KmsException) send(e.httpStatus, { __type: e.type, message: e.message }, e.type);
      else send(500, { __type: 'KMSInternalException', message: (e as Error).message }, 'KMSInternalException');
    }
  }
}
