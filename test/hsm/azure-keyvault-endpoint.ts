// An Azure Key Vault / Managed HSM endpoint for tests. No Azure service or emulator can run
// here; the azure-keyvault L1 provider drives the REAL @azure/keyvault-keys and
// @azure/identity against it, so the SDK's request building, challenge authentication,
// retries and error mapping all run.
//
// It follows the Key Vault REST API reference (learn.microsoft.com, "Azure Key Vault REST API
// reference" → Keys: Create Key, Get Key, Update Key, Delete Key, Get Deleted Key, Purge
// Deleted Key, Recover Deleted Key, Wrap Key, Unwrap Key) and "Authentication in Azure Key
// Vault" / "Azure Key Vault keys, secrets and certificates overview":
//   - HTTPS only, on host names <vault>.vault.azure.net and <hsm>.managedhsm.azure.net
//     (azure-hosts.mjs routes them to 127.0.0.1), with a certificate from a CA made here;
//   - every request needs ?api-version= (7.x or a dated version such as 2025-07-01; the SDK
//     sends its latest), else 400 BadParameter;
//   - a request without a bearer token is answered 401 Unauthorized with
//     `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
//     resource="https://vault.azure.net"` (https://managedhsm.azure.net for a Managed HSM),
//     the challenge the SDK answers by getting a token for <resource>/.default and resending;
//   - JSON bodies with snake_case JWK fields, base64url binary values, epoch-second times;
//   - errors as {"error": {"code", "message", "innererror"?: {"code"}}}: 404 KeyNotFound,
//     403 Forbidden/KeyDisabled ("Operation unwrapKey is not allowed on a disabled key."),
//     409 Conflict for a name whose key is deleted but not purged, 400 BadParameter;
//   - a disabled key still answers Get Key and still performs the RSA public-key operation
//     wrapKey (as the live service does: only unwrapKey, decrypt and sign are refused); a
//     disabled oct-HSM key refuses both (it has no public half);
//   - soft delete: a deleted key is 404 on /keys and visible on /deletedkeys until purged.
// Tokens come from the App Service managed-identity protocol ("Managed identities for App
// Service", REST endpoint reference: GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…
// with the X-IDENTITY-HEADER secret) on a plain-HTTP listener of its own, as on App Service;
// or from Entra ID's v2.0 endpoints on host login.microsoftonline.com ("Microsoft identity
// platform and the OAuth 2.0 client credentials flow": OpenID configuration, POST
// /<tenant>/oauth2/v2.0/token with client_secret or client_assertion).
//
// NOT checked: token validation; client assertions other than the registered federated
// token (a certificate's signed assertion is not verified). Tokens are opaque random strings this endpoint issued; it
// checks that a request carries one of them (and that it was issued for the vault's
// resource), not a signature, audience claims or RBAC roles. Also not modelled: key
// rotation policies, nbf/exp enforcement by the service, key release, backup/restore,
// import, encrypt/decrypt/sign/verify, paging of list operations, throttling.
import { constants, createCipheriv, createDecipheriv, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueLeaf } from '../../src/server/devpki.ts';
import './azure-hosts.mjs';
import { readBody, sendJson, TestEndpoint } from './http-endpoint.ts';

export type KeyType = 'RSA' | 'RSA-HSM' | 'EC' | 'oct-HSM';

interface KeyVersion {
  version: string;
  kty: KeyType;
  ops: string[];
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  rsa?: { publicKey: KeyObject; privateKey: KeyObject };
  aes?: Buffer;
}

