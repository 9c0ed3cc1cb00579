// The PKCS#11 L1 provider (DESIGN.md §2, issue 6): the customer's root key is an AES key on
// an HSM token; we only ask the token to encrypt and decrypt with it. pkcs11js is loaded
// with a dynamic import so that deployments without an HSM never load the native addon
// (DESIGN.md §6.9).
//
// Wrapping mechanisms and blob formats (the first byte of every blob names its format, so a
// blob stays readable after the mechanism choice changes):
//
//   0x21  AES-GCM    | iv (12) | ciphertext | tag (16)
//         CKM_AES_GCM with a random 96-bit IV per call (NIST SP 800-38D §8.2.2) and
//         AAD = format byte ‖ UTF-8(context). Chosen when the token offers CKM_AES_GCM for
//         encrypt/decrypt and the key allows CKA_ENCRYPT/CKA_DECRYPT.
//
//   0x22  AES-KWP    | C_WrapKey output
//         CKM_AES_KEY_WRAP_PAD (RFC 5649 / SP 800-38F §6.3) of an inner record
//           0x01 | nonce (16) | SHA-256(context) (32) | plaintext length (u32 BE) | plaintext
//         KWP has no associated data, so the context is bound by encrypting its digest with
//         the plaintext (context-record.ts says why that binds, and why a nonce). The plaintext travels to
//         the token as a short-lived session object (CKA_TOKEN false) that is destroyed right
//         after the call. Chosen when GCM is unavailable and the key allows CKA_WRAP/UNWRAP.
//         SoftHSM 2.6 returns the unwrapped value without removing the KWP padding, hence
//         the explicit length and the check that at most 7 zero bytes follow.
//
// Sessions: a small pool (C_OpenSession per concurrent call, up to maxSessions, reused).
// Read-only sessions suffice: we never change the token (session objects may be created in
// read-only sessions, PKCS#11 v2.40 §5.6). Login state is per application and token
// (PKCS#11 v2.40 §6.7.1), so the first session logs in and the others inherit it.
//
// Cryptoki keeps global state per process: a library is loaded and C_Initialize'd once,
// shared by every provider that names it, and C_Finalize'd when the last one closes.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type * as Pkcs11Types from 'pkcs11js';
import { openContextRecord, sealContextRecord } from './context-record.ts';
import { L1Error } from './software.ts';
import type { L1Description, L1Provider, L1Status } from './types.ts';

type Pkcs11Module = typeof Pkcs11Types;
type Handle = Buffer;
type FailState = Exclude<L1Status['state'], 'active'>;

export type Pkcs11Mechanism = 'auto' | 'aes-gcm' | 'aes-kwp';

export interface Pkcs11L1Options {
  /** Path of the PKCS#11 library; default: the SoftHSM2 library found under /usr/lib. */
  library?: string;
  /** Token label (slot ids change after C_InitToken, labels do not). */
  tokenLabel: string;
  /** Name of the environment variable holding the user PIN. Exactly one of pinEnv/pinFile. */
  pinEnv?: string;
  /** Path of a file holding the user PIN (one line; must not be world-accessible). */
  pinFile?: string;
  /** CKA_LABEL of the AES key. Exactly one of keyLabel/keyId. */
  keyLabel?: string;
  /** CKA_ID of the AES key, in hex. */
  keyId?: string;
  /** Default 'auto': AES-GCM when the token and key allow it, else AES key wrap with padding. */
  mechanism?: Pkcs11Mechanism;
  /** Upper bound of concurrently open sessions (default 4). */
  maxSessions?: number;
  /** Where pinEnv is looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const PKCS11_BLOB_GCM_V1 = 0x21;
export const PKCS11_BLOB_KWP_V1 = 0x22;
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const DEFAULT_MAX_SESSIONS = 4;
const MAX_PIN_FILE_BYTES = 256;
// Session states of PKCS#11 v2.40 §5.6 (pkcs11t.h); pkcs11js does not export the CKS_ values.
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

const KNOWN_SOFTHSM_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

/** Finds libsofthsm2.so: the Debian/Ubuntu locations first, then a shallow search of /usr/lib. */
export function findSoftHsmLibrary(root = '/usr/lib'): string | undefined {
  for (const p of KNOWN_SOFTHSM_PATHS) if (p.startsWith(root) && existsSync(p)) return p;
  const walk = (dir: string, depth: number): string | undefined => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) if (e.name === 'libsofthsm2.so' && !e.isDirectory()) return join(dir, e.name);
    if (depth === 0) return undefined;
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const hit = walk(join(dir, e.name), depth - 1);
      if (hit !== undefined) return hit;
    }
    return undefined;
  };
  return walk(root, 2);
}

// ---------------------------------------------------------------------------------------
// Loaded libraries, shared per process.

