// The sign-in routes of the admin listener (issue 14 §4), reached without any credential:
//
//   GET  /auth/login     → 302 to the IdP (authorization code + PKCE), sets the login cookie
//   GET  /auth/callback  ← the IdP sends the browser back here; opens a console session
//   POST /auth/logout    ends the session here (and answers the IdP's end-session URL)
//   GET  /auth/me        JSON: is SSO configured, who is calling, with which role
//
// They are not in the route table (src/server/admin.ts): those routes need an authenticated
// caller, these make one. Cookies and redirects are theirs alone.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { SSO_LOGIN_COOKIE, SSO_LOGIN_TTL_MS, SSO_SESSION_COOKIE, SsoRefusal, safeReturnPath, type SsoPrincipal } from '../sso.ts';
import type { AdminCaller, AuditPort, SsoPort } from './context.ts';

/** Where the browser goes after sign-in when /auth/login names no `return` path: the console. */
export const DEFAULT_RETURN_PATH = '/console/';

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    // The first wins: a cookie injected later under the same name does not replace ours.
    if (!out.has(name)) out.set(name, part.slice(i + 1).trim());
  }
  return out;
}

/** The token of `Authorization: Bearer …` (RFC 6750 §2.1), undefined without that header, '' when malformed. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(h.trim());
  return m ? m[1]! : '';
}

/** A signed-in person as an admin API caller (src/server/admin/context.ts AdminCaller). */
export function callerFromPrincipal(p: SsoPrincipal): AdminCaller {
  return { id: `sso:${p.subject}`, tenant: p.tenant, service: '', role: p.role, fingerprint: '', subject: p.name ?? p.subject, via: p.via };
}

const cookie = (name: string, value: string, attrs: string) => `${name}=${value}; Path=/; HttpOnly; Secure; ${attrs}`;

export interface AuthRouteEnv {
  sso: SsoPort | undefined;
  log: Logger;
  audit(rec: Parameters<AuditPort['append']>[0]): void;
  send(res: ServerResponse, status: number, body: unknown): void;
  /** The caller by client certificate, when the request came with one (for /auth/me). */
  certificateCaller(): Promise<AdminCaller | undefined>;
}

