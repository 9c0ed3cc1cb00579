// A local Google Cloud KMS endpoint for the gcp-kms L1 provider's tests (no Google service can
// be reached from here, and no emulator of Cloud KMS exists). The provider drives the real
// @google-cloud/kms SDK over its REST transport against it, so the SDK's request building
// (path templates, proto3 JSON, `$alt=json;enum-encoding=int`), its authentication, retries
// and error mapping all run for real. It follows Cloud KMS's documented REST API, v1:
//   - resources and methods ("REST Resource: projects.locations.keyRings.cryptoKeys" and
//     "….cryptoKeyVersions"): keyRings.create (?keyRingId), cryptoKeys.create (?cryptoKeyId,
//     ?skipInitialVersionCreation; an ENCRYPT_DECRYPT key gets version 1 as primary),
//     cryptoKeys.get (with `primary`), cryptoKeys.encrypt (a CryptoKey → its primary, or a
//     CryptoKeyVersion), cryptoKeys.decrypt (a CryptoKey; the version is inside the
//     ciphertext), cryptoKeys.updatePrimaryVersion, cryptoKeyVersions.create / get / patch
//     (?updateMask=state: ENABLED ⇄ DISABLED) / destroy (→ DESTROY_SCHEDULED, destroyTime =
//     now + the key's destroyScheduledDuration, default 30 days) / restore (→ DISABLED);
//   - proto3 JSON: bytes in base64, int64 (the Int64Value checksums) as strings, Timestamps in
//     RFC 3339, Durations as "<n>s", enums by name, or by number when the request asks
//     `$alt=json;enum-encoding=int` as the SDK's REST transport does — numbers taken from the
//     SDK's own protos, not retyped;
//   - "Verifying end-to-end data integrity": plaintextCrc32c / additionalAuthenticatedDataCrc32c
//     / ciphertextCrc32c are checked when sent (INVALID_ARGUMENT on mismatch), answered with
//     verifiedPlaintextCrc32c / verifiedAdditionalAuthenticatedDataCrc32c, ciphertextCrc32c,
//     plaintextCrc32c;
//   - errors ("API design guide, Errors"): HTTP status + {"error": {"code", "message",
//     "status"}}: INVALID_ARGUMENT / FAILED_PRECONDITION 400 (a version not ENABLED: "…is not
//     enabled, current state is: DISABLED."), UNAUTHENTICATED 401, PERMISSION_DENIED 403,
//     NOT_FOUND 404, ALREADY_EXISTS 409, UNAVAILABLE 503;
//   - authentication: "Service account authorization without OAuth" — the SDK, given a
//     service-account key, sends a self-signed RS256 JWT as the Bearer token. The endpoint
//     checks it for real: the signature against the public key of a service account
//     registered here (by `kid`), iss = sub = the account's email, iat/exp, and a
//     cloud-platform or cloudkms scope (or the service's audience).
// What it does NOT do or check: OAuth access tokens from a token endpoint (user, external
// account and metadata-server credentials: only self-signed JWTs are accepted), IAM policies
// beyond one deny switch per service account (denyPermission), asymmetric/MAC/raw keys
// (their purposes exist as metadata only), HSM/EXTERNAL protection levels, key import,
// Autokey, pagination and list methods, real Cloud KMS ciphertext layout (ours: key uid |
// version | AES-256-GCM iv, tag, ciphertext — opaque to the client, as Google's is), the
// scheduled destruction completing by itself (completeDestruction() does it).
import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { protos } from '@google-cloud/kms';
import { crc32c } from '../../src/crypto/crc32c.ts';
import { readBody, TestEndpoint } from './http-endpoint.ts';

const kmsv1 = protos.google.cloud.kms.v1;
const VersionState = kmsv1.CryptoKeyVersion.CryptoKeyVersionState;
const Purpose = kmsv1.CryptoKey.CryptoKeyPurpose;
const Algorithm = kmsv1.CryptoKeyVersion.CryptoKeyVersionAlgorithm;
const ProtectionLevel = kmsv1.ProtectionLevel;
export type VersionStateName = keyof typeof VersionState;