interface SharedLibrary {
  path: string;
  p11: Pkcs11Module;
  module: Pkcs11Types.PKCS11;
  refs: number;
  /** False when someone else in the process had already initialised the library. */
  ownsInit: boolean;
  /** Token serial → keyed digest of the PIN that logged it in (see verifyInheritedLogin). */
  logins: Map<string, Buffer>;
}

const libraries = new Map<string, SharedLibrary>();
/** Per-process key for PIN digests: they are compared, never stored beyond the process. */
const PIN_DIGEST_KEY = randomBytes(32);
let importPromise: Promise<Pkcs11Module> | undefined;

async function loadPkcs11js(): Promise<Pkcs11Module> {
  importPromise ??= import('pkcs11js').then((ns) => ((ns as { default?: unknown }).default ?? ns) as Pkcs11Module);
  try {
    return await importPromise;
  } catch (e) {
    importPromise = undefined;
    throw new L1Error(`pkcs11: the pkcs11js module cannot be loaded (${(e as Error).message}); run npm install`, 'unreachable');
  }
}

/** The CKR_ name of a PKCS#11 error: pkcs11js puts it in the message; the code is looked up otherwise. */
function ckrName(p11: Pkcs11Module, e: unknown): string | undefined {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /CKR_[A-Z0-9_]+/.exec(msg);
  if (m) return m[0];
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'number' && code !== 0) {
    for (const [k, v] of Object.entries(p11)) if (k.startsWith('CKR_') && v === code) return k;
  }
  return undefined;
}

/** What a CKR_ says about the key's availability (the status() a caller should assume). */
function statusForCkr(name: string | undefined): FailState | undefined {
  switch (name) {
    case 'CKR_OBJECT_HANDLE_INVALID':
    case 'CKR_KEY_HANDLE_INVALID':
      return 'revoked';
    case 'CKR_KEY_FUNCTION_NOT_PERMITTED':
    case 'CKR_KEY_TYPE_INCONSISTENT':
      return 'disabled';
    case 'CKR_DEVICE_REMOVED':
    case 'CKR_DEVICE_ERROR':
    case 'CKR_DEVICE_MEMORY':
    case 'CKR_TOKEN_NOT_PRESENT':
    case 'CKR_TOKEN_NOT_RECOGNIZED':
    case 'CKR_SLOT_ID_INVALID':
    case 'CKR_SESSION_HANDLE_INVALID':
    case 'CKR_SESSION_CLOSED':
    case 'CKR_SESSION_COUNT':
    case 'CKR_CRYPTOKI_NOT_INITIALIZED':
    case 'CKR_USER_NOT_LOGGED_IN':
    case 'CKR_PIN_INCORRECT':
    case 'CKR_PIN_LOCKED':
    case 'CKR_PIN_EXPIRED':
    case 'CKR_HOST_MEMORY':
      return 'unreachable';
    default:
      return undefined;
  }
}

/** Errors after which the session itself is unusable and must not go back to the pool. */
const SESSION_FATAL = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_OPERATION_ACTIVE',
]);

