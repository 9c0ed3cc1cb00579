// The admin API (issue 7, "Admin interface"; DESIGN.md §3): JSON over HTTPS with mutual TLS,
// on its own listener (default 127.0.0.1:5697, never the KMIP port). The client certificate
// is resolved to an identity exactly as on the KMIP side; the `admin` role may call it for
// every tenant, the `tenant-admin` role for its own tenant (issue 16 §2), and the `auditor`
// role may read the audit log. Every change is an audit record, success
// or failure, and so is every refused caller. Routes live in src/server/admin/*.ts.
//
// Error shape for every failure: HTTP status + `{ "error": { "code", "message", "hint" } }`.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { KmipError } from '../kmip/errors.ts';
// errors.ts, not index.ts: the admin API also runs in the CMK, which loads no L1 code (issue 10).
import { L1Error } from '../hsm/errors.ts';
import { LinkGoneError } from '../link/changes.ts';
import { LinkInputError } from '../link/ingest.ts';
import { resolveIdentity } from '../policy/access.ts';
import { AdminError, compile, ForbiddenError, fromGovernanceError, match, readJsonBody, type CompiledRoute, type Route } from './admin/http.ts';
import { requireScope } from './admin/common.ts';
import { adminScopeOf, type AdminScope } from '../policy/admin-scope.ts';
import { AUDITOR_ROLE } from '../policy/roles.ts';
import type { AdminCaller, AdminContext, AdminDeps, AuditPort, PeerCertificateInfo } from './admin/context.ts';
import { tenantRoutes } from './admin/tenants.ts';
import { serviceRoutes } from './admin/services.ts';
import { identityRoutes } from './admin/identities.ts';
import { certificateRoutes } from './admin/certificates.ts';
import { roleRoutes } from './admin/roles.ts';
import { grantRoutes } from './admin/grants.ts';
import { l1Routes } from './admin/l1.ts';
import { auditRoutes } from './admin/audit.ts';
import { statusRoutes } from './admin/status.ts';
import { linkRoutes } from './admin/link.ts';
import { keyRoutes } from './admin/keys.ts';
import { loadConsole } from './console.ts';
import { bearerOf, callerFromPrincipal, handleAuthRequest, label as authLabel, parseCookies } from './admin/auth.ts';
import { SSO_SESSION_COOKIE, SsoRefusal } from './sso.ts';

export type * from './admin/context.ts';
export { AdminError } from './admin/http.ts';

/** The admin API's own port: next to the KMIP port, loopback only by default. */
export const DEFAULT_ADMIN_PORT = 5697;
export const DEFAULT_ADMIN_HOST = '127.0.0.1';
/** A request (headers and body) must arrive within this time (slow-loris on the admin port). */
export const ADMIN_REQUEST_TIMEOUT_MS = 30_000;
/** Concurrent admin connections: operators and scripts, not traffic. */
export const ADMIN_MAX_CONNECTIONS = 64;

export const ADMIN_ROUTES: readonly Route[] = [
  ...statusRoutes, ...tenantRoutes, ...serviceRoutes, ...identityRoutes, ...certificateRoutes,
  ...roleRoutes, ...grantRoutes, ...l1Routes, ...auditRoutes, ...linkRoutes, ...keyRoutes,
];

export type AdminPem = { caFile: string; certFile: string; keyFile: string } | { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };

export interface AdminServerOptions {
  listen: { host: string; port: number };
  tls: AdminPem;
  deps: AdminDeps;
  logger: Logger;
  /** Concurrent connections (default ADMIN_MAX_CONNECTIONS; a CMK adds room for its cores' streams). */
  maxConnections?: number;
  /** Serve the web console under /console/ (issue 14 §3; default true). */
  console?: boolean;
}

export interface RunningAdminServer {
  address(): { host: string; port: number };
  close(): Promise<void>;
}

/** What the admin API knows of a peer certificate (the shape identities are resolved from). */
export function peerCertificateInfo(cert: PeerCertificate): PeerCertificateInfo {
  const sans = (cert.subjectaltname ?? '').split(/,\s*/).map((s) => s.trim()).filter(Boolean);
  const subject = Object.entries(cert.subject ?? {}).reverse()
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(', ');
  return {
    fingerprint: createHash('sha256').update(cert.raw).digest('hex'),
    subject,
    sans,
    sanUris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    serial: (cert.serialNumber ?? '').toLowerCase().replace(/^0+(?=.)/, ''),
  };
}

