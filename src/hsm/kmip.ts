// The kmip L1 provider (issue 15): the customer's root key is a symmetric key held by
// ANOTHER KMIP server (an HSM appliance or KMS that speaks KMIP: Thales CipherTrust,
// Entrust KeyControl, Fortanix, PyKMIP, a second OpenKCM). We talk to it over mutual TLS
// with the project's own KMIP client (src/client) and never see the key.
//
// Wrap = KMIP Encrypt (1.4 s.4.29) with AES-GCM on that key; the hierarchy context is sent
// as Authenticated Encryption Additional Data (1.4 s.2.1.5, Cryptographic Parameters /
// Encrypt request payload), so Decrypt under another context fails the tag check on the
// server. The server chooses the IV (we send none; s.4.29: "the server SHALL generate" it
// when the parameters ask for a random IV and none is given) and returns it with the tag.
// Protocol version 1.4: the first one defining AAD and the tag in Encrypt/Decrypt, and the
// newest PyKMIP 0.10's server parses them in (its payload readers gate both on >= 1.4).
// PyKMIP 0.10's server does implement GCM with AAD (kmip/services/server/crypto/engine.py:
// cryptography's GCM mode, the AAD fed to authenticate_additional_data, the tag truncated
// to Tag Length), so no fallback binding (a context digest inside the record) is needed;
// tests against it prove the binding by unwrapping under another context.
//
// Blob format (all lengths are one byte, the server's choice of IV length is kept):
//   0x4b | ivLen | iv | tagLen | tag | ciphertext
//
// Status: Get Attributes State (1.4 s.4.12, s.3.22): Active → active; Pre-Active,
// Deactivated, Compromised → disabled; Destroyed, Destroyed Compromised, Item Not Found →
// revoked; Permission Denied (our identity may not use the key) → disabled; no connection,
// TLS failure, no answer by the deadline → unreachable.
// Deactivated keys may still decrypt under the KMIP state model (s.3.22: "process" use is
// allowed after deactivation), so unwrap checks the State itself before Decrypt: a customer
// who revokes the key expects the tenant to lock out, whatever the server's policy.
//
// Configuration by reference only: host, port, key Unique Identifier or Name, and paths of
// the CA, client certificate and client key files (read at each connection, so renewed
// certificates are picked up without restart).
import { readFileSync } from 'node:fs';
import { KmipClient, KmipResponseError } from '../client/index.ts';
import { byteString, children, enumeration, integer, optBytes, optEnum, optText, structure, textString, type Struct } from '../kmip/items.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { BlockCipherMode, CryptographicAlgorithm, NameType, Operation, ResultReason, State } from '../ttlv/generated/enumerations.ts';
import { L1Error } from './errors.ts';
import type { L1Description, L1Provider, L1Status } from './types.ts';

export interface KmipL1Options {
  host: string;
  port?: number;
  /** The key on the other server: its Unique Identifier, or its Name (exactly one). */
  keyUid?: string;
  keyName?: string;
  /** PEM file paths: the CA that issued the server certificate, our client certificate and key. */
  caFile: string;
  certFile: string;
  clientKeyFile: string;
  /** Name checked against the server certificate (default: host). */
  servername?: string;
  /** Deadline of each call, connection and TLS handshake included (default 5000 ms). */
  timeoutMs?: number;
}

export const KMIP_L1_BLOB_V1 = 0x4b;
export const DEFAULT_KMIP_L1_TIMEOUT_MS = 5000;
export const DEFAULT_KMIP_PORT = 5696;
/** GCM tag length asked of the server, in bytes (full-length tag; NIST SP 800-38D §5.2.1.2). */
const GCM_TAG_LENGTH = 16;
/**
 * Largest plaintext we wrap. L1 wraps L2 keys (32 bytes); the bound stops a caller bug from
 * sending megabytes to the customer's HSM, and keeps blob lengths in one byte fields.
 */
const MAX_WRAP_PLAINTEXT = 4096;
/**
 * The AAD is a domain prefix plus the context, so that the empty context still binds a
 * non-empty, OpenKCM-specific AAD (and blobs made by another application under the same
 * key with no AAD do not unwrap as ours).
 */
const AAD_PREFIX = 'openkcm-l1-context:';
const VERSION = { major: 1, minor: 4 } as const;

const stateName = (v: number | undefined): string =>
  Object.entries(State).find(([, n]) => n === v)?.[0] ?? (v === undefined ? 'none' : `0x${v.toString(16)}`);
const reasonName = (v: number | undefined): string =>
  Object.entries(ResultReason).find(([, n]) => n === v)?.[0] ?? (v === undefined ? 'no reason' : `0x${v.toString(16)}`);

export function aadFor(context: string): Buffer {
  return Buffer.from(AAD_PREFIX + context, 'utf8');
}