async function acquireLibrary(path: string): Promise<SharedLibrary> {
  const p11 = await loadPkcs11js();
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    throw new L1Error(`pkcs11: library ${path} cannot be found (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'unreachable');
  }
  // From here on everything is synchronous, so two opens cannot both initialise the library.
  const existing = libraries.get(real);
  if (existing) {
    existing.refs++;
    return existing;
  }
  const module = new p11.PKCS11();
  try {
    module.load(real);
  } catch (e) {
    throw new L1Error(`pkcs11: library ${real} cannot be loaded: ${(e as Error).message}`, 'unreachable');
  }
  let ownsInit = true;
  try {
    // CKF_OS_LOCKING_OK: the *Async calls run on libuv worker threads, so the library must
    // lock (PKCS#11 v2.40 §5.4, CK_C_INITIALIZE_ARGS).
    module.C_Initialize({ flags: p11.CKF_OS_LOCKING_OK });
  } catch (e) {
    const name = ckrName(p11, e);
    if (name === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      ownsInit = false;
    } else {
      try {
        module.close();
      } catch {
        // the library is being abandoned anyway
      }
      throw new L1Error(`pkcs11: C_Initialize of ${real} failed (${name ?? (e as Error).message})`, 'unreachable');
    }
  }
  const lib: SharedLibrary = { path: real, p11, module, refs: 1, ownsInit, logins: new Map() };
  libraries.set(real, lib);
  return lib;
}

function releaseLibrary(lib: SharedLibrary): void {
  lib.refs--;
  if (lib.refs > 0) return;
  libraries.delete(lib.path);
  try {
    if (lib.ownsInit) lib.module.C_Finalize();
  } catch {
    // finalising a library whose token vanished may fail; we drop it either way
  }
  try {
    lib.module.close();
  } catch {
    // same
  }
}

// ---------------------------------------------------------------------------------------
// PIN by reference.

type PinSource = { kind: 'env'; name: string; env: NodeJS.ProcessEnv } | { kind: 'file'; path: string };

function describePinSource(s: PinSource): string {
  return s.kind === 'env' ? `environment variable ${s.name}` : `file ${s.path}`;
}

/** Reads the PIN at the moment of login, so it is not kept in this object between logins. */
function readPin(s: PinSource): string {
  if (s.kind === 'env') {
    const v = s.env[s.name];
    if (v === undefined || v === '') throw new L1Error(`pkcs11: the PIN environment variable ${s.name} is not set`, 'unreachable');
    return v;
  }
  let fd: number;
  try {
    fd = openSync(s.path, 'r');
  } catch (e) {
    throw new L1Error(`pkcs11: PIN file ${s.path} cannot be opened (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'unreachable');
  }
  const buf = Buffer.alloc(MAX_PIN_FILE_BYTES + 1);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new L1Error(`pkcs11: PIN file ${s.path} is not a regular file`, 'unreachable');
    // A PIN that every user can read protects nothing (compare ssh's key file checks).
    if ((st.mode & 0o007) !== 0) {
      throw new L1Error(
        `pkcs11: PIN file ${s.path} is accessible to every user (mode 0${(st.mode & 0o777).toString(8)}); run: chmod 600 ${s.path}`,
        'unreachable',
      );
    }
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_PIN_FILE_BYTES) throw new L1Error(`pkcs11: PIN file ${s.path} is longer than ${MAX_PIN_FILE_BYTES} bytes`, 'unreachable');
    const pin = buf.subarray(0, n).toString('utf8').replace(/\r?\n$/, '');
    if (pin === '') throw new L1Error(`pkcs11: PIN file ${s.path} is empty`, 'unreachable');
    return pin;
  } finally {
    buf.fill(0);
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------

function percentEncode(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0')))
    .join('');
}

/** Option names that would carry a PIN value; refused so that no PIN sits in a config file. */
const PIN_VALUE_FIELDS = ['pin', 'userPin', 'soPin', 'password'];

function validateOptions(o: Pkcs11L1Options): void {
  for (const f of PIN_VALUE_FIELDS) {
    if (f in (o as unknown as Record<string, unknown>)) {
      throw new L1Error(`pkcs11.${f}: a PIN value is not accepted in configuration; name an environment variable (pinEnv) or a file (pinFile)`);
    }
  }
  if (typeof o.tokenLabel !== 'string' || o.tokenLabel === '') throw new L1Error('pkcs11.tokenLabel: a non-empty token label is required');
  if (Buffer.byteLength(o.tokenLabel, 'utf8') > 32) throw new L1Error('pkcs11.tokenLabel: a token label has at most 32 bytes (CK_TOKEN_INFO.label)');
  if ((o.pinEnv === undefined) === (o.pinFile === undefined)) throw new L1Error('pkcs11.pinEnv/pinFile: give exactly one of them');
  if (o.pinEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.pinEnv)) throw new L1Error('pkcs11.pinEnv: must be an environment variable name');
  if (o.pinFile !== undefined && (typeof o.pinFile !== 'string' || o.pinFile === '')) throw new L1Error('pkcs11.pinFile: must be a file path');
  if ((o.keyLabel === undefined) === (o.keyId === undefined)) throw new L1Error('pkcs11.keyLabel/keyId: give exactly one of them');
  if (o.keyLabel !== undefined && (typeof o.keyLabel !== 'string' || o.keyLabel === '')) throw new L1Error('pkcs11.keyLabel: must be a non-empty string');
  if (o.keyId !== undefined && (typeof o.keyId !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(o.keyId))) {
    throw new L1Error('pkcs11.keyId: must be the CKA_ID in hex (an even number of hex digits)');
  }
  if (o.mechanism !== undefined && !['auto', 'aes-gcm', 'aes-kwp'].includes(o.mechanism)) {
    throw new L1Error(`pkcs11.mechanism: must be auto, aes-gcm or aes-kwp, not ${String(o.mechanism)}`);
  }
  if (o.maxSessions !== undefined && (!Number.isInteger(o.maxSessions) || o.maxSessions < 1 || o.maxSessions > 64)) {
    throw new L1Error('pkcs11.maxSessions: must be an integer from 1 to 64');
  }
}

export class Pkcs11L1Provider implements L1Provider {
  private closed = false;
  private keyHandle: Handle | undefined;
  private readonly idle: Handle[] = [];
  private readonly waiters: Array<{ resolve: (h: Handle) => void; reject: (e: unknown) => void }> = [];
  private openSessions = 0;
  private readonly maxSessions: number;
  /** Set by close() while sessions are lent out: the last release() lets the library go. */
  private releaseLibraryWhenIdle = false;
  private chosen: 'aes-gcm' | 'aes-kwp' = 'aes-gcm';
  private peakSessions = 0;
  private sessionsOpened = 0;