// Text that came from a certificate or a request goes to the audit module as is: it escapes
// control, format and bidi characters reversibly and cuts long values with a marker
// (src/audit/record.ts), so a hostile subject can neither fail the append nor be mangled.
function appendAudit(audit: AuditPort, log: Logger, rec: Parameters<AuditPort['append']>[0]): void {
  const safe = { ...rec };
  try {
    audit.append(safe);
  } catch (e) {
    try {
      // A detail refused by the audit's content rules must not lose the record itself.
      audit.append({ ...safe, detail: null });
    } catch {
      log.error({ err: e, event: 'audit_failed', operation: rec.operation }, 'could not write the audit record of an admin request');
    }
  }
}

/**
 * The default caller resolution: the governance store's identities through the same
 * resolveIdentity the KMIP side uses (fingerprint, then OpenKCM SAN URI, then subject
 * patterns). A revoked identity is no caller at all.
 */
export function callerResolver(governance: Pick<AdminDeps['governance'], 'listIdentities'> & Partial<Pick<AdminDeps['governance'], 'findCoreIdentity'>>): AdminDeps['resolveCaller'] {
  return async (cert) => {
    const i = resolveIdentity(cert, await governance.listIdentities());
    if (i) {
      if (i.revoked) return undefined;
      return { id: i.id, tenant: i.tenant, service: i.service, role: i.role, fingerprint: cert.fingerprint, subject: cert.subject };
    }
    // A core node certificate (issue 10): registered by fingerprint when it was issued.
    const c = await governance.findCoreIdentity?.(cert.fingerprint);
    if (!c || c.revoked) return undefined;
    return { id: c.id, tenant: '', service: '', role: 'core', region: c.region, node: c.node, fingerprint: cert.fingerprint, subject: cert.subject };
  };
}

const callerLabel = (c: AdminCaller) => (c.via === 'bearer' || c.via === 'session'
  ? `${c.id}${c.subject !== c.id.slice(4) ? ` (${c.subject})` : ''} via ${c.via}`
  : `${c.role === 'core' ? `core ${c.node} (region ${c.region}) ` : ''}${c.id} sha256:${c.fingerprint}`);

function send(res: ServerResponse, status: number, body: unknown): void {
  if (status === 204) {
    res.writeHead(204, { 'cache-control': 'no-store' });
    res.end();
    return;
  }
  const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    // `cert issue` answers with a private key: nothing may keep a copy.
    'cache-control': 'no-store',
  });
  res.end(text);
}

function toAdminError(e: unknown, log: Logger): AdminError {
  if (e instanceof AdminError) return e;
  const g = fromGovernanceError(e);
  if (g) return g;
  if (e instanceof KmipError) {
    // From the hierarchy: typically "tenant … is sealed". KMIP reasons are not HTTP codes.
    return new AdminError('conflict', e.message, 'check the tenant with: kmipctl tenant show <tenant>');
  }
  if (e instanceof L1Error) return new AdminError('l1-failed', e.message);
  if (e instanceof LinkGoneError) return new AdminError('gone', e.message, 'load GET /v1/link/snapshot again and follow the stream after its seq');
  if (e instanceof LinkInputError) return new AdminError(e.kind === 'forbidden' ? 'forbidden' : 'bad-request', e.message);
  log.error({ err: e, event: 'admin_internal_error' }, 'admin request failed');
  return new AdminError('internal', 'internal error (see the server log)');
}

/**
 * Who is calling, or undefined once the refusal is sent (401/403, one audit record for every
 * credential refused). A client certificate of our CA comes first, as before SSO existed;
 * without one (possible only when SSO is configured: the listener demands a certificate
 * otherwise) a bearer token, then a console session cookie.
 */
