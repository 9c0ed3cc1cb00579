// Single sign-on for administrators through the corporate IdP (issue 14 §4): OpenID Connect
// 1.0 with `jose` doing the JOSE work and this file doing the protocol, which is small:
//
// - Bearer tokens on the admin API (scripts, kmipctl --token): a JWT whose signature verifies
//   against the issuer's JWKS (fetched from its discovery document, cached; a token signed
//   with a key id not in the cache makes one refetch, so a key rotation at the IdP needs no
//   restart), whose `iss` is the configured issuer, whose `aud` holds sso.audience, and whose
//   `exp` has not passed (RFC 9068 §4, RFC 7519 §7.2).
// - The console's login: authorization code flow with PKCE S256 (OIDC Core §3.1, RFC 7636).
//   `state` binds the callback to the browser that started it (a Lax cookie: the callback is a
//   cross-site navigation from the IdP), `nonce` binds the ID token to this login (OIDC Core
//   §3.1.3.7 checks 2, 3, 9, 11), and the result is a server-side session: the browser holds
//   only a random id in an HttpOnly, Secure, SameSite=Strict cookie, and logout deletes the
//   session here, so a copied cookie is worthless after logout or expiry.
//
// What a person may do comes from one claim mapped by the operator (src/policy/sso-claims.ts).
// Every refusal is an SsoRefusal with a one-line reason; the admin API audits it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import type { SsoConfig } from '../config/index.ts';
import { roleFromClaims, type SsoRole } from '../policy/sso-claims.ts';

/** Clock skew allowed between the IdP and this server on exp/nbf/iat. */
export const SSO_CLOCK_TOLERANCE_SECONDS = 30;
/** Discovery, JWKS, token and userinfo calls: an IdP that does not answer is an error, not a hang. */
export const SSO_HTTP_TIMEOUT_MS = 10_000;
/** A JWKS is refetched at least this often (so a key the IdP withdrew stops verifying). */
export const SSO_JWKS_MAX_AGE_MS = 10 * 60_000;
/** At most one JWKS refetch per this interval for unknown key ids: a flood of forged kids cannot make us hammer the IdP. */
export const SSO_JWKS_COOLDOWN_MS = 30_000;
/** A login must come back from the IdP within this time. */
export const SSO_LOGIN_TTL_MS = 10 * 60_000;
/** Logins in flight; more is a flood of /auth/login (each costs a map entry until it expires). */
export const SSO_MAX_PENDING_LOGINS = 1000;
/** Console sessions held at once (memory bound). */
export const SSO_MAX_SESSIONS = 10_000;
/** Asymmetric signatures only: a symmetric (HS*) token could be forged by anyone holding the client secret, and `none` by anyone. */
export const SSO_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Longest bearer token read (a JWT with a few groups is a few KB). */
export const SSO_MAX_TOKEN_LENGTH = 16 * 1024;

/** The session cookie: __Host- makes the browser refuse it unless Secure, Path=/ and no Domain. */
export const SSO_SESSION_COOKIE = '__Host-openkcm-session';
/** The login cookie that carries `state` to the callback. */
export const SSO_LOGIN_COOKIE = '__Host-openkcm-login';

/** A refused sign-in, token or session: HTTP status and a one-line reason for the caller and the audit trail. */
export class SsoRefusal extends Error {
  override readonly name = 'SsoRefusal';
  constructor(readonly status: 401 | 403 | 503, message: string, readonly who?: string) {
    super(message);
  }
}

/** Who a verified token or session stands for. */
export interface SsoPrincipal {
  /** The IdP's `sub`. */
  subject: string;
  /** email, preferred_username or name, when the IdP sent one (for people reading the audit trail). */
  name?: string;
  role: SsoRole['role'];
  tenant: string;
  via: 'bearer' | 'session';
  /** Seconds since the epoch when the token or session ends. */
  expiresAt: number;
}

export interface SsoSettings extends Omit<SsoConfig, 'clientSecretEnv' | 'clientSecretFile'> {
  clientSecret?: string;
}

interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
}

interface PendingLogin {
  nonce: string;
  verifier: string;
  returnTo: string;
  expires: number;
}