/** google.rpc.Code name → HTTP status (API design guide, "Errors", "Handling errors"). */
const HTTP_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400, FAILED_PRECONDITION: 400, OUT_OF_RANGE: 400, UNAUTHENTICATED: 401, PERMISSION_DENIED: 403,
  NOT_FOUND: 404, ALREADY_EXISTS: 409, ABORTED: 409, RESOURCE_EXHAUSTED: 429, CANCELLED: 499, INTERNAL: 500,
  UNIMPLEMENTED: 501, UNAVAILABLE: 503, DEADLINE_EXCEEDED: 504,
};
const MAX_BODY = 1 << 20;
const MAX_DATA = 65536; // Cloud KMS: plaintext and AAD up to 64 KiB
const DEFAULT_DESTROY_SCHEDULED_SECONDS = 30 * 24 * 3600;
const ACCEPTED_SCOPES = ['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/cloudkms'];

const SEG = '([A-Za-z0-9_.:-]+)';
const LOCATION = `projects/${SEG}/locations/${SEG}`;
const RING = `${LOCATION}/keyRings/${SEG}`;
const KEY = `${RING}/cryptoKeys/${SEG}`;
const VERSION = `${KEY}/cryptoKeyVersions/${SEG}`;

/** An enum field of an answer: its name and its number in the SDK's protos. */
class EnumValue {
  constructor(readonly name: string, readonly number: number) {}
}

class RpcError extends Error {
  constructor(readonly status: string, message: string) {
    super(message);
  }
}

interface Version {
  id: number;
  state: VersionStateName;
  secret: Buffer;
  createTime: Date;
  destroyTime?: Date;
  destroyEventTime?: Date;
}

interface CryptoKey {
  name: string;
  uid: Buffer;
  purpose: keyof typeof Purpose;
  versions: Map<number, Version>;
  primary: number | undefined;
  nextVersion: number;
  createTime: Date;
  destroyScheduledSeconds: number;
}

export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  universe_domain: string;
}

export interface GcpRequestRecord {
  method: string;
  path: string;
  query: string;
  principal: string | undefined;
  body: Record<string, unknown> | undefined;
}