async function authenticate(
  deps: AdminDeps, log: Logger, req: IncomingMessage, res: ServerResponse, method: string, path: string,
  peer: PeerCertificateInfo | undefined, untrusted: string | undefined,
): Promise<AdminCaller | undefined> {
  const refuse = (status: 401 | 403, identity: string, message: string, hint: string) => {
    appendAudit(deps.audit, log, {
      kind: 'auth-failure', identity, operation: 'admin.authenticate', result: 'failure', reason: 'PermissionDenied', detail: `${method} ${path}: ${message}`,
    });
    log.info({ event: 'admin_auth_refused', method, path, status, reason: message }, 'admin request refused');
    send(res, status, { error: { code: status === 401 ? 'unauthenticated' : 'forbidden', message, hint } });
    return undefined;
  };
  if (peer && untrusted !== undefined) {
    // Only reachable with SSO on (rejectUnauthorized off): a certificate we do not trust is
    // refused, never ignored in favour of a token that came with it.
    return refuse(401, `${peer.subject} sha256:${peer.fingerprint}`, `client certificate not trusted: ${untrusted}`, 'use a certificate issued by the server\'s CA, or none and sign in');
  }
  if (peer) {
    let caller: AdminCaller | undefined;
    try {
      caller = await deps.resolveCaller(peer);
    } catch (e) {
      // The governance store cannot answer (PostgreSQL down, database closed): a clear 503,
      // never a stack trace, and nobody is let in on a guess.
      log.error({ err: e, event: 'admin_resolve_failed' }, 'cannot resolve the caller: governance store unavailable');
      send(res, 503, { error: { code: 'unavailable', message: 'the governance store cannot be read right now', hint: 'retry shortly; see the server log' } });
      return undefined;
    }
    if (!caller) {
      return refuse(403, `${peer.subject} sha256:${peer.fingerprint}`, `certificate sha256:${peer.fingerprint} is not a registered identity (or it was revoked)`,
        'use an admin certificate, e.g. one issued with: kmipctl cert issue --role admin');
    }
    return caller;
  }
  const sso = deps.sso;
  if (!sso) {
    send(res, 401, { error: { code: 'unauthenticated', message: 'no client certificate', hint: 'connect with --cert and --key' } });
    return undefined;
  }
  const bearer = bearerOf(req);
  const sid = parseCookies(req.headers.cookie).get(SSO_SESSION_COOKIE);
  if (bearer === undefined && sid === undefined) {
    // No credential at all is no attempt to audit (a browser before sign-in); logged only.
    log.info({ event: 'admin_auth_refused', method, path, status: 401, reason: 'no credential' }, 'admin request without credentials');
    send(res, 401, { error: { code: 'unauthenticated', message: 'no client certificate, bearer token or console session', hint: 'sign in at /auth/login, send Authorization: Bearer <token>, or connect with --cert and --key' } });
    return undefined;
  }
  try {
    const p = bearer !== undefined
      ? (bearer === '' ? (() => { throw new SsoRefusal(401, 'the Authorization header is not "Bearer <token>"'); })() : await sso.verifyBearer(bearer))
      : sso.session(sid!);
    // A session rides on a cookie the browser adds by itself: a change must come from a page
    // of this listener (SameSite=Strict already keeps other sites' requests without it).
    const origin = req.headers.origin;
    if (p.via === 'session' && method !== 'GET' && origin !== undefined && origin !== `https://${req.headers.host ?? ''}`) {
      return refuse(403, authLabel(p), `cross-origin ${method} refused (Origin ${origin})`, 'use the console served by this listener');
    }
    return callerFromPrincipal(p);
  } catch (e) {
    if (!(e instanceof SsoRefusal)) throw e;
    if (e.status === 503) {
      log.warn({ event: 'sso_unavailable', reason: e.message }, 'bearer token cannot be checked: identity provider unavailable');
      send(res, 503, { error: { code: 'unavailable', message: e.message, hint: 'retry shortly, or use an admin client certificate' } });
      return undefined;
    }
    const via = bearer !== undefined ? 'bearer token' : 'console session';
    return refuse(e.status, e.who ? `sso:${e.who} via ${bearer !== undefined ? 'bearer' : 'session'}` : `sso (${via})`, `${via} refused: ${e.message}`,
      bearer !== undefined ? 'get a fresh token for this server\'s audience from the identity provider' : 'sign in again at /auth/login');
  }
}

