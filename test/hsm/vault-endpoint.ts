// A local HashiCorp Vault Transit-compatible HTTP endpoint for the vault-transit L1
// provider's tests (no Vault binary can run here). It follows Vault's documented HTTP API:
//   - "HTTP API" overview: /v1/ prefix, X-Vault-Token and X-Vault-Namespace headers, JSON
//     bodies, errors as {"errors": [...]}, 400 bad request, 403 permission denied, 404 not
//     found, 503 sealed, 204 No Content on success without data;
//   - "Transit secrets engine (API)": POST /keys/:name (type, derived), GET /keys/:name
//     (type, derived, deletion_allowed, latest_version, min_decryption_version,
//     min_encryption_version, min_available_version, keys{version: time},
//     supports_encryption/decryption), POST /keys/:name/config, POST /keys/:name/rotate,
//     DELETE /keys/:name (refused unless deletion_allowed), POST /encrypt/:name (plaintext,
//     context, associated_data; creates a missing key — "upsert"), POST /decrypt/:name;
//     ciphertexts "vault:v<N>:<base64(nonce | ciphertext | tag)>"; derived keys require a
//     context; a version below min_decryption_version is refused;
//   - "AppRole auth method (API)": POST /auth/:mount/login {role_id, secret_id} → auth.client_token.
// What it does NOT check or do: ACL policies beyond "this token is known" (a token is
// either valid for everything or unknown → 403), token TTLs other than explicit revocation,
// key derivation exactly as Vault does it (here HKDF-SHA256 of the key with the context),
// convergent encryption, batch_input, encryption with key types other than aes256-gcm96
// (rsa-2048 and ed25519 keys exist as metadata only), and namespaces beyond keeping each namespace's keys apart.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody, sendJson, TestEndpoint } from './http-endpoint.ts';

interface TransitKey {
  type: string;
  derived: boolean;
  deletionAllowed: boolean;
  versions: Map<number, { key: Buffer; created: string }>;
  latest: number;
  minDecryption: number;
  minEncryption: number;
  minAvailable: number;
}

/** Vault's own default max_request_size is 32 MiB; nothing a provider sends comes near 1 MiB. */
const MAX_BODY = 1 << 20;

export interface VaultRequestLog {
  method: string;
  path: string;
  namespace: string | undefined;
  token: string | undefined;
  body: Record<string, unknown> | undefined;
}

export class VaultTransitEndpoint extends TestEndpoint {
  /** namespace ('' = root) → mount → name → key */
  private readonly keys = new Map<string, Map<string, Map<string, TransitKey>>>();
  private readonly tokens = new Set<string>();
  private readonly approles = new Map<string, { secretId: string; leaseSeconds: number }>();
  readonly mounts = new Set<string>(['transit']);
  readonly requests: VaultRequestLog[] = [];
  sealed = false;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The listening port (kept across stop/start). */
  get port(): number {
    return this.portOf();
  }

  async start(): Promise<void> {
    await this.listen(createServer((req, res) => void this.handle(req, res)));
  }

  addToken(): string {
    const t = `hvs.${randomBytes(18).toString('base64url')}`;
    this.tokens.add(t);
    return t;
  }

  revokeToken(t: string): void {
    this.tokens.delete(t);
  }

  addAppRole(leaseSeconds = 3600): { roleId: string; secretId: string } {
    const roleId = randomUUID();
    const secretId = randomUUID();
    this.approles.set(roleId, { secretId, leaseSeconds });
    return { roleId, secretId };
  }

  /** Revokes every token issued so far (AppRole tokens included): a later login works again. */
  revokeAllTokens(): void {
    this.tokens.clear();
  }

  private space(ns: string, mount: string): Map<string, TransitKey> {
    let m = this.keys.get(ns);
    if (!m) this.keys.set(ns, (m = new Map()));
    let k = m.get(mount);
    if (!k) m.set(mount, (k = new Map()));
    return k;
  }