  private constructor(
    private readonly lib: SharedLibrary,
    private readonly opts: Pkcs11L1Options,
    private readonly pin: PinSource,
    private slot: Handle,
    private readonly tokenSerial: string,
  ) {
    this.maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  /**
   * Loads the library, finds the token by label, logs in with the PIN from its reference,
   * finds the AES key and chooses the mechanism. Throws L1Error naming what is wrong (and
   * carrying the status it implies: a missing key is `revoked`, a missing token `unreachable`).
   */
  static async open(opts: Pkcs11L1Options): Promise<Pkcs11L1Provider> {
    validateOptions(opts);
    const libPath = opts.library ?? findSoftHsmLibrary();
    if (libPath === undefined) throw new L1Error('pkcs11.library: not given, and no libsofthsm2.so was found under /usr/lib', 'unreachable');
    const pin: PinSource =
      opts.pinEnv !== undefined ? { kind: 'env', name: opts.pinEnv, env: opts.env ?? process.env } : { kind: 'file', path: opts.pinFile! };
    readPin(pin); // fail at open, not at the first unseal, when the PIN reference is broken
    const lib = await acquireLibrary(libPath);
    let provider: Pkcs11L1Provider | undefined;
    try {
      const { slot, serial } = findSlot(lib, opts.tokenLabel);
      const created = new Pkcs11L1Provider(lib, opts, pin, slot, serial);
      provider = created;
      created.chosen = await created.withSession((s) => created.chooseMechanism(s));
      return created;
    } catch (e) {
      if (provider) await provider.close();
      else releaseLibrary(lib);
      throw e;
    }
  }

  /** Session pool figures, for tests and metrics: open now, idle now, most open at once, opened in total. */
  sessionStats(): { open: number; idle: number; peak: number; opened: number } {
    return { open: this.openSessions, idle: this.idle.length, peak: this.peakSessions, opened: this.sessionsOpened };
  }

  /** The mechanism new blobs are made with; unwrap follows each blob's own format byte. */
  get mechanism(): 'aes-gcm' | 'aes-kwp' {
    return this.chosen;
  }

  private get p11(): Pkcs11Module {
    return this.lib.p11;
  }
  private get m(): Pkcs11Types.PKCS11 {
    return this.lib.module;
  }

  private fail(call: string, e: unknown, what?: string): L1Error {
    if (e instanceof L1Error) return e;
    const name = ckrName(this.p11, e);
    const label = name ?? (e instanceof Error ? e.message : String(e));
    return new L1Error(`pkcs11: ${call} failed on token ${this.opts.tokenLabel} (${label})${what ? ': ' + what : ''}`, statusForCkr(name));
  }

  private keyDescription(): string {
    return this.opts.keyLabel !== undefined ? `AES key labelled ${JSON.stringify(this.opts.keyLabel)}` : `AES key with id ${this.opts.keyId!.toLowerCase()}`;
  }

  // --- sessions -----------------------------------------------------------------------

  private openSession(): Handle {
    // The slot is looked up again: after a token is re-inserted or re-initialised its slot
    // id may have changed, while its label has not.
    try {
      this.slot = findSlot(this.lib, this.opts.tokenLabel).slot;
    } catch (e) {
      if (!(e instanceof L1Error)) throw e;
      throw new L1Error(e.message, 'unreachable');
    }
    let s: Handle;
    try {
      s = this.m.C_OpenSession(this.slot, this.p11.CKF_SERIAL_SESSION);
    } catch (e) {
      throw this.fail('C_OpenSession', e);
    }
    try {
      this.login(s);
    } catch (e) {
      try {
        this.m.C_CloseSession(s);
      } catch {
        // the login error is the one to report
      }
      throw e;
    }
    this.openSessions++;
    this.sessionsOpened++;
    this.peakSessions = Math.max(this.peakSessions, this.openSessions);
    return s;
  }

  private login(s: Handle): void {
    const state = this.m.C_GetSessionInfo(s).state;
    if (state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS) {
      this.verifyInheritedLogin();
      return;
    }
    const pin = readPin(this.pin);
    const digest = createHmac('sha256', PIN_DIGEST_KEY).update(this.tokenSerial).update('\0').update(pin).digest();
    try {
      this.m.C_Login(s, this.p11.CKU_USER, pin);
    } catch (e) {
      const name = ckrName(this.p11, e);
      if (name === 'CKR_USER_ALREADY_LOGGED_IN') {
        this.verifyInheritedLogin();
        return;
      }
      if (name === 'CKR_PIN_INCORRECT' || name === 'CKR_PIN_LEN_RANGE' || name === 'CKR_PIN_LOCKED' || name === 'CKR_PIN_EXPIRED') {
        throw new L1Error(`pkcs11: token ${this.opts.tokenLabel} refused the PIN from ${describePinSource(this.pin)} (${name})`, 'unreachable');
      }
      throw this.fail('C_Login', e);
    }
    this.lib.logins.set(this.tokenSerial, digest);
  }

  /**
   * Login state is shared by every session of the process on a token, so a second provider
   * on the same token would be logged in whatever PIN it holds. It must hold the same PIN as
   * the provider that logged in, or it is refused as the token would have refused it.
   */
  private verifyInheritedLogin(): void {
    const known = this.lib.logins.get(this.tokenSerial);
    if (known === undefined) return; // logged in by code outside this module: nothing to compare
    const pin = readPin(this.pin);
    const mine = createHmac('sha256', PIN_DIGEST_KEY).update(this.tokenSerial).update('\0').update(pin).digest();
    if (!timingSafeEqual(mine, known)) {
      throw new L1Error(
        `pkcs11: the PIN from ${describePinSource(this.pin)} differs from the PIN this process logged in to token ${this.opts.tokenLabel} with (CKR_PIN_INCORRECT)`,
        'unreachable',
      );
    }
  }

  private acquire(): Promise<Handle> {
    if (this.closed) return Promise.reject(new L1Error('pkcs11: provider is closed', 'unreachable'));
    const s = this.idle.pop();
    if (s !== undefined) return Promise.resolve(s);
    if (this.openSessions < this.maxSessions) {
      try {
        return Promise.resolve(this.openSession());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(s: Handle, healthy: boolean): void {
    if (!healthy || this.closed) {
      this.openSessions--;
      try {
        this.m.C_CloseSession(s);
      } catch {
        // a session that failed may already be gone
      }
      if (this.closed && this.openSessions === 0 && this.releaseLibraryWhenIdle) {
        this.releaseLibraryWhenIdle = false;
        releaseLibrary(this.lib);
      }
      // A waiter may now open a fresh session in the freed place.
      const w = this.waiters.shift();
      if (w) {
        if (this.closed) w.reject(new L1Error('pkcs11: provider is closed', 'unreachable'));
        else {
          try {
            w.resolve(this.openSession());
          } catch (e) {
            w.reject(e);
          }
        }
      }
      return;
    }
    const w = this.waiters.shift();
    if (w) w.resolve(s);
    else this.idle.push(s);
  }

  private async withSession<T>(fn: (s: Handle) => T | Promise<T>): Promise<T> {
    const s = await this.acquire();
    let healthy = true;
    try {
      return await fn(s);
    } catch (e) {
      const name = e instanceof L1Error ? /\((CKR_[A-Z0-9_]+)\)/.exec(e.message)?.[1] : ckrName(this.p11, e);
      if (name !== undefined && SESSION_FATAL.has(name)) healthy = false;
      throw e;
    } finally {
      this.release(s, healthy);
    }
  }

  // --- the key ------------------------------------------------------------------------

  private findKeys(s: Handle): Handle[] {
    const p = this.p11;
    const template: Pkcs11Types.Template = [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      this.opts.keyLabel !== undefined ? { type: p.CKA_LABEL, value: this.opts.keyLabel } : { type: p.CKA_ID, value: Buffer.from(this.opts.keyId!, 'hex') },
    ];
    try {
      this.m.C_FindObjectsInit(s, template);
    } catch (e) {
      throw this.fail('C_FindObjectsInit', e);
    }
    try {
      return this.m.C_FindObjects(s, 2);
    } catch (e) {
      throw this.fail('C_FindObjects', e);
    } finally {
      try {
        this.m.C_FindObjectsFinal(s);
      } catch {
        // the search result is already in hand
      }
    }
  }

  private locateKey(s: Handle): Handle {
    const found = this.findKeys(s);
    if (found.length === 0) {
      this.keyHandle = undefined;
      throw new L1Error(`pkcs11: no ${this.keyDescription()} on token ${this.opts.tokenLabel} (deleted, or never created)`, 'revoked');
    }
    if (found.length > 1) {
      throw new L1Error(`pkcs11: more than one ${this.keyDescription()} on token ${this.opts.tokenLabel}; name the key by a unique label or id`, 'unreachable');
    }
    this.keyHandle = found[0]!;
    return this.keyHandle;
  }

  /**
   * Runs `fn` with the key handle. A cached handle that the token no longer knows (the key
   * was deleted, possibly by another process) is looked up once more by label/id before the
   * failure is reported as a revocation.
   */
  private async withKey<T>(s: Handle, fn: (key: Handle) => Promise<T>): Promise<T> {
    const cached = this.keyHandle;
    const key = cached ?? this.locateKey(s);
    try {
      return await fn(key);
    } catch (e) {
      const name = e instanceof L1Error ? undefined : ckrName(this.p11, e);
      if (cached !== undefined && (name === 'CKR_OBJECT_HANDLE_INVALID' || name === 'CKR_KEY_HANDLE_INVALID')) {
        this.keyHandle = undefined;
        const fresh = this.locateKey(s);
        return await fn(fresh);
      }
      throw e;
    }
  }

  private readFlags(s: Handle, key: Handle): { encrypt: boolean; decrypt: boolean; wrap: boolean; unwrap: boolean } {
    const p = this.p11;
    let res: Pkcs11Types.TemplateResult;
    try {
      res = this.m.C_GetAttributeValue(s, key, [{ type: p.CKA_ENCRYPT }, { type: p.CKA_DECRYPT }, { type: p.CKA_WRAP }, { type: p.CKA_UNWRAP }]);
    } catch (e) {
      throw this.fail('C_GetAttributeValue', e, `reading the usage flags of the ${this.keyDescription()}`);
    }
    const flag = (t: number) => {
      const v = res.find((a) => a.type === t)?.value;
      return v !== undefined && v.length > 0 && v[0] !== 0;
    };
    return { encrypt: flag(p.CKA_ENCRYPT), decrypt: flag(p.CKA_DECRYPT), wrap: flag(p.CKA_WRAP), unwrap: flag(p.CKA_UNWRAP) };
  }

  private tokenOffers(mech: number, flags: number): boolean {
    try {
      if (!this.m.C_GetMechanismList(this.slot).includes(mech)) return false;
      return (this.m.C_GetMechanismInfo(this.slot, mech).flags & flags) === flags;
    } catch {
      return false;
    }
  }

  private async chooseMechanism(s: Handle): Promise<'aes-gcm' | 'aes-kwp'> {
    const p = this.p11;
    const key = this.locateKey(s);
    const f = this.readFlags(s, key);
    const gcm = this.tokenOffers(p.CKM_AES_GCM, p.CKF_ENCRYPT | p.CKF_DECRYPT);
    const kwp = this.tokenOffers(p.CKM_AES_KEY_WRAP_PAD, p.CKF_WRAP | p.CKF_UNWRAP);
    const want = this.opts.mechanism ?? 'auto';
    if (want === 'aes-gcm' || (want === 'auto' && gcm && f.encrypt && f.decrypt)) {
      if (!gcm) throw new L1Error(`pkcs11: token ${this.opts.tokenLabel} does not offer CKM_AES_GCM for encrypt and decrypt`, 'unreachable');
      return 'aes-gcm';
    }
    if (want === 'aes-kwp' || (want === 'auto' && kwp && f.wrap && f.unwrap)) {
      if (!kwp) throw new L1Error(`pkcs11: token ${this.opts.tokenLabel} does not offer CKM_AES_KEY_WRAP_PAD for wrap and unwrap`, 'unreachable');
      return 'aes-kwp';
    }
    throw new L1Error(
      `pkcs11: neither AES-GCM (token ${gcm ? 'offers it' : 'lacks it'}, key ENCRYPT/DECRYPT ${f.encrypt && f.decrypt ? 'on' : 'off'}) ` +
        `nor AES key wrap with padding (token ${kwp ? 'offers it' : 'lacks it'}, key WRAP/UNWRAP ${f.wrap && f.unwrap ? 'on' : 'off'}) can be used with the ${this.keyDescription()}`,
      'disabled',
    );
  }

  // --- wrap / unwrap --------------------------------------------------------------------

  private gcmParams(iv: Buffer, context: string): Pkcs11Types.Mechanism {
    const p = this.p11;
    // AAD = format byte ‖ context: the context binding of DESIGN.md §2, and the header.
    const aad = Buffer.concat([Buffer.of(PKCS11_BLOB_GCM_V1), Buffer.from(context, 'utf8')]);
    const parameter: Pkcs11Types.AesGCM = { type: p.CK_PARAMS_AES_GCM, iv, aad, ivBits: GCM_IV_BYTES * 8, tagBits: GCM_TAG_BYTES * 8 };
    return { mechanism: p.CKM_AES_GCM, parameter };
  }

  async wrap(plaintext: Buffer, context: string): Promise<Buffer> {
    return this.withSession((s) =>
      this.withKey(s, async (key) => (this.mechanism === 'aes-gcm' ? this.wrapGcm(s, key, plaintext, context) : this.wrapKwp(s, key, plaintext, context))),
    );
  }

  private async wrapGcm(s: Handle, key: Handle, plaintext: Buffer, context: string): Promise<Buffer> {
    const iv = randomBytes(GCM_IV_BYTES);
    try {
      this.m.C_EncryptInit(s, this.gcmParams(iv, context), key);
    } catch (e) {
      if (isHandleError(this.p11, e)) throw e; // withKey looks the key up again
      throw this.fail('C_EncryptInit', e, `AES-GCM with the ${this.keyDescription()}`);
    }
    let out: Buffer;
    try {
      out = await this.m.C_EncryptAsync(s, plaintext, Buffer.alloc(plaintext.length + GCM_TAG_BYTES));
    } catch (e) {
      throw this.fail('C_Encrypt', e);
    }
    return Buffer.concat([Buffer.of(PKCS11_BLOB_GCM_V1), iv, out]);
  }

  private async wrapKwp(s: Handle, key: Handle, plaintext: Buffer, context: string): Promise<Buffer> {
    const p = this.p11;
    if (plaintext.length > 0xffff) throw new L1Error(`pkcs11: ${plaintext.length} bytes is too much to wrap with AES key wrap (limit 65535)`);
    const inner = sealContextRecord(plaintext, context);
    let obj: Handle;
    try {
      obj = this.m.C_CreateObject(s, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_GENERIC_SECRET },
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_PRIVATE, value: true },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: true },
        { type: p.CKA_VALUE, value: inner },
      ]);
    } catch (e) {
      throw this.fail('C_CreateObject', e, 'staging the plaintext as a session object for C_WrapKey');
    } finally {
      inner.fill(0);
    }
    try {
      // RFC 5649: output is the input rounded up to 8 bytes, plus 8.
      const out = await this.m.C_WrapKeyAsync(s, { mechanism: p.CKM_AES_KEY_WRAP_PAD }, key, obj, Buffer.alloc(inner.length + 16));
      return Buffer.concat([Buffer.of(PKCS11_BLOB_KWP_V1), out]);
    } catch (e) {
      if (isHandleError(this.p11, e)) throw e;
      throw this.fail('C_WrapKey', e, `AES key wrap with the ${this.keyDescription()}`);
    } finally {
      try {
        this.m.C_DestroyObject(s, obj);
      } catch {
        // a session object also disappears when its session closes
      }
    }
  }