/** Handles one request; exported for tests that drive the router without TLS. */
export async function handleAdminRequest(
  routes: readonly CompiledRoute[], deps: AdminDeps, log: Logger,
  req: IncomingMessage, res: ServerResponse, peer: PeerCertificateInfo | undefined,
  /** Why the TLS layer does not trust the peer certificate (SSO on: the listener lets it through). */
  untrusted?: string,
): Promise<void> {
  const method = req.method ?? 'GET';
  let path: string;
  let query: URLSearchParams;
  try {
    const url = new URL(req.url ?? '/', 'https://admin.invalid');
    path = url.pathname;
    query = url.searchParams;
  } catch {
    send(res, 400, { error: { code: 'bad-request', message: 'request target is not a valid URL path' } });
    return;
  }
  if (path.startsWith('/auth/')) {
    await handleAuthRequest({
      sso: deps.sso, log, send,
      audit: (rec) => appendAudit(deps.audit, log, rec),
      certificateCaller: async () => (peer && !untrusted ? deps.resolveCaller(peer) : undefined),
    }, req, res, method, path, query);
    return;
  }
  const caller = await authenticate(deps, log, req, res, method, path, peer, untrusted);
  if (!caller) return;
  let route: CompiledRoute | undefined;
  let params: Record<string, string> = {};
  const mutating = method !== 'GET';
  try {
    const m = match(routes, method, path);
    route = m.route;
    params = m.params;
    const r = route;
    // Issue 10: a core certificate reaches the link routes and nothing else; nothing else reaches them.
    if (r.access === 'link' || caller.role === 'core') {
      if (r.access !== 'link' || caller.role !== 'core') {
        throw new ForbiddenError(`role "${caller.role}" may not call ${r.name}`, r.access === 'link'
          ? 'the link routes need a core certificate: kmipctl cert issue --role core --region <region>'
          : 'a core certificate reaches only the link routes (/v1/link/…)');
      }
    }
    // Issue 16 §2: the global admin administers every tenant, a tenant-admin its own only,
    // the auditor reads the audit trail. Anything else is refused here, before the handler.
    const administers = adminScopeOf(caller);
    const auditorRead = caller.role === AUDITOR_ROLE && r.access === 'audit-read';
    const coreLink = caller.role === 'core' && r.access === 'link';
    if (!administers && !auditorRead && !coreLink) {
      throw new ForbiddenError(`role "${caller.role}" may not call ${r.name}`, r.access === 'audit-read'
        ? 'this needs the admin, tenant-admin or auditor role' : r.access === 'tenant'
          ? 'the admin API needs a certificate with the admin role (or tenant-admin, for its own tenant)'
          : 'the admin API needs a certificate with the admin role');
    }
    const scope: AdminScope = administers ?? { kind: 'global' };
    if (scope.kind === 'tenant' && r.access === 'admin') {
      throw new ForbiddenError(`role "tenant-admin" may not call ${r.name}: it concerns every tenant, not only "${scope.tenant}"`,
        'ask an administrator of all tenants (role admin)');
    }
    const body = await readJsonBody(req, r.maxBodyBytes);
    if (scope.kind === 'tenant' && r.scope !== undefined && typeof r.scope === 'object') {
      const named = 'param' in r.scope ? params[r.scope.param] : body[r.scope.body];
      // A body field that is missing or not a string is left to the handler's 400.
      if (typeof named === 'string') requireScope({ scope }, named);
    }
    const ctx: AdminContext = {
      ...deps,
      caller,
      scope,
      headers: req.headers,
      audited(operation, f) {
        appendAudit(deps.audit, log, {
          kind: f.kind ?? 'admin', identity: callerLabel(caller), tenant: f.tenant ?? null, service: f.service ?? null,
          operation, objectId: f.objectId ?? null, result: 'success', detail: f.detail ?? null,
        });
      },
    };
    const out = await r.handler(ctx, { params, query, body });
    if ('takeover' in out) {
      log.info({ event: 'admin_request', route: r.name, method, path, status: 200, caller: caller.id, stream: true }, 'admin stream opened');
      out.takeover(res);
      return;
    }
    log.info({ event: 'admin_request', route: r.name, method, path, status: out.status ?? 200, caller: caller.id }, 'admin request');
    send(res, out.status ?? 200, out.body);
  } catch (e) {
    const err = toAdminError(e, log);
    if (err instanceof ForbiddenError) {
      // Every refusal is one audit record (issue 16 §2), whoever refused: the role check
      // above, the tenant scope, or a handler's own scope decision.
      appendAudit(deps.audit, log, {
        kind: 'auth-failure', identity: callerLabel(caller), tenant: caller.tenant || null, service: caller.service || null,
        operation: route?.name ?? 'admin.request', result: 'failure', reason: 'PermissionDenied', detail: `${method} ${path}: ${err.message}`,
      });
    } else if (route && mutating) {
      // A refused change is a decision worth keeping too.
      appendAudit(deps.audit, log, {
        kind: 'admin', identity: callerLabel(caller), tenant: params.tenant ?? null, service: params.service ?? null,
        operation: route.name, result: 'failure',
        reason: err.code === 'not-found' ? 'ItemNotFound' : err.code === 'bad-request' ? 'InvalidField' : err.code === 'internal' ? 'GeneralFailure' : null,
        detail: err.message,
      });
    }
    log.info({ event: 'admin_request', route: route?.name, method, path, status: err.status, code: err.code, caller: caller.id }, 'admin request refused');
    send(res, err.status, { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } });
  }
}