  private newKey(type: string, derived: boolean): TransitKey {
    return {
      type,
      derived,
      deletionAllowed: false,
      versions: new Map([[1, { key: randomBytes(32), created: new Date().toISOString() }]]),
      latest: 1,
      minDecryption: 1,
      minEncryption: 0,
      minAvailable: 0,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req, MAX_BODY);
    if (raw === undefined) return;
    if (this.stalled) return; // never answer
    const send = (status: number, body?: unknown) => sendJson(res, status, body);
    const fail = (status: number, ...errors: string[]) => send(status, { errors });
    const url = new URL(req.url ?? '/', 'http://x');
    const token = req.headers['x-vault-token'] as string | undefined;
    const ns = ((req.headers['x-vault-namespace'] as string | undefined) ?? '').replace(/^\/|\/$/g, '');
    let body: Record<string, unknown> | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        return fail(400, 'failed to parse JSON input');
      }
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname, namespace: ns || undefined, token, body });
    if (this.sealed) return fail(503, 'Vault is sealed');
    if (!url.pathname.startsWith('/v1/')) return fail(404, 'no handler for route');
    const path = url.pathname.slice(4);
    const method = req.method === 'PUT' ? 'POST' : req.method;

    const login = /^auth\/([^/]+)\/login$/.exec(path);
    if (login && method === 'POST') {
      const role = this.approles.get(String(body?.role_id ?? ''));
      if (login[1] !== 'approle' || role === undefined || role.secretId !== body?.secret_id) return fail(400, 'invalid role or secret ID');
      const t = this.addToken();
      return send(200, { auth: { client_token: t, accessor: randomUUID(), policies: ['default'], lease_duration: role.leaseSeconds, renewable: true } });
    }
    if (token === undefined || !this.tokens.has(token)) return fail(403, 'permission denied');

    const m = /^(.+)\/(keys|encrypt|decrypt)\/([^/]+)(\/(config|rotate))?$/.exec(path);
    if (!m || !this.mounts.has(m[1]!)) return fail(404, `no handler for route "${path}". route entry not found.`);
    const [, mount, kind, name, , sub] = m as unknown as [string, string, string, string, string | undefined, string | undefined];
    const keys = this.space(ns, mount);
    let key = keys.get(name);

    if (kind === 'keys' && sub === undefined) {
      if (method === 'GET') {
        if (!key) return fail(404);
        const versions: Record<string, string> = {};
        for (const [v, k] of key.versions) versions[String(v)] = k.created;
        return send(200, {
          request_id: randomUUID(),
          data: {
            name,
            type: key.type,
            derived: key.derived,
            deletion_allowed: key.deletionAllowed,
            exportable: false,
            latest_version: key.latest,
            min_decryption_version: key.minDecryption,
            min_encryption_version: key.minEncryption,
            min_available_version: key.minAvailable,
            keys: versions,
            supports_encryption: key.type !== 'ed25519',
            supports_decryption: key.type !== 'ed25519',
            supports_derivation: key.type !== 'rsa-2048',
            supports_signing: false,
          },
        });
      }
      if (method === 'POST') {
        const type = String(body?.type ?? 'aes256-gcm96');
        // rsa-2048 and ed25519 keys are kept as metadata only (to test how a client treats
        // key types it cannot use); encrypt/decrypt with them is refused below.
        if (!['aes256-gcm96', 'rsa-2048', 'ed25519'].includes(type)) return fail(400, `unsupported key type in this test endpoint: ${type}`);
        if (!key) keys.set(name, this.newKey(type, body?.derived === true));
        return send(204);
      }
      if (method === 'DELETE') {
        if (!key) return send(204);
        if (!key.deletionAllowed) return fail(400, 'deletion is not allowed for this key');
        keys.delete(name);
        return send(204);
      }
      return fail(405, 'unsupported operation');
    }
    if (kind === 'keys' && sub === 'config' && method === 'POST') {
      if (!key) return fail(400, 'no existing key named ' + name + ' could be found');
      if (body?.deletion_allowed !== undefined) key.deletionAllowed = body.deletion_allowed === true;
      if (body?.min_decryption_version !== undefined) {
        const v = Number(body.min_decryption_version);
        if (!Number.isInteger(v) || v > key.latest) return fail(400, 'cannot set min decryption version greater than the latest version');
        if (v > 0 && v < key.minAvailable) return fail(400, 'cannot set min decryption version below the min available version');
        key.minDecryption = v <= 0 ? 1 : v;
      }
      if (body?.min_encryption_version !== undefined) key.minEncryption = Number(body.min_encryption_version);
      return send(204);
    }
    if (kind === 'keys' && sub === 'rotate' && method === 'POST') {
      if (!key) return fail(400, 'no existing key named ' + name + ' could be found');
      key.latest += 1;
      key.versions.set(key.latest, { key: randomBytes(32), created: new Date().toISOString() });
      return send(204);
    }

    const b64 = (field: string): Buffer | undefined | 'bad' => {
      const v = body?.[field];
      if (v === undefined || v === '') return undefined;
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*=*$/.test(v)) return 'bad';
      return Buffer.from(v, 'base64');
    };
    const context = b64('context');
    const aad = b64('associated_data');
    if (context === 'bad') return fail(400, 'failed to base64-decode context');
    if (aad === 'bad') return fail(400, 'failed to base64-decode associated_data');

    if (key !== undefined && key.type !== 'aes256-gcm96' && (kind === 'encrypt' || kind === 'decrypt')) {
      return fail(400, `${kind} with a ${key.type} key is not implemented by this test endpoint`);
    }
    if (kind === 'encrypt' && method === 'POST') {
      const pt = b64('plaintext');
      if (pt === 'bad' || pt === undefined) return fail(400, 'failed to base64-decode plaintext');
      if (!key) {
        // Vault's documented upsert: encrypt creates the key when it does not exist.
        key = this.newKey('aes256-gcm96', context !== undefined);
        keys.set(name, key);
      }
      if (key.derived && context === undefined) return fail(400, 'missing \'context\' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key');
      const version = key.minEncryption > 0 ? Math.max(key.minEncryption, key.latest) : key.latest;
      const k = this.effectiveKey(key, version, context);
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', k, nonce);
      if (aad !== undefined) c.setAAD(aad);
      const ct = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
      return send(200, { request_id: randomUUID(), data: { ciphertext: `vault:v${version}:${Buffer.concat([nonce, ct]).toString('base64')}`, key_version: version } });
    }
    if (kind === 'decrypt' && method === 'POST') {
      if (!key) return fail(400, 'encryption key not found');
      const ctStr = String(body?.ciphertext ?? '');
      const cm = /^vault:v(\d+):(.*)$/.exec(ctStr);
      if (!cm) return fail(400, 'invalid ciphertext: no prefix');
      const version = Number(cm[1]);
      if (version < key.minDecryption) return fail(400, 'ciphertext or signature version is disallowed by policy (too old)');
      if (!key.versions.has(version)) return fail(400, 'invalid key version');
      if (key.derived && context === undefined) return fail(400, 'missing \'context\' for key derivation');
      const raw = Buffer.from(cm[2]!, 'base64');
      if (raw.length < 12 + 16) return fail(400, 'invalid ciphertext: too short');
      try {
        const d = createDecipheriv('aes-256-gcm', this.effectiveKey(key, version, context), raw.subarray(0, 12));
        if (aad !== undefined) d.setAAD(aad);
        d.setAuthTag(raw.subarray(raw.length - 16));
        const pt = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
        return send(200, { request_id: randomUUID(), data: { plaintext: pt.toString('base64') } });
      } catch {
        return fail(400, 'cipher: message authentication failed');
      }
    }
    return fail(405, 'unsupported operation');
  }

  private effectiveKey(key: TransitKey, version: number, context: Buffer | undefined): Buffer {
    const base = key.versions.get(version)!.key;
    if (!key.derived) return base;
    return Buffer.from(hkdfSync('sha256', base, Buffer.alloc(0), context!, 32));
  }

  /** Trims versions below `min` (Vault: POST keys/:name/trim min_available_version). */
  trim(ns: string, mount: string, name: string, min: number): void {
    const key = this.space(ns, mount).get(name)!;
    for (const v of [...key.versions.keys()]) if (v < min) key.versions.delete(v);
    key.minAvailable = min;
    if (key.minDecryption < min) key.minDecryption = min;
  }
}