  async unwrap(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length === 0) throw new L1Error('pkcs11: the blob is empty');
    const format = blob[0];
    if (format === PKCS11_BLOB_GCM_V1) {
      if (blob.length < 1 + GCM_IV_BYTES + GCM_TAG_BYTES) {
        throw new L1Error(`pkcs11: AES-GCM blob is ${blob.length} bytes, shorter than its ${1 + GCM_IV_BYTES + GCM_TAG_BYTES}-byte minimum`);
      }
      return this.withSession((s) => this.withKey(s, (key) => this.unwrapGcm(s, key, blob, context)));
    }
    if (format === PKCS11_BLOB_KWP_V1) {
      const body = blob.length - 1;
      // RFC 5649 §3: at least two 64-bit blocks, a whole number of them.
      if (body < 16 || body % 8 !== 0) throw new L1Error(`pkcs11: AES key wrap blob has a ${body}-byte body, not a multiple of 8 of at least 16`);
      return this.withSession((s) => this.withKey(s, (key) => this.unwrapKwp(s, key, blob, context)));
    }
    throw new L1Error(`pkcs11: the blob has unknown format byte 0x${format!.toString(16).padStart(2, '0')}`);
  }

  private async unwrapGcm(s: Handle, key: Handle, blob: Buffer, context: string): Promise<Buffer> {
    const iv = blob.subarray(1, 1 + GCM_IV_BYTES);
    const ct = blob.subarray(1 + GCM_IV_BYTES);
    try {
      this.m.C_DecryptInit(s, this.gcmParams(iv, context), key);
    } catch (e) {
      if (isHandleError(this.p11, e)) throw e;
      throw this.fail('C_DecryptInit', e, `AES-GCM with the ${this.keyDescription()}`);
    }
    const out = Buffer.alloc(ct.length);
    try {
      const pt = await this.m.C_DecryptAsync(s, ct, out);
      const copy = Buffer.from(pt);
      out.fill(0);
      return copy;
    } catch (e) {
      out.fill(0);
      const name = ckrName(this.p11, e);
      // The standard answer to a failed tag check is CKR_ENCRYPTED_DATA_INVALID; SoftHSM 2.6
      // answers CKR_GENERAL_ERROR. Both are reported as what they almost always mean here.
      if (name === 'CKR_ENCRYPTED_DATA_INVALID' || name === 'CKR_GENERAL_ERROR' || name === 'CKR_ENCRYPTED_DATA_LEN_RANGE') {
        throw new L1Error(`pkcs11: unwrap failed (${name}): the blob was altered, wrapped under another key, or bound to another context`);
      }
      throw this.fail('C_Decrypt', e);
    }
  }

  private async unwrapKwp(s: Handle, key: Handle, blob: Buffer, context: string): Promise<Buffer> {
    const p = this.p11;
    let obj: Handle;
    try {
      obj = await this.m.C_UnwrapKeyAsync(s, { mechanism: p.CKM_AES_KEY_WRAP_PAD }, key, blob.subarray(1), [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_GENERIC_SECRET },
        { type: p.CKA_TOKEN, value: false },
        { type: p.CKA_PRIVATE, value: true },
        // Not sensitive: we read the inner record back to check its context digest.
        { type: p.CKA_SENSITIVE, value: false },
        { type: p.CKA_EXTRACTABLE, value: true },
      ]);
    } catch (e) {
      if (isHandleError(this.p11, e)) throw e;
      const name = ckrName(this.p11, e);
      if (name === 'CKR_WRAPPED_KEY_INVALID' || name === 'CKR_GENERAL_ERROR' || name === 'CKR_ENCRYPTED_DATA_INVALID' || name === 'CKR_WRAPPED_KEY_LEN_RANGE') {
        throw new L1Error(`pkcs11: unwrap failed (${name}): the blob was altered or wrapped under another key`);
      }
      throw this.fail('C_UnwrapKey', e, `AES key wrap with the ${this.keyDescription()}`);
    }
    let inner: Buffer;
    try {
      inner = this.m.C_GetAttributeValue(s, obj, [{ type: p.CKA_VALUE }])[0]!.value;
    } catch (e) {
      throw this.fail('C_GetAttributeValue', e, 'reading the unwrapped record');
    } finally {
      try {
        this.m.C_DestroyObject(s, obj);
      } catch {
        // a session object also disappears when its session closes
      }
    }
    try {
      // Up to 7 bytes of zero padding may remain (SoftHSM 2.6 does not strip RFC 5649 padding).
      return openContextRecord(inner, context, 'pkcs11');
    } finally {
      inner.fill(0);
    }
  }

  // --- status -----------------------------------------------------------------------------

  async status(): Promise<L1Status> {
    if (this.closed) return { state: 'unreachable', detail: 'pkcs11: provider is closed' };
    try {
      return await this.withSession((s) => {
        const key = this.locateKey(s);
        const f = this.readFlags(s, key);
        const needed: Array<[string, boolean]> =
          this.mechanism === 'aes-gcm'
            ? [['CKA_ENCRYPT', f.encrypt], ['CKA_DECRYPT', f.decrypt]]
            : [['CKA_WRAP', f.wrap], ['CKA_UNWRAP', f.unwrap]];
        const off = needed.filter(([, on]) => !on).map(([n]) => n);
        if (off.length > 0) {
          return { state: 'disabled', detail: `pkcs11: the ${this.keyDescription()} on token ${this.opts.tokenLabel} has ${off.join(' and ')} off` } as L1Status;
        }
        return { state: 'active' } as L1Status;
      });
    } catch (e) {
      if (e instanceof L1Error) return { state: e.status ?? 'unreachable', detail: e.message };
      const err = this.fail('status', e);
      return { state: err.status ?? 'unreachable', detail: err.message };
    }
  }

  describe(): L1Description {
    const object = this.opts.keyLabel !== undefined ? `object=${percentEncode(this.opts.keyLabel)}` : `id=${Buffer.from(this.opts.keyId!, 'hex').toString('hex').replace(/(..)/g, '%$1')}`;
    // An RFC 7512 PKCS#11 URI: the form HSM tools accept to name a key.
    return { provider: 'pkcs11', keyRef: `pkcs11:token=${percentEncode(this.opts.tokenLabel)};${object};type=secret-key`, developmentOnly: false };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new L1Error('pkcs11: provider is closed', 'unreachable'));
    for (const s of this.idle.splice(0)) {
      this.openSessions--;
      try {
        this.m.C_CloseSession(s);
      } catch {
        // the token may already be gone
      }
    }
    // Sessions still lent out are closed by release() when their call returns; the library
    // is released now only if none is lent, else by the last release.
    if (this.openSessions === 0) releaseLibrary(this.lib);
    else this.releaseLibraryWhenIdle = true;
  }
}