function validateOptions(o: KmipL1Options): void {
  const raw = o as unknown as Record<string, unknown>;
  for (const f of ['password', 'key', 'cert', 'ca', 'clientKey']) {
    if (f in raw) throw new L1Error(`kmip.${f}: certificate, key and password values are not accepted in configuration; name files (caFile, certFile, clientKeyFile)`);
  }
  if (typeof o.host !== 'string' || o.host.trim() === '') throw new L1Error('kmip.host: the KMIP server host name or address is required');
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)) throw new L1Error('kmip.port: must be a TCP port number from 1 to 65535');
  if ((o.keyUid === undefined) === (o.keyName === undefined)) throw new L1Error('kmip.keyUid/keyName: give exactly one of them (the key on the other server)');
  for (const f of ['keyUid', 'keyName', 'servername'] as const) {
    if (o[f] !== undefined && (typeof o[f] !== 'string' || o[f] === '')) throw new L1Error(`kmip.${f}: must be a non-empty string`);
  }
  for (const f of ['caFile', 'certFile', 'clientKeyFile'] as const) {
    if (typeof o[f] !== 'string' || o[f] === '') throw new L1Error(`kmip.${f}: a PEM file path is required`);
    try {
      readFileSync(o[f]);
    } catch (e) {
      throw new L1Error(`kmip.${f}: cannot read ${o[f]} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 600_000)) {
    throw new L1Error('kmip.timeoutMs: must be an integer number of milliseconds from 1 to 600000');
  }
}

/** Raised inside a call when the key is not usable; carries the status for the caller. */
class KeyStateError extends L1Error {}

export class KmipL1Provider implements L1Provider {
  private closed = false;
  private conn: Promise<KmipClient> | undefined;
  private uid: string | undefined;
  private readonly port: number;
  private readonly timeoutMs: number;

  private constructor(private readonly opts: KmipL1Options) {
    this.port = opts.port ?? DEFAULT_KMIP_PORT;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_KMIP_L1_TIMEOUT_MS;
    this.uid = opts.keyUid;
  }

  /**
   * Checks the options and that the files are readable. Contacts nothing: an unreachable
   * server at start gives a provider whose status() says so, not a failed start.
   */
  static async open(opts: KmipL1Options): Promise<KmipL1Provider> {
    validateOptions(opts);
    return new KmipL1Provider({ ...opts });
  }

  private where(): string {
    return `${this.opts.host}:${this.port}`;
  }

  private keyLabel(): string {
    return this.opts.keyUid !== undefined ? this.opts.keyUid : `name ${JSON.stringify(this.opts.keyName)}`;
  }

  private connection(): Promise<KmipClient> {
    if (this.conn !== undefined) {
      const c = this.conn;
      return c.then((cl) => {
        if (cl.open) return cl;
        if (this.conn === c) this.conn = undefined;
        return this.connection();
      });
    }
    let ca: Buffer, cert: Buffer, key: Buffer;
    try {
      ca = readFileSync(this.opts.caFile);
      cert = readFileSync(this.opts.certFile);
      key = readFileSync(this.opts.clientKeyFile);
    } catch (e) {
      return Promise.reject(new L1Error(`kmip: cannot read the TLS files (${(e as Error).message})`, 'unreachable'));
    }
    const opts = { host: this.opts.host, port: this.port, ca, cert, key, version: VERSION, timeoutMs: this.timeoutMs, connectTimeoutMs: this.timeoutMs } as Parameters<typeof KmipClient.connect>[0];
    if (this.opts.servername !== undefined) opts.servername = this.opts.servername;
    const p = KmipClient.connect(opts);
    this.conn = p;
    p.catch(() => {
      if (this.conn === p) this.conn = undefined;
    });
    return p;
  }

  private dropConnection(): void {
    const c = this.conn;
    this.conn = undefined;
    c?.then((cl) => cl.close()).catch(() => undefined);
  }

  /** Runs `fn` under the per-call deadline; transport failures become unreachable. */
  private async call<T>(op: string, fn: (c: KmipClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new L1Error('kmip: provider is closed', 'unreachable');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new L1Error(`kmip: ${op} of ${this.keyLabel()} got no answer from ${this.where()} within ${this.timeoutMs} ms`, 'unreachable'));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([this.connection().then(fn), deadline]);
    } catch (e) {
      if (e instanceof L1Error) {
        // A connection that missed its deadline may still answer later, out of turn: drop it.
        if (e.status === 'unreachable') this.dropConnection();
        throw e;
      }
      if (e instanceof KmipResponseError) throw e;
      this.dropConnection();
      const err = e as NodeJS.ErrnoException;
      throw new L1Error(`kmip: ${op} of ${this.keyLabel()} at ${this.where()} failed (${err.code ?? err.message})`, 'unreachable');
    } finally {
      clearTimeout(timer);
    }
  }

  /** The key's Unique Identifier: configured, or found once by Locate on its Name (1.4 s.4.9). */
  private async keyUid(c: KmipClient): Promise<string> {
    if (this.uid !== undefined) return this.uid;
    const name = structure(Tag.Name, [textString(Tag.NameValue, this.opts.keyName!), enumeration(Tag.NameType, NameType.UninterpretedTextString)]);
    const payload = await c.request(Operation.Locate, [structure(Tag.Attribute, [textString(Tag.AttributeName, 'Name'), { ...name, tag: Tag.AttributeValue }])]);
    const uids = children(payload, Tag.UniqueIdentifier).map((i) => String(i.value));
    if (uids.length === 0) throw new KeyStateError(`kmip: no key named ${JSON.stringify(this.opts.keyName)} at ${this.where()}`, 'revoked');
    if (uids.length > 1) throw new L1Error(`kmip: ${uids.length} objects are named ${JSON.stringify(this.opts.keyName)} at ${this.where()}; configure keyUid instead`);
    this.uid = uids[0]!;
    return this.uid;
  }

  /** The key's State attribute, or a KeyStateError saying why there is none. */
  private async keyState(c: KmipClient): Promise<number> {
    let uid: string;
    try {
      uid = await this.keyUid(c);
    } catch (e) {
      if (e instanceof KmipResponseError) throw this.kmipFailure('Locate', e);
      throw e;
    }
    const item = await c.requestItem(Operation.GetAttributes, [textString(Tag.UniqueIdentifier, uid), textString(Tag.AttributeName, 'State')]);
    if (item.resultStatus !== 0) {
      if (item.resultReason === ResultReason.ItemNotFound) {
        // A key found by Name may have been replaced under the same Name: look it up again next time.
        if (this.opts.keyUid === undefined) this.uid = undefined;
        throw new KeyStateError(`kmip: key ${uid} does not exist at ${this.where()} (Item Not Found: destroyed or never created)`, 'revoked');
      }
      throw this.kmipFailure('Get Attributes', new KmipResponseError(item));
    }
    for (const a of children(item.payload!, Tag.Attribute)) {
      const s = a as Struct;
      if (optText(s, Tag.AttributeName) === 'State') {
        const v = optEnum(s, Tag.AttributeValue);
        if (v !== undefined) return v;
      }
    }
    throw new L1Error(`kmip: Get Attributes of ${uid} at ${this.where()} returned no State`, 'unreachable');
  }

  private stateStatus(state: number): L1Status {
    const uid = this.uid ?? this.keyLabel();
    switch (state) {
      case State.Active:
        return { state: 'active' };
      case State.PreActive:
      case State.Deactivated:
      case State.Compromised:
        return { state: 'disabled', detail: `kmip: key ${uid} at ${this.where()} is ${stateName(state)}` };
      case State.Destroyed:
      case State.DestroyedCompromised:
        return { state: 'revoked', detail: `kmip: key ${uid} at ${this.where()} is ${stateName(state)}` };
      default:
        return { state: 'unreachable', detail: `kmip: key ${uid} at ${this.where()} has unknown State ${stateName(state)}` };
    }
  }

  private kmipFailure(op: string, e: KmipResponseError): L1Error {
    const reason = reasonName(e.reason);
    const msg = e.item.resultMessage ? `: ${e.item.resultMessage}` : '';
    // Permission Denied: the server no longer lets our identity use the key (the customer
    // withdrew our access; PyKMIP also answers it for objects of another owner). Reversible
    // on the customer's side, like a disabled key.
    const status = e.reason === ResultReason.ItemNotFound ? 'revoked' : e.reason === ResultReason.PermissionDenied ? 'disabled' : undefined;
    return new L1Error(`kmip: ${op} with key ${this.uid ?? this.keyLabel()} at ${this.where()} failed (${reason}${msg})`, status);
  }

  /** After a refused Encrypt/Decrypt: the key's status explains it better than the reason. */
  private async explain(op: string, c: KmipClient, e: KmipResponseError): Promise<L1Error> {
    try {
      const st = this.stateStatus(await this.keyState(c));
      if (st.state !== 'active') return new L1Error(`${st.detail}; ${op} refused`, st.state);
    } catch (inner) {
      if (inner instanceof L1Error && inner.status !== undefined) return inner;
    }
    if (op === 'Decrypt' && e.reason !== ResultReason.ItemNotFound && e.reason !== ResultReason.PermissionDenied) {
      // The key is Active, so the tag check failed. Servers differ in the reason they give
      // (Cryptographic Failure per 1.4 s.11; PyKMIP 0.10 answers General Failure).
      return new L1Error(`kmip: unwrap failed (${reasonName(e.reason)}): the blob was altered, made under another key, or bound to another context`);
    }
    return this.kmipFailure(op, e);
  }

  private cryptoParams(): Struct {
    return structure(Tag.CryptographicParameters, [
      enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      integer(Tag.TagLength, GCM_TAG_LENGTH),
    ]);
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    if (plaintext.length === 0 || plaintext.length > MAX_WRAP_PLAINTEXT) {
      throw new L1Error(`kmip: wraps 1 to ${MAX_WRAP_PLAINTEXT} bytes, not ${plaintext.length}`);
    }
    return this.call('Encrypt', async (c) => {
      const uid = await this.keyUid(c).catch((e: unknown) => {
        throw e instanceof KmipResponseError ? this.kmipFailure('Locate', e) : e;
      });
      const item = await c.requestItem(Operation.Encrypt, [
        textString(Tag.UniqueIdentifier, uid),
        this.cryptoParams(),
        byteString(Tag.Data, plaintext),
        byteString(Tag.AuthenticatedEncryptionAdditionalData, aadFor(context)),
      ]);
      if (item.resultStatus !== 0) throw await this.explain('Encrypt', c, new KmipResponseError(item));
      const p = item.payload!;
      const ct = optBytes(p, Tag.Data);
      const iv = optBytes(p, Tag.IVCounterNonce);
      const tag = optBytes(p, Tag.AuthenticatedEncryptionTag);
      if (ct === undefined || iv === undefined || tag === undefined) {
        throw new L1Error(`kmip: Encrypt at ${this.where()} returned no ${ct === undefined ? 'Data' : iv === undefined ? 'IV/Counter/Nonce' : 'Authenticated Encryption Tag'}: the server does not do AES-GCM with a server-chosen IV`);
      }
      if (iv.length === 0 || iv.length > 255 || tag.length !== GCM_TAG_LENGTH) {
        throw new L1Error(`kmip: Encrypt at ${this.where()} returned a ${iv.length}-byte IV and a ${tag.length}-byte tag (expected a ${GCM_TAG_LENGTH}-byte tag)`);
      }
      return Buffer.concat([Buffer.of(KMIP_L1_BLOB_V1, iv.length), iv, Buffer.of(tag.length), tag, ct]);
    });
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < 3) throw new L1Error(`kmip: the blob is ${blob.length} bytes, too short to hold a KMIP GCM record`);
    if (blob[0] !== KMIP_L1_BLOB_V1) throw new L1Error(`kmip: the blob has unknown format byte 0x${blob[0]!.toString(16).padStart(2, '0')}`);
    const ivLen = blob[1]!;
    const tagAt = 2 + ivLen;
    if (ivLen === 0 || blob.length < tagAt + 1) throw new L1Error('kmip: the blob is truncated (IV)');
    const tagLen = blob[tagAt]!;
    if (tagLen !== GCM_TAG_LENGTH) throw new L1Error(`kmip: the blob has a ${tagLen}-byte tag, not ${GCM_TAG_LENGTH}`);
    const ctAt = tagAt + 1 + tagLen;
    if (blob.length <= ctAt) throw new L1Error('kmip: the blob is truncated (tag or ciphertext)');
    const iv = blob.subarray(2, tagAt);
    const tag = blob.subarray(tagAt + 1, ctAt);
    const ct = blob.subarray(ctAt);
    return this.call('Decrypt', async (c) => {
      // See the header: a Deactivated key may still decrypt on the server; we refuse.
      const st = this.stateStatus(await this.keyState(c));
      if (st.state !== 'active') throw new L1Error(`${st.detail}; Decrypt refused`, st.state);
      const item = await c.requestItem(Operation.Decrypt, [
        textString(Tag.UniqueIdentifier, this.uid!),
        this.cryptoParams(),
        byteString(Tag.Data, ct),
        byteString(Tag.IVCounterNonce, iv),
        byteString(Tag.AuthenticatedEncryptionAdditionalData, aadFor(context)),
        byteString(Tag.AuthenticatedEncryptionTag, tag),
      ]);
      if (item.resultStatus !== 0) throw await this.explain('Decrypt', c, new KmipResponseError(item));
      const pt = optBytes(item.payload!, Tag.Data);
      if (pt === undefined) throw new L1Error(`kmip: Decrypt at ${this.where()} returned no Data`);
      return pt;
    });
  }

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'kmip: provider is closed' };
    try {
      return this.stateStatus(await this.call('Get Attributes', (c) => this.keyState(c)));
    } catch (e) {
      const err = e instanceof L1Error ? e : new L1Error(String((e as Error).message ?? e));
      return { state: err.status ?? 'unreachable', detail: err.message };
    }
  }

  describe(): L1Description {
    return { provider: 'kmip', keyRef: `kmip://${this.where()}/${this.opts.keyUid ?? `name:${this.opts.keyName}`}`, developmentOnly: false };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    await c?.then((cl) => cl.close()).catch(() => undefined);
  }
}