function readPem(tls: AdminPem) {
  if ('ca' in tls) return { ca: tls.ca, cert: tls.cert, key: tls.key };
  const read = (what: string, p: string) => {
    try {
      return readFileSync(p);
    } catch (e) {
      throw new Error(`cannot read the admin TLS ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return { ca: read('CA file', tls.caFile), cert: read('certificate', tls.certFile), key: read('private key', tls.keyFile) };
}

export async function startAdminServer(opts: AdminServerOptions): Promise<RunningAdminServer> {
  const log = opts.logger.child({ component: 'admin' });
  const routes = ADMIN_ROUTES.map(compile);
  // The web console's static files (src/server/console.ts): read once, served before routing.
  const consoleFiles = opts.console === false ? undefined : loadConsole();
  const server: Server = createServer({
    ...readPem(opts.tls),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    // Mutual TLS: a peer without a certificate of our CA never reaches a route. With single
    // sign-on (issue 14 §4) a browser has no certificate: the handshake lets it through and
    // authenticate() demands a token or session instead, and refuses an untrusted certificate.
    rejectUnauthorized: opts.deps.sso === undefined,
    requestTimeout: ADMIN_REQUEST_TIMEOUT_MS,
    headersTimeout: ADMIN_REQUEST_TIMEOUT_MS / 2,
  }, (req, res) => {
    if (consoleFiles?.handle(req, res)) return;
    const socket = req.socket as TLSSocket;
    const cert = socket.getPeerCertificate(false);
    const peer = cert && cert.raw && cert.raw.length > 0 ? peerCertificateInfo(cert) : undefined;
    const untrusted = peer && !socket.authorized ? String(socket.authorizationError ?? 'not verified') : undefined;
    handleAdminRequest(routes, opts.deps, log, req, res, peer, untrusted).catch((e) => {
      log.error({ err: e }, 'admin request handler failed');
      if (!res.headersSent) send(res, 500, { error: { code: 'internal', message: 'internal error (see the server log)' } });
      else res.destroy();
    });
  });
  server.maxConnections = opts.maxConnections ?? ADMIN_MAX_CONNECTIONS;
  server.on('tlsClientError', (err, socket) => {
    log.info({ event: 'admin_handshake_failed', remote: `${socket.remoteAddress}:${socket.remotePort}`, err }, 'admin TLS handshake refused');
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new Error(`cannot listen (admin API) on ${opts.listen.host}:${opts.listen.port}: ${e.message}`));
    server.once('error', onError);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', onError);
      server.on('error', (err) => log.error({ err }, 'admin listener error'));
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  log.info({ event: 'admin_listening', host: addr.address, port: addr.port, sso: opts.deps.sso?.settings.issuer ?? null }, 'admin API ready');
  if (opts.deps.sso) {
    opts.deps.sso.listeningOn(addr.address, addr.port);
    // Not awaited: an IdP that is down must not keep the admin API (and mTLS) from starting.
    void opts.deps.sso.warmUp();
  }
  let closing: Promise<void> | undefined;
  return {
    address: () => ({ host: addr.address, port: addr.port }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