function isHandleError(p11: Pkcs11Module, e: unknown): boolean {
  const n = ckrName(p11, e);
  return n === 'CKR_OBJECT_HANDLE_INVALID' || n === 'CKR_KEY_HANDLE_INVALID';
}

function findSlot(lib: SharedLibrary, label: string): { slot: Handle; serial: string } {
  let slots: Handle[];
  try {
    slots = lib.module.C_GetSlotList(true);
  } catch (e) {
    throw new L1Error(`pkcs11: C_GetSlotList failed (${ckrName(lib.p11, e) ?? (e as Error).message})`, 'unreachable');
  }
  const hits: Array<{ slot: Handle; serial: string }> = [];
  for (const slot of slots) {
    let info: Pkcs11Types.TokenInfo;
    try {
      info = lib.module.C_GetTokenInfo(slot);
    } catch {
      continue; // a slot whose token vanished between the two calls
    }
    // CK_TOKEN_INFO.label is blank-padded to 32 bytes (PKCS#11 v2.40 §3.2).
    if (info.label.replace(/[ \0]+$/, '') === label) hits.push({ slot, serial: info.serialNumber.trim() });
  }
  if (hits.length === 0) throw new L1Error(`pkcs11: no token labelled ${JSON.stringify(label)} in library ${lib.path}`, 'unreachable');
  if (hits.length > 1) throw new L1Error(`pkcs11: ${hits.length} tokens are labelled ${JSON.stringify(label)} in library ${lib.path}; labels must be unique`, 'unreachable');
  return hits[0]!;
}