interface StoredKey {
  versions: KeyVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

export interface AzureRequestRecord {
  method: string;
  host: string;
  path: string;
  apiVersion: string | null;
  /** Whether a bearer token this endpoint issued was presented. */
  authorized: boolean;
  body: unknown;
}

class KvError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 1 << 20;
const ALL_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
const b64u = (b: Buffer) => b.toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex'); // RFC 3394 §2.2.3.1 default initial value

export class AzureKeyVaultEndpoint extends TestEndpoint {
  readonly tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  readonly requests: AzureRequestRecord[] = [];
  /** The X-IDENTITY-HEADER value the managed-identity endpoint expects. */
  readonly identityHeader = randomBytes(16).toString('hex');
  /** Resource of each token issued. */
  private readonly tokens = new Map<string, string>();
  /** Vault host (lower case, without port) → key name (lower case) → key. */
  private readonly vaults = new Map<string, Map<string, StoredKey>>();
  private tls: { key: string; cert: string } | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'openkcm-azure-endpoint-'));
  /** PEM of the CA that issued the endpoint's certificate (give it as the provider's caFile). */
  readonly caFile = join(this.dir, 'ca.pem');
  tokenRequests = 0;

  /** Listens on 127.0.0.1 (ports chosen the first time, the same ports after stop()). */
  async start(): Promise<void> {
    if (this.tls === undefined) {
      const ca = await createCa('Azure test endpoint CA');
      const leaf = await issueLeaf(ca, 'server', 'vault.azure.net', { names: ['*.vault.azure.net', '*.managedhsm.azure.net', 'login.microsoftonline.com', 'localhost', '127.0.0.1'] });
      writeFileSync(this.caFile, ca.certPem);
      this.tls = { key: leaf.keyPem, cert: leaf.certPem };
    }
    await this.listen(createHttpsServer(this.tls, (req, res) => void this.handle(req, res)), 'vault');
    await this.listen(createHttpServer((req, res) => void this.handleMsi(req, res)), 'msi');
  }

  /** The vault's (and Entra's) port. */
  private get port(): number {
    return this.portOf('vault');
  }

  /** Stops and removes the CA file. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** https://<name>.vault.azure.net:<port> */
  vaultUrl(name = 'openkcm-test'): string {
    return `https://${name}.vault.azure.net:${this.port}`;
  }

  /** https://<name>.managedhsm.azure.net:<port> */
  hsmUrl(name = 'openkcm-test'): string {
    return `https://${name}.managedhsm.azure.net:${this.port}`;
  }

  /** The Entra ID authority host served here (give it as the provider's authorityHost). */
  authorityHost(): string {
    return `https://login.microsoftonline.com:${this.port}`;
  }

  /** The environment of App Service's managed identity, pointing at this endpoint. */
  managedIdentityEnv(): Record<string, string> {
    return { IDENTITY_ENDPOINT: `http://127.0.0.1:${this.portOf('msi')}/msi/token`, IDENTITY_HEADER: this.identityHeader };
  }

  private vault(host: string): Map<string, StoredKey> {
    const h = host.toLowerCase();
    let v = this.vaults.get(h);
    if (v === undefined) {
      v = new Map();
      this.vaults.set(h, v);
    }
    return v;
  }

  private isHsm(host: string): boolean {
    return /\.managedhsm\.azure\.net$/i.test(host);
  }

  private kid(host: string, name: string, version: string): string {
    return `https://${host}:${this.port}/keys/${name}/${version}`;
  }

  private bundle(host: string, name: string, v: KeyVersion): Record<string, unknown> {
    const key: Record<string, unknown> = { kid: this.kid(host, name, v.version), kty: v.kty, key_ops: v.ops };
    if (v.rsa !== undefined) {
      const jwk = v.rsa.publicKey.export({ format: 'jwk' });
      key.n = jwk.n;
      key.e = jwk.e;
    }
    if (v.kty === 'EC') {
      key.crv = 'P-256';
    }
    return {
      key,
      attributes: {
        enabled: v.enabled,
        ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
        ...(v.exp !== undefined ? { exp: v.exp } : {}),
        created: v.created,
        updated: v.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
      tags: {},
    };
  }

  private deletedBundle(host: string, name: string, k: StoredKey): Record<string, unknown> {
    return {
      ...this.bundle(host, name, k.versions.at(-1)!),
      recoveryId: `https://${host}:${this.port}/deletedkeys/${name}`,
      deletedDate: k.deleted!.deletedDate,
      scheduledPurgeDate: k.deleted!.scheduledPurgeDate,
    };
  }

  private notFound(name: string): KvError {
    return new KvError(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
  }

  private live(host: string, name: string): StoredKey {
    const k = this.vault(host).get(name.toLowerCase());
    if (k === undefined || k.deleted !== undefined) throw this.notFound(name);
    return k;
  }

  private version(host: string, name: string, version: string | undefined): KeyVersion {
    const k = this.live(host, name);
    if (version === undefined || version === '') return k.versions.at(-1)!;
    const v = k.versions.find((x) => x.version === version.toLowerCase());
    if (v === undefined) throw this.notFound(`${name}/${version}`);
    return v;
  }

  private create(host: string, name: string, body: Record<string, unknown>): Record<string, unknown> {
    if (!/^[0-9A-Za-z-]{1,127}$/.test(name)) throw new KvError(400, 'BadParameter', 'The request URI contains an invalid name: ' + name);
    const kty = body.kty;
    const hsm = this.isHsm(host);
    const allowed: KeyType[] = hsm ? ['RSA-HSM', 'EC', 'oct-HSM'] : ['RSA', 'RSA-HSM', 'EC'];
    if (typeof kty !== 'string' || !(allowed as string[]).includes(kty)) {
      throw new KvError(400, 'BadParameter', `Property kty has invalid value ${JSON.stringify(kty)}; this ${hsm ? 'Managed HSM' : 'vault'} accepts ${allowed.join(', ')}`);
    }
    const existing = this.vault(host).get(name.toLowerCase());
    if (existing?.deleted !== undefined) {
      throw new KvError(409, 'Conflict', `Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`);
    }
    const attrs = (body.attributes ?? {}) as Record<string, unknown>;
    const t = now();
    const v: KeyVersion = {
      version: randomBytes(16).toString('hex'),
      kty: kty as KeyType,
      ops: Array.isArray(body.key_ops) ? (body.key_ops as string[]) : kty === 'EC' ? ['sign', 'verify'] : ALL_OPS,
      enabled: attrs.enabled !== false,
      ...(typeof attrs.nbf === 'number' ? { nbf: attrs.nbf } : {}),
      ...(typeof attrs.exp === 'number' ? { exp: attrs.exp } : {}),
      created: t,
      updated: t,
    };
    if (kty === 'RSA' || kty === 'RSA-HSM') {
      const size = typeof body.key_size === 'number' ? body.key_size : 2048;
      if (![2048, 3072, 4096].includes(size)) throw new KvError(400, 'BadParameter', `Property key_size has invalid value ${size}`);
      v.rsa = generateKeyPairSync('rsa', { modulusLength: size });
    } else if (kty === 'oct-HSM') {
      const size = typeof body.key_size === 'number' ? body.key_size : 256;
      if (![128, 192, 256].includes(size)) throw new KvError(400, 'BadParameter', `Property key_size has invalid value ${size}`);
      v.aes = randomBytes(size / 8);
    }
    const k = existing ?? { versions: [] };
    k.versions.push(v); // creating an existing name adds a version (Create Key)
    this.vault(host).set(name.toLowerCase(), k);
    return this.bundle(host, name, v);
  }

  private wrap(host: string, name: string, version: string, body: Record<string, unknown>, op: 'wrapKey' | 'unwrapKey'): Record<string, unknown> {
    const v = this.version(host, name, version);
    const alg = body.alg;
    const value = body.value;
    if (typeof alg !== 'string' || typeof value !== 'string') throw new KvError(400, 'BadParameter', 'Property alg and value are required');
    const input = Buffer.from(value, 'base64url');
    // RSA wrapKey uses only the public key, which the service allows on a disabled key.
    const secretNeeded = op === 'unwrapKey' || v.aes !== undefined;
    if (!v.enabled && secretNeeded) throw new KvError(403, 'Forbidden', `Operation ${op} is not allowed on a disabled key.`, 'KeyDisabled');
    if (!v.ops.includes(op)) throw new KvError(403, 'Forbidden', `Operation ${op} is not allowed by the key's key_ops.`, 'KeyOperationForbidden');
    const kid = this.kid(host, name, v.version);
    if (v.rsa !== undefined) {
      const oaepHash = alg === 'RSA-OAEP-256' ? 'sha256' : alg === 'RSA-OAEP' ? 'sha1' : undefined;
      const padding = alg === 'RSA1_5' ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_OAEP_PADDING;
      if (oaepHash === undefined && alg !== 'RSA1_5') throw new KvError(400, 'BadParameter', `Algorithm ${alg} is not supported by key type ${v.kty}`);
      try {
        const out = op === 'wrapKey'
          ? publicEncrypt({ key: v.rsa.publicKey, padding, ...(oaepHash ? { oaepHash } : {}) }, input)
          : privateDecrypt({ key: v.rsa.privateKey, padding, ...(oaepHash ? { oaepHash } : {}) }, input);
        return { kid, value: b64u(out) };
      } catch {
        throw new KvError(400, 'BadParameter', op === 'wrapKey' ? 'The value is too long for the key size and algorithm.' : 'Unwrap failed: the value could not be decrypted with this key.');
      }
    }
    if (v.aes !== undefined) {
      const m = /^A(128|192|256)KW$/.exec(alg);
      if (!m || Number(m[1]) !== v.aes.length * 8) throw new KvError(400, 'BadParameter', `Algorithm ${alg} is not supported by a ${v.aes.length * 8}-bit ${v.kty} key`);
      // RFC 3394: whole 64-bit blocks, at least two to wrap, three to unwrap.
      if (input.length % 8 !== 0 || input.length < (op === 'wrapKey' ? 16 : 24)) throw new KvError(400, 'BadParameter', 'The value length is not valid for AES key wrap.');
      try {
        const c = op === 'wrapKey' ? createCipheriv(`id-aes${m[1]}-wrap`, v.aes, AES_KW_IV) : createDecipheriv(`id-aes${m[1]}-wrap`, v.aes, AES_KW_IV);
        return { kid, value: b64u(Buffer.concat([c.update(input), c.final()])) };
      } catch {
        throw new KvError(400, 'BadParameter', 'Unwrap failed: the integrity check of the wrapped value failed.');
      }
    }
    throw new KvError(400, 'BadParameter', `Algorithm ${alg} is not supported by key type ${v.kty}`);
  }

  private route(method: string, host: string, segments: string[], body: Record<string, unknown>): { status: number; body?: unknown } {
    const [col, name, a, b] = segments;
    const n = segments.length;
    if (col === 'keys' && name !== undefined) {
      if (method === 'POST' && n === 3 && a!.toLowerCase() === 'create') return { status: 200, body: this.create(host, name, body) };
      if (method === 'GET' && n <= 3) return { status: 200, body: this.bundle(host, name, this.version(host, name, a)) };
      if (method === 'PATCH' && n <= 3) {
        const v = this.version(host, name, a);
        const attrs = (body.attributes ?? {}) as Record<string, unknown>;
        if (typeof attrs.enabled === 'boolean') v.enabled = attrs.enabled;
        if (typeof attrs.exp === 'number') v.exp = attrs.exp;
        if (typeof attrs.nbf === 'number') v.nbf = attrs.nbf;
        if (Array.isArray(body.key_ops)) v.ops = body.key_ops as string[];
        v.updated = now();
        return { status: 200, body: this.bundle(host, name, v) };
      }
      if (method === 'DELETE' && n === 2) {
        const k = this.live(host, name);
        const t = now();
        k.deleted = { deletedDate: t, scheduledPurgeDate: t + 90 * 86400 };
        return { status: 200, body: this.deletedBundle(host, name, k) };
      }
      if (method === 'POST' && n === 4 && (b!.toLowerCase() === 'wrapkey' || b!.toLowerCase() === 'unwrapkey')) {
        return { status: 200, body: this.wrap(host, name, a!, body, b!.toLowerCase() === 'wrapkey' ? 'wrapKey' : 'unwrapKey') };
      }
    }
    if (col === 'deletedkeys' && name !== undefined) {
      const k = this.vault(host).get(name.toLowerCase());
      if (k?.deleted === undefined) throw new KvError(404, 'KeyNotFound', `Deleted Key not found: ${name}`);
      if (method === 'GET' && n === 2) return { status: 200, body: this.deletedBundle(host, name, k) };
      if (method === 'DELETE' && n === 2) {
        this.vault(host).delete(name.toLowerCase());
        return { status: 204 };
      }
      if (method === 'POST' && n === 3 && a!.toLowerCase() === 'recover') {
        delete k.deleted;
        return { status: 200, body: this.bundle(host, name, k.versions.at(-1)!) };
      }
    }
    throw new KvError(404, 'NotFound', `The requested resource ${method} /${segments.join('/')} does not exist.`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://x');
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host.toLowerCase() === 'login.microsoftonline.com') return this.handleEntra(req, res, url);
    const raw = await readBody(req, MAX_BODY);
    if (raw === undefined) return;
    const text = raw.toString('utf8');
    let body: unknown;
    let parseError = false;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      parseError = true;
    }
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const resource = this.isHsm(host) ? 'https://managedhsm.azure.net' : 'https://vault.azure.net';
    const authorized = auth !== undefined && this.tokens.get(auth) === resource;
    this.requests.push({ method: req.method ?? '', host, path: url.pathname, apiVersion: url.searchParams.get('api-version'), authorized, body });
    if (this.stalled) return; // never answer; the client's deadline must fire
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) =>
      sendJson(res, status, payload, { 'x-ms-request-id': randomBytes(16).toString('hex'), 'x-ms-keyvault-service-version': '1.9.0.0', ...headers }, 'application/json; charset=utf-8');
    try {
      if (!/^(7\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?)$/.test(url.searchParams.get('api-version') ?? '')) {
        throw new KvError(400, 'BadParameter', 'The api-version query parameter is missing or not a version this service supports.');
      }
      if (!authorized) {
        // The challenge (Key Vault authentication: "Bearer authorization=…, resource=…").
        send(401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, {
          'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${this.tenantId}", resource="${resource}"`,
        });
        return;
      }
      if (parseError || typeof body !== 'object' || body === null || Array.isArray(body)) throw new KvError(400, 'BadParameter', 'The request body is not a JSON object.');
      const segments = url.pathname.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1));
      const out = this.route(req.method ?? 'GET', host, segments, body as Record<string, unknown>);
      send(out.status, out.body);
    } catch (e) {
      if (e instanceof KvError) send(e.status, { error: { code: e.code, message: e.message, ...(e.inner !== undefined ? { innererror: { code: e.inner } } : {}) } });
      else send(500, { error: { code: 'InternalServerError', message: (e as Error).message } });
    }
  }

  /**
   * Registers an application (service principal) of the tenant at the Entra endpoint: its
   * client secret, or the federated token (workload identity) it may present as assertion.
   */
  addApplication(app: { clientId: string; secret?: string; federatedToken?: string }): void {
    this.apps.set(app.clientId, app);
  }

  private readonly apps = new Map<string, { clientId: string; secret?: string; federatedToken?: string }>();

  /**
   * Microsoft Entra ID's v2.0 endpoints as MSAL uses them for the client-credentials grant
   * ("Microsoft identity platform and the OAuth 2.0 client credentials flow"): instance
   * discovery, the tenant's OpenID configuration, and POST /<tenant>/oauth2/v2.0/token with a
   * client_secret or a client_assertion (workload identity: the federated token itself).
   * Errors as Entra answers them: 400/401 {error, error_description, error_codes}.
   */
  private async handleEntra(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const raw = await readBody(req, MAX_BODY);
    if (raw === undefined) return;
    this.entraRequests.push(`${req.method} ${url.pathname}`);
    const base = `https://login.microsoftonline.com:${this.port}`;
    const reply = (status: number, payload: unknown) => sendJson(res, status, payload, {}, 'application/json; charset=utf-8');
    if (this.stalled) return;
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts.join('/') === 'common/discovery/instance') {
      return reply(200, {
        tenant_discovery_endpoint: `${base}/${this.tenantId}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: 'login.microsoftonline.com', preferred_cache: 'login.windows.net', aliases: ['login.microsoftonline.com', 'login.windows.net'] }],
      });
    }
    const tenant = parts[0];
    if (req.method === 'GET' && parts.slice(1).join('/') === 'v2.0/.well-known/openid-configuration') {
      return reply(200, {
        token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
        issuer: `https://login.microsoftonline.com/${tenant}/v2.0`,
        jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      });
    }
    if (req.method === 'POST' && parts.slice(1).join('/') === 'oauth2/v2.0/token') {
      const form = new URLSearchParams(raw.toString('utf8'));
      const fail = (status: number, error: string, code: number, description: string) =>
        reply(status, { error, error_description: `AADSTS${code}: ${description}`, error_codes: [code], timestamp: new Date().toISOString() });
      if (tenant !== this.tenantId) return fail(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
      if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      const app = this.apps.get(form.get('client_id') ?? '');
      if (app === undefined) return fail(400, 'unauthorized_client', 700016, `Application with identifier '${form.get('client_id')}' was not found in the directory.`);
      const assertion = form.get('client_assertion');
      const ok = assertion !== null
        ? form.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' && app.federatedToken !== undefined && assertion === app.federatedToken
        : app.secret !== undefined && form.get('client_secret') === app.secret;
      if (!ok) return fail(401, 'invalid_client', 7000215, 'Invalid client secret or assertion provided.');
      const scope = form.get('scope') ?? '';
      const resource = scope.split(' ').find((x) => x.endsWith('/.default'))?.replace(/\/\.default$/, '');
      if (resource === undefined) return fail(400, 'invalid_scope', 1002012, 'The provided value for scope is not valid.');
      const token = `kvtest.${randomBytes(24).toString('base64url')}`;
      this.tokens.set(token, resource);
      this.tokenRequests++;
      return reply(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
    }
    reply(404, { error: 'not_found', error_description: `${req.method} ${url.pathname}` });
  }

  /** What the Entra endpoint was asked, in order ("POST /<tenant>/oauth2/v2.0/token"). */
  readonly entraRequests: string[] = [];

  /** App Service managed identity: GET ?api-version=2019-08-01&resource=… with X-IDENTITY-HEADER. */
  private handleMsi(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, payload: unknown) => sendJson(res, status, payload);
    if (this.stalled) return;
    if (req.headers['x-identity-header'] !== this.identityHeader) return reply(401, { statusCode: 401, message: 'X-IDENTITY-HEADER is missing or wrong' });
    if (url.searchParams.get('api-version') !== '2019-08-01') return reply(400, { statusCode: 400, message: 'api-version 2019-08-01 is required' });
    const resource = url.searchParams.get('resource');
    if (resource === null || resource === '') return reply(400, { statusCode: 400, message: 'resource is required' });
    const token = `kvtest.${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, resource.replace(/\/$/, ''));
    this.tokenRequests++;
    reply(200, {
      access_token: token,
      expires_on: String(now() + 3600),
      resource,
      token_type: 'Bearer',
      client_id: url.searchParams.get('client_id') ?? '7dd7250b-6c47-4ad9-b6b0-0c6e0c3b0d6a',
    });
  }
}