export async function handleAuthRequest(
  env: AuthRouteEnv, req: IncomingMessage, res: ServerResponse, method: string, path: string, query: URLSearchParams,
): Promise<void> {
  const { sso } = env;
  const routes: Record<string, string> = { '/auth/login': 'GET', '/auth/callback': 'GET', '/auth/logout': 'POST', '/auth/me': 'GET' };
  const want = routes[path];
  if (want === undefined) {
    env.send(res, 404, { error: { code: 'not-found', message: `no such path: ${path}`, hint: 'the sign-in routes are /auth/login, /auth/callback, /auth/logout and /auth/me' } });
    return;
  }
  if (method !== want) {
    res.setHeader('allow', want);
    env.send(res, 405, { error: { code: 'method-not-allowed', message: `${method} is not allowed on ${path}`, hint: `use ${want}` } });
    return;
  }
  if (path === '/auth/me') {
    await me(env, req, res);
    return;
  }
  if (!sso) {
    env.send(res, 404, { error: { code: 'not-found', message: 'single sign-on is not configured on this server', hint: 'set sso.issuer, sso.clientId and sso.roles (README "Single sign-on"), or use an admin client certificate' } });
    return;
  }
  const cookies = parseCookies(req.headers.cookie);
  try {
    if (path === '/auth/login') {
      const { location, state } = await sso.beginLogin(safeReturnPath(query.get('return'), DEFAULT_RETURN_PATH));
      // Lax, not Strict: the callback is a top-level navigation coming from the IdP's site.
      res.writeHead(302, {
        location, 'cache-control': 'no-store',
        'set-cookie': cookie(SSO_LOGIN_COOKIE, state, `SameSite=Lax; Max-Age=${SSO_LOGIN_TTL_MS / 1000}`),
      });
      res.end();
      return;
    }
    if (path === '/auth/callback') {
      const { sessionId, principal, returnTo } = await sso.completeLogin(query, cookies.get(SSO_LOGIN_COOKIE));
      env.audit({
        kind: 'admin', identity: label(principal), tenant: principal.tenant || null, operation: 'admin.login', result: 'success',
        detail: `console session opened through ${sso.settings.issuer} as ${principal.role}${principal.tenant ? ` of ${principal.tenant}` : ''}`,
      });
      env.log.info({ event: 'sso_login', subject: principal.subject, role: principal.role, tenant: principal.tenant }, 'console sign-in');
      // A page, not a 302: the browser arrived here from the IdP's site, and a redirect in that
      // same navigation would still be cross-site, so the SameSite=Strict session cookie
      // would not go with it. The refresh below is a new navigation started by this site.
      const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${escapeHtml(returnTo)}">`
        + `<title>Signed in</title></head><body><p>Signed in. <a href="${escapeHtml(returnTo)}">Continue</a></p></body></html>`;
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'", 'referrer-policy': 'no-referrer',
        'set-cookie': [
          cookie(SSO_SESSION_COOKIE, sessionId, `SameSite=Strict; Max-Age=${sso.settings.sessionTtlSeconds}`),
          cookie(SSO_LOGIN_COOKIE, '', 'SameSite=Lax; Max-Age=0'),
        ],
      });
      res.end(html);
      return;
    }
    // POST /auth/logout
    const id = cookies.get(SSO_SESSION_COOKIE);
    const out = id ? sso.logout(id) : {};
    if (out.principal) {
      env.audit({ kind: 'admin', identity: label(out.principal), tenant: out.principal.tenant || null, operation: 'admin.logout', result: 'success', detail: 'console session ended' });
    }
    res.setHeader('set-cookie', cookie(SSO_SESSION_COOKIE, '', 'SameSite=Strict; Max-Age=0'));
    env.send(res, 200, { loggedOut: out.principal !== undefined, ...(out.endSessionUrl ? { endSessionUrl: out.endSessionUrl } : {}) });
  } catch (e) {
    if (!(e instanceof SsoRefusal)) throw e;
    if (e.status !== 503) {
      env.audit({
        kind: 'auth-failure', identity: e.who ? `sso:${e.who} via login` : 'sso (console login)', operation: 'admin.login', result: 'failure', reason: 'PermissionDenied',
        detail: `${method} ${path}: ${e.message}`,
      });
    }
    env.log.info({ event: 'sso_login_refused', path, status: e.status, reason: e.message }, 'sign-in refused');
    const headers = path === '/auth/callback' ? { 'set-cookie': cookie(SSO_LOGIN_COOKIE, '', 'SameSite=Lax; Max-Age=0') } : {};
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    env.send(res, e.status, { error: { code: e.status === 503 ? 'unavailable' : e.status === 403 ? 'forbidden' : 'unauthenticated', message: e.message, hint: HINTS[e.status] } });
  }
}

/** GET /auth/me: the console asks it first, so it answers 200 for everyone, signed in or not. */
async function me(env: AuthRouteEnv, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { sso } = env;
  const ssoInfo = sso
    ? { configured: true, issuer: sso.settings.issuer, login: '/auth/login', logout: '/auth/logout' }
    : { configured: false };
  const anonymous = (reason?: string) => env.send(res, 200, { sso: ssoInfo, authenticated: false, ...(reason ? { reason } : {}) });
  const cert = await env.certificateCaller();
  if (cert) {
    env.send(res, 200, { sso: ssoInfo, authenticated: true, via: 'certificate', subject: cert.subject, id: cert.id, role: cert.role, tenant: cert.tenant || null });
    return;
  }
  if (!sso) return anonymous();
  try {
    const bearer = bearerOf(req);
    const sid = parseCookies(req.headers.cookie).get(SSO_SESSION_COOKIE);
    let p: SsoPrincipal;
    if (bearer !== undefined) p = await sso.verifyBearer(bearer);
    else if (sid) p = sso.session(sid);
    else return anonymous();
    env.send(res, 200, {
      sso: ssoInfo, authenticated: true, via: p.via, subject: p.subject, name: p.name ?? null, role: p.role, tenant: p.tenant || null,
      expiresAt: new Date(p.expiresAt * 1000).toISOString(),
    });
  } catch (e) {
    if (e instanceof SsoRefusal) return anonymous(e.message);
    throw e;
  }
}

const HINTS: Record<SsoRefusal['status'], string> = {
  401: 'start again at /auth/login',
  403: 'ask the administrator of your identity provider for a group that sso.roles maps to a role',
  503: 'retry shortly; an admin client certificate works meanwhile',
};

export function label(p: SsoPrincipal): string {
  return `sso:${p.subject}${p.name ? ` (${p.name})` : ''} via ${p.via}`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