interface Session extends SsoPrincipal {
  idToken: string;
}

/**
 * The client secret from its reference (config sso.clientSecretEnv / sso.clientSecretFile).
 * `env` is handed in: only src/cli reads the process environment.
 */
export function resolveSsoSettings(config: SsoConfig, env: NodeJS.ProcessEnv): SsoSettings {
  const { clientSecretEnv, clientSecretFile, ...rest } = config;
  let clientSecret: string | undefined;
  if (clientSecretEnv !== undefined) {
    clientSecret = env[clientSecretEnv];
    if (clientSecret === undefined || clientSecret === '') {
      throw new Error(`sso.clientSecretEnv names ${clientSecretEnv}, which is not set (or empty)`);
    }
  } else if (clientSecretFile !== undefined) {
    try {
      clientSecret = readFileSync(clientSecretFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`cannot read sso.clientSecretFile ${clientSecretFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (clientSecret === '') throw new Error(`sso.clientSecretFile ${clientSecretFile} is empty`);
  }
  return { ...rest, ...(clientSecret !== undefined ? { clientSecret } : {}) };
}

const b64url = (b: Buffer) => b.toString('base64url');
const random = () => b64url(randomBytes(32));

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A path on this server to go back to after login; anything else (another host, `//host`) is an open redirect. */
export function safeReturnPath(p: string | null | undefined, fallback: string): string {
  if (!p || !p.startsWith('/') || p.startsWith('//') || p.startsWith('/\\') || /[\r\n]/.test(p)) return fallback;
  return p;
}

/** jose's verification errors as one-line reasons a person can act on. */
function reasonOf(e: unknown, expected: { issuer: string; audience: string }): string {
  if (e instanceof joseErrors.JWTExpired) return `the token expired (exp ${String(e.payload.exp)}, now ${Math.floor(Date.now() / 1000)})`;
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return `the token's audience ${JSON.stringify(e.payload.aud)} does not include "${expected.audience}"`;
    if (e.claim === 'iss') return `the token's issuer ${JSON.stringify(e.payload.iss)} is not "${expected.issuer}"`;
    return `the token's "${e.claim}" claim is refused: ${e.reason === 'missing' ? 'missing' : e.message}`;
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature does not verify with the issuer\'s key';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'the token is signed with a key the issuer does not publish';
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that is not accepted (asymmetric signatures only)';
  if (e instanceof joseErrors.JWKSTimeout) return 'the issuer\'s key set did not arrive in time';
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return 'the token is not a well-formed signed JWT';
  return `the token cannot be verified: ${(e as Error).message}`;
}

export interface OidcSsoOptions {
  settings: SsoSettings;
  logger: Logger;
  /** For tests of key rotation: a shorter JWKS refetch cooldown than SSO_JWKS_COOLDOWN_MS. */
  jwksCooldownMs?: number;
}

/** The IdP side of the admin API: bearer verification, the login flow, and the sessions. */
export class OidcSso {
  readonly settings: SsoSettings;
  private readonly log: Logger;
  private readonly jwksCooldownMs: number;
  private metadata: Promise<{ meta: Metadata; jwks: JWTVerifyGetKey }> | undefined;
  private readonly pending = new Map<string, PendingLogin>();
  private readonly sessions = new Map<string, Session>();
  private defaultRedirect: string | undefined;

  constructor(opts: OidcSsoOptions) {
    this.settings = opts.settings;
    this.log = opts.logger.child({ component: 'sso' });
    this.jwksCooldownMs = opts.jwksCooldownMs ?? SSO_JWKS_COOLDOWN_MS;
  }

  /** The admin listener's address, for the default redirect URL (config sso.redirectUrl unset). */
  listeningOn(host: string, port: number): void {
    const h = host.includes(':') ? `[${host}]` : host;
    this.defaultRedirect = `https://${h}:${port}/auth/callback`;
  }

  get redirectUrl(): string {
    const r = this.settings.redirectUrl ?? this.defaultRedirect;
    if (r === undefined) throw new SsoRefusal(503, 'the admin listener has no address yet');
    return r;
  }

  /** Discovery (OIDC Discovery §4); a failure is retried by the next caller, not cached. */
  discover(): Promise<{ meta: Metadata; jwks: JWTVerifyGetKey }> {
    this.metadata ??= this.fetchMetadata().catch((e: unknown) => {
      this.metadata = undefined;
      throw e;
    });
    return this.metadata;
  }

  private async fetchMetadata(): Promise<{ meta: Metadata; jwks: JWTVerifyGetKey }> {
    const issuer = this.settings.issuer;
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let body: Record<string, unknown>;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(SSO_HTTP_TIMEOUT_MS), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json() as Record<string, unknown>;
    } catch (e) {
      throw new SsoRefusal(503, `the identity provider's discovery document ${url} cannot be read: ${(e as Error).message}`);
    }
    // OIDC Discovery §4.3: the issuer in the document must be exactly the one configured.
    if (body.issuer !== issuer) {
      throw new SsoRefusal(503, `the discovery document at ${url} names the issuer ${JSON.stringify(body.issuer)}, not the configured "${issuer}" (check sso.issuer, including a trailing slash)`);
    }
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof body[k] !== 'string') throw new SsoRefusal(503, `the discovery document at ${url} has no ${k}`);
    }
    const meta = body as unknown as Metadata;
    const jwks = createRemoteJWKSet(new URL(meta.jwks_uri), {
      timeoutDuration: SSO_HTTP_TIMEOUT_MS, cooldownDuration: this.jwksCooldownMs, cacheMaxAge: SSO_JWKS_MAX_AGE_MS,
    });
    this.endSession = meta.end_session_endpoint;
    this.log.info({ event: 'sso_discovered', issuer, jwksUri: meta.jwks_uri }, 'identity provider discovered');
    return { meta, jwks };
  }

  private async verifyJwt(token: string, audience: string): Promise<JWTPayload> {
    const { jwks } = await this.discover();
    // Issuer first, from the unverified claims: a token of another IdP is refused for what it
    // is, without fetching keys for it. Only refusals come from unverified data.
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new SsoRefusal(401, 'the token is not a well-formed signed JWT');
    }
    if (iss !== this.settings.issuer) {
      throw new SsoRefusal(401, `the token's issuer ${JSON.stringify(iss)} is not "${this.settings.issuer}"`);
    }
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: this.settings.issuer, audience, algorithms: SSO_ALGORITHMS,
        clockTolerance: SSO_CLOCK_TOLERANCE_SECONDS, requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (e) {
      throw new SsoRefusal(401, reasonOf(e, { issuer: this.settings.issuer, audience }), subjectOf(token));
    }
  }

  private principal(claims: Record<string, unknown>, via: SsoPrincipal['via'], expiresAt: number): SsoPrincipal {
    const subject = String(claims.sub);
    const name = [claims.email, claims.preferred_username, claims.name].find((v): v is string => typeof v === 'string' && v !== '');
    const d = roleFromClaims(claims, this.settings.roleClaim, this.settings.roles);
    const who = name ? `${subject} (${name})` : subject;
    if (!d.allowed) throw new SsoRefusal(403, d.reason, who);
    return { subject, ...(name ? { name } : {}), role: d.role.role, tenant: d.role.tenant, via, expiresAt };
  }

  /** A bearer token on the admin API: verified, then mapped to a role. */
  async verifyBearer(token: string): Promise<SsoPrincipal> {
    if (token.length > SSO_MAX_TOKEN_LENGTH) throw new SsoRefusal(401, `the token is longer than ${SSO_MAX_TOKEN_LENGTH} characters`);
    const payload = await this.verifyJwt(token, this.settings.audience);
    return this.principal(payload, 'bearer', payload.exp!);
  }

  /** Starts a login: where to send the browser, and the `state` for the login cookie. */
  async beginLogin(returnTo: string): Promise<{ location: string; state: string }> {
    const { meta } = await this.discover();
    const now = Date.now();
    for (const [k, p] of this.pending) if (p.expires <= now) this.pending.delete(k);
    if (this.pending.size >= SSO_MAX_PENDING_LOGINS) throw new SsoRefusal(503, 'too many logins in progress; try again in a few minutes');
    const state = random();
    const nonce = random();
    const verifier = random();
    this.pending.set(state, { nonce, verifier, returnTo, expires: now + SSO_LOGIN_TTL_MS });
    const u = new URL(meta.authorization_endpoint);
    u.searchParams.set('response_type', 'code');
    u.searchParams.set('client_id', this.settings.clientId);
    u.searchParams.set('redirect_uri', this.redirectUrl);
    u.searchParams.set('scope', this.settings.scopes);
    u.searchParams.set('state', state);
    u.searchParams.set('nonce', nonce);
    // RFC 7636 §4.2: S256 only; `plain` would give the verifier away in the front channel.
    u.searchParams.set('code_challenge', b64url(createHash('sha256').update(verifier).digest()));
    u.searchParams.set('code_challenge_method', 'S256');
    return { location: u.toString(), state };
  }

  /**
   * The callback: checks state against the login cookie, redeems the code with the verifier,
   * verifies the ID token (nonce included), maps the role, opens a session.
   */
  async completeLogin(query: URLSearchParams, cookieState: string | undefined): Promise<{ sessionId: string; principal: SsoPrincipal; returnTo: string }> {
    const state = query.get('state') ?? '';
    const p = this.pending.get(state);
    if (!p || p.expires <= Date.now()) {
      throw new SsoRefusal(401, 'unknown or expired login; start again at /auth/login');
    }
    // One use, whatever happens next.
    this.pending.delete(state);
    if (cookieState === undefined || !sameText(cookieState, state)) {
      throw new SsoRefusal(401, 'this login was not started by this browser (login cookie missing or different); start again at /auth/login');
    }
    const error = query.get('error');
    if (error !== null) {
      const d = query.get('error_description');
      throw new SsoRefusal(401, `the identity provider refused the login: ${error}${d ? ` (${d.replace(/[\r\n]+/g, ' ').slice(0, 200)})` : ''}`);
    }
    const code = query.get('code');
    if (!code) throw new SsoRefusal(401, 'the callback carries no authorization code');
    const { meta } = await this.discover();
    const tokens = await this.redeem(meta, code, p.verifier);
    const idToken = tokens.id_token;
    if (typeof idToken !== 'string') throw new SsoRefusal(401, 'the identity provider answered without an ID token (is "openid" among sso.scopes?)');
    const claims = await this.verifyJwt(idToken, this.settings.clientId);
    // OIDC Core §3.1.3.7: nonce as sent; with several audiences, azp must be us.
    if (typeof claims.nonce !== 'string' || !sameText(claims.nonce, p.nonce)) throw new SsoRefusal(401, 'the ID token\'s nonce is not the one of this login (replayed token?)');
    if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp !== this.settings.clientId) {
      throw new SsoRefusal(401, `the ID token has several audiences and azp ${JSON.stringify(claims.azp)} is not "${this.settings.clientId}"`);
    }
    let all: Record<string, unknown> = claims;
    // Many IdPs put groups and roles in the userinfo answer only (OIDC Core §5.4 when
    // the access token is issued): ask it when the ID token lacks the role claim.
    if (roleFromClaims(claims, this.settings.roleClaim, this.settings.roles).allowed === false
      && meta.userinfo_endpoint && typeof tokens.access_token === 'string') {
      const info = await this.userinfo(meta.userinfo_endpoint, tokens.access_token);
      // OIDC Core §5.3.2: a userinfo answer about someone else is not used.
      if (info.sub === claims.sub) all = { ...info, ...claims, [this.settings.roleClaim]: info[this.settings.roleClaim] ?? claims[this.settings.roleClaim] };
    }
    const ttl = this.settings.sessionTtlSeconds;
    const principal = this.principal(all, 'session', Math.floor(Date.now() / 1000) + ttl);
    const now = Date.now();
    if (this.sessions.size >= SSO_MAX_SESSIONS) {
      for (const [k, s] of this.sessions) if (s.expiresAt * 1000 <= now) this.sessions.delete(k);
      if (this.sessions.size >= SSO_MAX_SESSIONS) throw new SsoRefusal(503, 'too many open console sessions; try again later');
    }
    const sessionId = random();
    this.sessions.set(sessionId, { ...principal, idToken });
    return { sessionId, principal, returnTo: p.returnTo };
  }

  private async redeem(meta: Metadata, code: string, verifier: string): Promise<Record<string, unknown>> {
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: this.redirectUrl, code_verifier: verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (this.settings.clientSecret !== undefined) {
      // RFC 6749 §2.3.1: client_secret_basic, each part form-encoded first.
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      headers.authorization = `Basic ${Buffer.from(`${enc(this.settings.clientId)}:${enc(this.settings.clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', this.settings.clientId);
    }
    let res: Response;
    try {
      res = await fetch(meta.token_endpoint, { method: 'POST', headers, body: form, signal: AbortSignal.timeout(SSO_HTTP_TIMEOUT_MS), redirect: 'error' });
    } catch (e) {
      throw new SsoRefusal(503, `the identity provider's token endpoint cannot be reached: ${(e as Error).message}`);
    }
    const body = await res.json().catch(() => ({})) as Record<string, unknown>;
    if (!res.ok) {
      const d = typeof body.error_description === 'string' ? ` (${body.error_description.slice(0, 200)})` : '';
      throw new SsoRefusal(401, `the identity provider refused the authorization code: ${typeof body.error === 'string' ? body.error : `HTTP ${res.status}`}${d}`);
    }
    return body;
  }

  private async userinfo(endpoint: string, accessToken: string): Promise<Record<string, unknown>> {
    try {
      const res = await fetch(endpoint, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' }, signal: AbortSignal.timeout(SSO_HTTP_TIMEOUT_MS), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // A signed or encrypted userinfo answer (application/jwt) is not read: the role must then be in the ID token.
      if (!(res.headers.get('content-type') ?? '').includes('json')) return {};
      return await res.json() as Record<string, unknown>;
    } catch (e) {
      this.log.warn({ event: 'sso_userinfo_failed', err: (e as Error).message }, 'userinfo request failed');
      return {};
    }
  }

  /** The session of a cookie value, if it is open and not expired. */
  session(id: string): SsoPrincipal {
    const s = this.sessions.get(id);
    if (!s) throw new SsoRefusal(401, 'the console session is unknown or was logged out; sign in again at /auth/login');
    if (s.expiresAt * 1000 <= Date.now()) {
      this.sessions.delete(id);
      throw new SsoRefusal(401, 'the console session expired; sign in again at /auth/login', s.name ? `${s.subject} (${s.name})` : s.subject);
    }
    const { idToken: _drop, ...principal } = s;
    return principal;
  }

  /** Ends a session here (the cookie alone is worth nothing after this); answers the IdP's end-session URL when it has one. */
  logout(id: string): { principal?: SsoPrincipal; endSessionUrl?: string } {
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    if (!s) return {};
    const { idToken, ...principal } = s;
    let endSessionUrl: string | undefined;
    if (this.endSession !== undefined) {
      const u = new URL(this.endSession);
      u.searchParams.set('id_token_hint', idToken);
      u.searchParams.set('client_id', this.settings.clientId);
      endSessionUrl = u.toString();
    }
    return { principal, ...(endSessionUrl ? { endSessionUrl } : {}) };
  }

  private endSession: string | undefined;

  /** Fetches discovery now (at start), so a wrong issuer shows in the log at once; failures are retried later. */
  async warmUp(): Promise<void> {
    try {
      await this.discover();
    } catch (e) {
      this.log.warn({ event: 'sso_discovery_failed', err: (e as Error).message }, `single sign-on: ${(e as Error).message} (retried on the next login or token)`);
    }
  }

  /** Sessions open now (for tests and status). */
  get openSessions(): number {
    return this.sessions.size;
  }
}

/** The unverified `sub` of a refused token, for the audit record only (never for a decision). */
function subjectOf(token: string): string | undefined {
  try {
    const sub = decodeJwt(token).sub;
    return typeof sub === 'string' ? `${sub} (unverified)` : undefined;
  } catch {
    return undefined;
  }
}