function b64(field: string, v: unknown, required = true): Buffer {
  if (v === undefined || v === null || v === '') {
    if (required) throw new RpcError('INVALID_ARGUMENT', `${field}: must be set`);
    return Buffer.alloc(0);
  }
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw new RpcError('INVALID_ARGUMENT', `Invalid value at '${field}' (TYPE_BYTES), Base64 decoding failed`);
  return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** An Int64Value in proto3 JSON: a string or a number. */
function int64(field: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new RpcError('INVALID_ARGUMENT', `Invalid value at '${field}' (TYPE_INT64), ${JSON.stringify(v)}`);
}

function checksum(field: string, dataField: string, data: Buffer, sent: unknown): boolean {
  const c = int64(field, sent);
  if (c === undefined) return false;
  if (c !== crc32c(data)) {
    throw new RpcError('INVALID_ARGUMENT', `The checksum in field ${field} did not match the data in field ${dataField}.`);
  }
  return true;
}

export class GcpKmsEndpoint extends TestEndpoint {
  readonly requests: GcpRequestRecord[] = [];
  private readonly keyRings = new Map<string, Date>();
  private readonly keys = new Map<string, CryptoKey>();
  private readonly accounts = new Map<string, { email: string; publicKey: KeyObject }>();
  private readonly denied = new Set<string>();
  private failures: { status: string; remaining: number } | undefined;
  /** Changes the next successful answer before it is sent (a network or proxy that corrupts it). */
  rewriteNextAnswer: ((answer: Record<string, unknown>) => void) | undefined;

  /** Listens on 127.0.0.1 (port 0 the first time, the same port again after stop()). */
  async start(): Promise<string> {
    await this.listen(createServer((req, res) => void this.handle(req, res)));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portOf()}`;
  }

  /** The next `count` requests fail with this google.rpc.Code name (e.g. UNAVAILABLE, a transient 503). */
  failNext(count: number, status: string): void {
    this.failures = { status, remaining: count };
  }

  /** Registers a new service account and returns its key file content (what IAM's "create key" downloads). */
  addServiceAccount(name = 'openkcm-l1', project = 'openkcm-test'): ServiceAccountKey {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = randomBytes(20).toString('hex');
    const email = `${name}@${project}.iam.gserviceaccount.com`;
    this.accounts.set(kid, { email, publicKey });
    return {
      type: 'service_account',
      project_id: project,
      private_key_id: kid,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: String(100000000000000000000n + BigInt(this.accounts.size)),
      auth_uri: `${this.url}/o/oauth2/auth`,
      token_uri: `${this.url}/token`,
      universe_domain: 'googleapis.com',
    };
  }

  /** IAM, as far as modelled: the account's cloudkms permissions withdrawn (true) or given back. */
  denyPermission(email: string, on: boolean): void {
    if (on) this.denied.add(email);
    else this.denied.delete(email);
  }

  /** The scheduled destruction happened (Google does it when destroyTime passes). */
  completeDestruction(versionName: string): void {
    const v = this.version(versionName);
    if (v.state !== 'DESTROY_SCHEDULED') throw new Error(`${versionName} is ${v.state}, not DESTROY_SCHEDULED`);
    v.state = 'DESTROYED';
    v.secret.fill(0);
    v.destroyEventTime = new Date();
  }

  /** Sets a state no public method reaches here (PENDING_GENERATION, IMPORT_FAILED, …). */
  forceState(versionName: string, state: VersionStateName): void {
    this.version(versionName).state = state;
  }

  versionState(versionName: string): VersionStateName {
    return this.version(versionName).state;
  }

  private key(name: string): CryptoKey {
    const k = this.keys.get(name);
    if (k === undefined) throw new RpcError('NOT_FOUND', `CryptoKey ${name} not found.`);
    return k;
  }

  private version(name: string): Version {
    const m = new RegExp(`^(${KEY})/cryptoKeyVersions/${SEG}$`).exec(name);
    const v = m ? this.keys.get(m[1]!)?.versions.get(Number(m[6])) : undefined;
    if (v === undefined) throw new RpcError('NOT_FOUND', `CryptoKeyVersion ${name} not found.`);
    return v;
  }

  /** Verifies the self-signed JWT of a registered service account; returns its email. */
  private authenticate(req: IncomingMessage): string {
    const unauth = (why: string) => new RpcError('UNAUTHENTICATED', `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. (${why})`);
    const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
    if (!m) throw unauth('no Bearer JWT');
    let header: { alg?: string; kid?: string };
    let claims: { iss?: string; sub?: string; scope?: string; aud?: string; iat?: number; exp?: number };
    try {
      header = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8'));
    } catch {
      throw unauth('the JWT is not JSON');
    }
    const account = header.kid !== undefined ? this.accounts.get(header.kid) : undefined;
    if (header.alg !== 'RS256' || account === undefined) throw unauth('unknown key id or algorithm');
    if (!verify('sha256', Buffer.from(`${m[1]}.${m[2]}`), account.publicKey, Buffer.from(m[3]!, 'base64url'))) throw unauth('bad signature');
    if (claims.iss !== account.email || claims.sub !== account.email) throw unauth('iss/sub is not the key\'s service account');
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || claims.exp < now || claims.iat > now + 300 || claims.exp - claims.iat > 3600) throw unauth('expired or not yet valid');
    const scoped = typeof claims.scope === 'string' && claims.scope.split(' ').some((s) => ACCEPTED_SCOPES.includes(s));
    const audienced = claims.aud === 'https://cloudkms.googleapis.com/';
    if (!scoped && !audienced) throw unauth('no cloudkms scope or audience');
    return account.email;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req, MAX_BODY);
    if (raw === undefined) return;
    if (this.stalled) return; // never answered
    const url = new URL(req.url ?? '/', 'http://localhost');
    const intEnums = /enum-encoding=int/.test(url.searchParams.get('$alt') ?? '');
    const record: GcpRequestRecord = { method: req.method ?? '', path: decodeURIComponent(url.pathname), query: url.search, principal: undefined, body: undefined };
    this.requests.push(record);
    try {
      const text = raw.toString('utf8');
      let body: Record<string, unknown> = {};
      if (text.trim() !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new RpcError('INVALID_ARGUMENT', 'Invalid JSON payload received.');
        }
        // The SDK sends "" for a body message with no field set (keyRings.create with {}).
        if (parsed === '') parsed = {};
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RpcError('INVALID_ARGUMENT', 'Invalid JSON payload received. Expected an object.');
        body = parsed as Record<string, unknown>;
      }
      record.body = body;
      if (this.failures !== undefined && this.failures.remaining > 0) {
        this.failures.remaining--;
        throw new RpcError(this.failures.status, `injected ${this.failures.status}`);
      }
      record.principal = this.authenticate(req);
      if (this.denied.has(record.principal)) {
        throw new RpcError('PERMISSION_DENIED', `Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '${record.path.replace(/^\/v1\//, '').replace(/:\w+$/, '')}' (or it may not exist).`);
      }
      const out = this.route(req.method ?? 'GET', record.path, url.searchParams, body);
      const rewrite = this.rewriteNextAnswer;
      this.rewriteNextAnswer = undefined;
      rewrite?.(out as Record<string, unknown>);
      // An enum goes out by name, or by number when the request asked for enum-encoding=int.
      const payload = JSON.stringify(out, (_k, v: unknown) => (v instanceof EnumValue ? (intEnums ? v.number : v.name) : v));
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' }).end(payload);
    } catch (e) {
      const status = e instanceof RpcError ? e.status : 'INTERNAL';
      const message = e instanceof RpcError ? e.message : 'Internal error encountered.';
      const http = HTTP_STATUS[status] ?? 500;
      res.writeHead(http, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify({ error: { code: http, message, status } }));
    }
  }

  private route(method: string, path: string, q: URLSearchParams, body: Record<string, unknown>): unknown {
    const is = (m: string, re: string) => (method === m ? new RegExp(`^/v1/${re}$`).exec(path) : null);
    let m: RegExpExecArray | null;
    if ((m = is('POST', `(${LOCATION})/keyRings`))) return this.createKeyRing(m[1]!, q);
    if ((m = is('GET', `(${RING})`))) {
      const t = this.keyRings.get(m[1]!);
      if (t === undefined) throw new RpcError('NOT_FOUND', `KeyRing ${m[1]} not found.`);
      return { name: m[1], createTime: t.toISOString() };
    }
    if ((m = is('POST', `(${RING})/cryptoKeys`))) return this.createCryptoKey(m[1]!, q, body);
    if ((m = is('GET', `(${KEY})`))) return this.cryptoKeyJson(this.key(m[1]!));
    if ((m = is('POST', `(${KEY})(/cryptoKeyVersions/${SEG})?:encrypt`))) return this.encrypt(m[1]!, m[7], body);
    if ((m = is('POST', `(${KEY}):decrypt`))) return this.decrypt(m[1]!, body);
    if ((m = is('POST', `(${KEY}):updatePrimaryVersion`))) return this.updatePrimary(m[1]!, body);
    if ((m = is('POST', `(${KEY})/cryptoKeyVersions`))) return this.createVersion(this.key(m[1]!));
    if ((m = is('GET', `(${VERSION})`))) return this.versionJson(this.keyOf(m[1]!), this.version(m[1]!));
    if ((m = is('PATCH', `(${VERSION})`))) return this.patchVersion(m[1]!, q, body);
    if ((m = is('POST', `(${VERSION}):destroy`))) return this.destroy(m[1]!);
    if ((m = is('POST', `(${VERSION}):restore`))) return this.restore(m[1]!);
    throw new RpcError('NOT_FOUND', `The requested URL ${method} ${path} was not found on this server.`);
  }

  private keyOf(versionName: string): CryptoKey {
    return this.key(versionName.replace(/\/cryptoKeyVersions\/[^/]+$/, ''));
  }

  private createKeyRing(parent: string, q: URLSearchParams): unknown {
    const id = q.get('keyRingId') ?? '';
    if (!/^[A-Za-z0-9_-]{1,63}$/.test(id)) throw new RpcError('INVALID_ARGUMENT', 'keyRingId: must match [a-zA-Z0-9_-]{1,63}');
    const name = `${parent}/keyRings/${id}`;
    if (this.keyRings.has(name)) throw new RpcError('ALREADY_EXISTS', `KeyRing ${name} already exists.`);
    const t = new Date();
    this.keyRings.set(name, t);
    return { name, createTime: t.toISOString() };
  }

  private createCryptoKey(ring: string, q: URLSearchParams, body: Record<string, unknown>): unknown {
    if (!this.keyRings.has(ring)) throw new RpcError('NOT_FOUND', `KeyRing ${ring} not found.`);
    const id = q.get('cryptoKeyId') ?? '';
    if (!/^[A-Za-z0-9_-]{1,63}$/.test(id)) throw new RpcError('INVALID_ARGUMENT', 'cryptoKeyId: must match [a-zA-Z0-9_-]{1,63}');
    const name = `${ring}/cryptoKeys/${id}`;
    if (this.keys.has(name)) throw new RpcError('ALREADY_EXISTS', `CryptoKey ${name} already exists.`);
    const p = body.purpose;
    const purpose = (typeof p === 'number' ? Purpose[p] : p) as keyof typeof Purpose | undefined;
    if (purpose === undefined || !(purpose in Purpose) || purpose === 'CRYPTO_KEY_PURPOSE_UNSPECIFIED') throw new RpcError('INVALID_ARGUMENT', 'crypto_key.purpose: must be specified');
    const dur = typeof body.destroyScheduledDuration === 'string' ? /^(\d+)s$/.exec(body.destroyScheduledDuration)?.[1] : undefined;
    const k: CryptoKey = {
      name, uid: randomBytes(16), purpose, versions: new Map(), primary: undefined, nextVersion: 1, createTime: new Date(),
      destroyScheduledSeconds: dur !== undefined ? Number(dur) : DEFAULT_DESTROY_SCHEDULED_SECONDS,
    };
    this.keys.set(name, k);
    if (q.get('skipInitialVersionCreation') !== 'true') {
      this.addVersion(k);
      if (purpose === 'ENCRYPT_DECRYPT') k.primary = 1;
    }
    return this.cryptoKeyJson(k);
  }

  private addVersion(k: CryptoKey): Version {
    const v: Version = { id: k.nextVersion++, state: 'ENABLED', secret: randomBytes(32), createTime: new Date() };
    k.versions.set(v.id, v);
    return v;
  }

  private createVersion(k: CryptoKey): unknown {
    return this.versionJson(k, this.addVersion(k));
  }

  private enumOut<E extends Record<string, string | number>>(e: E, name: string): EnumValue {
    return new EnumValue(name, e[name] as number);
  }

  private versionJson(k: CryptoKey, v: Version): Record<string, unknown> {
    return {
      name: `${k.name}/cryptoKeyVersions/${v.id}`,
      state: this.enumOut(VersionState, v.state),
      protectionLevel: this.enumOut(ProtectionLevel, 'SOFTWARE'),
      algorithm: this.enumOut(Algorithm, k.purpose === 'ENCRYPT_DECRYPT' ? 'GOOGLE_SYMMETRIC_ENCRYPTION' : 'CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED'),
      createTime: v.createTime.toISOString(),
      generateTime: v.createTime.toISOString(),
      ...(v.destroyTime !== undefined ? { destroyTime: v.destroyTime.toISOString() } : {}),
      ...(v.destroyEventTime !== undefined ? { destroyEventTime: v.destroyEventTime.toISOString() } : {}),
    };
  }

  private cryptoKeyJson(k: CryptoKey): Record<string, unknown> {
    const primary = k.primary !== undefined ? k.versions.get(k.primary) : undefined;
    return {
      name: k.name,
      ...(primary !== undefined ? { primary: this.versionJson(k, primary) } : {}),
      purpose: this.enumOut(Purpose, k.purpose),
      createTime: k.createTime.toISOString(),
      versionTemplate: { protectionLevel: this.enumOut(ProtectionLevel, 'SOFTWARE'), algorithm: this.enumOut(Algorithm, 'GOOGLE_SYMMETRIC_ENCRYPTION') },
      destroyScheduledDuration: `${k.destroyScheduledSeconds}s`,
    };
  }

  private notEnabled(k: CryptoKey, v: Version): RpcError {
    return new RpcError('FAILED_PRECONDITION', `The request cannot be fulfilled. Resolve the following issues: CryptoKeyVersion ${k.name}/cryptoKeyVersions/${v.id} is not enabled, current state is: ${v.state}.`);
  }

  private encrypt(keyName: string, versionId: string | undefined, body: Record<string, unknown>): unknown {
    const k = this.key(keyName);
    if (k.purpose !== 'ENCRYPT_DECRYPT') throw new RpcError('INVALID_ARGUMENT', `${k.name} is not a symmetric key (purpose ${k.purpose}); Encrypt needs purpose ENCRYPT_DECRYPT.`);
    const v = versionId !== undefined ? k.versions.get(Number(versionId)) : k.primary !== undefined ? k.versions.get(k.primary) : undefined;
    if (v === undefined) {
      throw versionId !== undefined ? new RpcError('NOT_FOUND', `CryptoKeyVersion ${keyName}/cryptoKeyVersions/${versionId} not found.`) : new RpcError('FAILED_PRECONDITION', `The request cannot be fulfilled. Resolve the following issues: CryptoKey ${k.name} has no primary version.`);
    }
    if (v.state !== 'ENABLED') throw this.notEnabled(k, v);
    const pt = b64('plaintext', body.plaintext);
    const aad = b64('additional_authenticated_data', body.additionalAuthenticatedData, false);
    if (pt.length > MAX_DATA) throw new RpcError('INVALID_ARGUMENT', `The plaintext is ${pt.length} bytes; the maximum is ${MAX_DATA}.`);
    if (aad.length > MAX_DATA) throw new RpcError('INVALID_ARGUMENT', `The additional authenticated data is ${aad.length} bytes; the maximum is ${MAX_DATA}.`);
    const verifiedPt = checksum('plaintext_crc32c', 'plaintext', pt, body.plaintextCrc32c);
    const verifiedAad = checksum('additional_authenticated_data_crc32c', 'additional_authenticated_data', aad, body.additionalAuthenticatedDataCrc32c);
    const header = Buffer.alloc(20);
    k.uid.copy(header, 0);
    header.writeUInt32BE(v.id, 16);
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', v.secret, iv);
    c.setAAD(Buffer.concat([header, aad]));
    const ct = Buffer.concat([header, iv, c.update(pt), c.final(), c.getAuthTag()]);
    return {
      name: `${k.name}/cryptoKeyVersions/${v.id}`,
      ciphertext: ct.toString('base64'),
      ciphertextCrc32c: String(crc32c(ct)),
      verifiedPlaintextCrc32c: verifiedPt,
      verifiedAdditionalAuthenticatedDataCrc32c: verifiedAad,
      protectionLevel: this.enumOut(ProtectionLevel, 'SOFTWARE'),
    };
  }

  private decrypt(keyName: string, body: Record<string, unknown>): unknown {
    const k = this.key(keyName);
    if (k.purpose !== 'ENCRYPT_DECRYPT') throw new RpcError('INVALID_ARGUMENT', `${k.name} is not a symmetric key (purpose ${k.purpose}); Decrypt needs purpose ENCRYPT_DECRYPT.`);
    const ct = b64('ciphertext', body.ciphertext);
    const aad = b64('additional_authenticated_data', body.additionalAuthenticatedData, false);
    checksum('ciphertext_crc32c', 'ciphertext', ct, body.ciphertextCrc32c);
    checksum('additional_authenticated_data_crc32c', 'additional_authenticated_data', aad, body.additionalAuthenticatedDataCrc32c);
    const wrongKey = new RpcError('INVALID_ARGUMENT', "Decryption failed: verify that 'name' refers to the correct CryptoKey.");
    if (ct.length < 20 + 12 + 16 || !ct.subarray(0, 16).equals(k.uid)) throw wrongKey;
    const v = k.versions.get(ct.readUInt32BE(16));
    if (v === undefined) throw wrongKey;
    if (v.state !== 'ENABLED') throw this.notEnabled(k, v);
    const d = createDecipheriv('aes-256-gcm', v.secret, ct.subarray(20, 32));
    d.setAAD(Buffer.concat([ct.subarray(0, 20), aad]));
    d.setAuthTag(ct.subarray(ct.length - 16));
    let pt: Buffer;
    try {
      pt = Buffer.concat([d.update(ct.subarray(32, ct.length - 16)), d.final()]);
    } catch {
      throw new RpcError('INVALID_ARGUMENT', 'Decryption failed: the ciphertext is invalid.');
    }
    return {
      plaintext: pt.toString('base64'),
      plaintextCrc32c: String(crc32c(pt)),
      usedPrimary: k.primary === v.id,
      protectionLevel: this.enumOut(ProtectionLevel, 'SOFTWARE'),
    };
  }

  private updatePrimary(keyName: string, body: Record<string, unknown>): unknown {
    const k = this.key(keyName);
    const id = typeof body.cryptoKeyVersionId === 'string' ? Number(body.cryptoKeyVersionId) : NaN;
    const v = k.versions.get(id);
    if (v === undefined) throw new RpcError('NOT_FOUND', `CryptoKeyVersion ${keyName}/cryptoKeyVersions/${String(body.cryptoKeyVersionId)} not found.`);
    if (v.state !== 'ENABLED') throw this.notEnabled(k, v);
    k.primary = id;
    return this.cryptoKeyJson(k);
  }

  private patchVersion(name: string, q: URLSearchParams, body: Record<string, unknown>): unknown {
    const k = this.keyOf(name);
    const v = this.version(name);
    const mask = (q.get('updateMask') ?? '').split(',').filter(Boolean);
    if (mask.length !== 1 || mask[0] !== 'state') throw new RpcError('INVALID_ARGUMENT', 'update_mask: only "state" can be updated');
    const s = typeof body.state === 'number' ? VersionState[body.state] : body.state;
    if (s !== 'ENABLED' && s !== 'DISABLED') throw new RpcError('INVALID_ARGUMENT', `crypto_key_version.state: may only be set to ENABLED or DISABLED, not ${String(s)}`);
    if (v.state !== 'ENABLED' && v.state !== 'DISABLED') throw new RpcError('FAILED_PRECONDITION', `CryptoKeyVersion ${name} is in state ${v.state}; only ENABLED and DISABLED versions can change state.`);
    v.state = s;
    return this.versionJson(k, v);
  }

  private destroy(name: string): unknown {
    const k = this.keyOf(name);
    const v = this.version(name);
    if (v.state !== 'ENABLED' && v.state !== 'DISABLED') throw new RpcError('FAILED_PRECONDITION', `CryptoKeyVersion ${name} is in state ${v.state}; only ENABLED or DISABLED versions can be destroyed.`);
    v.state = 'DESTROY_SCHEDULED';
    v.destroyTime = new Date(Date.now() + k.destroyScheduledSeconds * 1000);
    return this.versionJson(k, v);
  }

  private restore(name: string): unknown {
    const k = this.keyOf(name);
    const v = this.version(name);
    if (v.state !== 'DESTROY_SCHEDULED') throw new RpcError('FAILED_PRECONDITION', `CryptoKeyVersion ${name} is in state ${v.state}; only DESTROY_SCHEDULED versions can be restored.`);
    v.state = 'DISABLED';
    delete v.destroyTime;
    return this.versionJson(k, v);
  }
}
