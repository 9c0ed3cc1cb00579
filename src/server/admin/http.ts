// Plumbing of the admin API (issue 7, "Admin interface"): route table, JSON bodies with a
// size limit, field validation that names the field, and the one error shape every route
// answers with: `{ "error": { "code", "message", "hint" } }` and a matching HTTP status.
import type { IncomingMessage } from 'node:http';
import type { AdminContext } from './context.ts';

/** Largest request body accepted: admin requests are small; a bigger one is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;

export type ErrorCode =
  | 'bad-request' | 'unauthenticated' | 'forbidden' | 'not-found' | 'exists' | 'conflict'
  | 'method-not-allowed' | 'too-large' | 'unsupported-media-type' | 'unavailable' | 'l1-failed' | 'internal' | 'gone';

const STATUS: Record<ErrorCode, number> = {
  'bad-request': 400, unauthenticated: 401, forbidden: 403, 'not-found': 404, 'method-not-allowed': 405,
  exists: 409, conflict: 409, 'too-large': 413, 'unsupported-media-type': 415, 'l1-failed': 502, unavailable: 503, internal: 500, gone: 410,
};

/** A failure a route reports to the caller: code, what went wrong, and what to do about it. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly status: number;
  constructor(readonly code: ErrorCode, message: string, readonly hint?: string) {
    super(message);
    this.status = STATUS[code];
  }
}

export const badRequest = (message: string, hint?: string) => new AdminError('bad-request', message, hint);

/** A refused caller (403). The admin API writes one `auth-failure` audit record for it. */
export class ForbiddenError extends AdminError {
  constructor(message: string, hint?: string) {
    super('forbidden', message, hint);
  }
}

/** The governance store's errors (GovernanceError(code: not-found | exists | invalid)) mapped to API errors, by shape. */
export function fromGovernanceError(e: unknown): AdminError | undefined {
  if (!(e instanceof Error) || e.name !== 'GovernanceError') return undefined;
  const code = (e as Error & { code?: unknown }).code;
  if (code === 'not-found') return new AdminError('not-found', e.message, 'list what exists with the matching "list" command');
  if (code === 'exists') return new AdminError('exists', e.message, 'choose another name, or use the existing one');
  if (code === 'invalid') return new AdminError('bad-request', e.message);
  return new AdminError('conflict', e.message);
}

/**
 * Who may call a route (issue 16 §2; src/policy/admin-scope.ts):
 * - 'admin': the global admin only (what belongs to no tenant or to all of them);
 * - 'tenant': the global admin, and a tenant-admin within its own tenant (see TenantScope);
 * - 'audit-read': also the auditor (audit reads; a tenant-admin sees its tenant's records);
 * - 'link': a core node certificate only, and nothing else may call it (issue 10).
 */
export type Access = 'admin' | 'tenant' | 'audit-read' | 'link';

/**
 * Where a route names the tenant it acts on, so that the dispatcher refuses a tenant-admin's
 * call about another tenant before the handler runs (and before any existence check, so the
 * answer is the same 403 whether that tenant exists or not):
 * - { param }: a path parameter; { body }: a field of the JSON body;
 * - 'filter': the handler narrows what it reads or does to ctx.scope (lists, audit reads);
 * - 'none': concerns no tenant (whoami).
 */
export type TenantScope = { param: string } | { body: string } | 'filter' | 'none';

export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
}

export type RouteResult = {
  status?: number;
  body: unknown;
} | {
  /** The route writes the response itself (a Server-Sent Events stream). */
  takeover(res: import('node:http').ServerResponse): void;
};

export interface Route {
  /** Token for the audit trail and logs, e.g. 'tenant.create'. */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with `:name` parameters, e.g. `/v1/tenants/:tenant/services`. */
  path: string;
  /** Who may call it. */
  access: Access;
  /** Required unless access is 'admin': how a tenant-admin's call is kept to its tenant. */
  scope?: TenantScope;
  /** Largest request body for this route (default MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  handler(ctx: AdminContext, req: RouteRequest): Promise<RouteResult> | RouteResult;
}

export interface CompiledRoute extends Route {
  regex: RegExp;
  names: string[];
}

export function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const pattern = route.path.replace(/:([a-zA-Z]+)/g, (_m, n: string) => {
    names.push(n);
    return '([^/]+)';
  });
  return { ...route, regex: new RegExp(`^${pattern}$`), names };
}

/** The route for (method, path); 404 when no path matches, 405 when only the method differs. */
export function match(routes: readonly CompiledRoute[], method: string, path: string): { route: CompiledRoute; params: Record<string, string> } {
  let pathMatched = false;
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (r.method !== method) continue;
    const params: Record<string, string> = {};
    for (let i = 0; i < r.names.length; i++) {
      try {
        params[r.names[i]!] = decodeURIComponent(m[i + 1]!);
      } catch {
        throw badRequest(`path segment "${m[i + 1]}" is not valid percent-encoding`);
      }
    }
    return { route: r, params };
  }
  if (pathMatched) {
    const allowed = routes.filter((r) => r.regex.test(path)).map((r) => r.method);
    throw new AdminError('method-not-allowed', `${method} is not allowed on ${path}`, `use ${[...new Set(allowed)].join(' or ')}`);
  }
  throw new AdminError('not-found', `no such API path: ${path}`, 'see README.md "Governance and kmipctl" for the routes under /v1');
}

/** Reads a JSON object body (empty body = {}), refusing anything over `max` bytes before buffering it all. */
export async function readJsonBody(req: IncomingMessage, max = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new AdminError('too-large', `request body of ${declared} bytes is over the limit of ${max}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new AdminError('too-large', `request body is over the limit of ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new AdminError('unsupported-media-type', `request body must be application/json, got ${type || 'no Content-Type'}`, 'send the header Content-Type: application/json');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badRequest('request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

// ------------------------------------------------------------------ field validation
// Each getter names the field in its error, so a 400 says exactly what to fix.

/** Names of tenants, services, roles: what the governance store and the identity URI accept. */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const NAME_HELP = "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters";

export function str(body: Record<string, unknown>, field: string, opts: { optional?: boolean; max?: number } = {}): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw badRequest(`field "${field}" is required`);
  }
  if (typeof v !== 'string' || v === '') throw badRequest(`field "${field}" must be a non-empty string`);
  if (v.length > (opts.max ?? 1024)) throw badRequest(`field "${field}" is longer than ${opts.max ?? 1024} characters`);
  return v;
}

export function reqStr(body: Record<string, unknown>, field: string, max?: number): string {
  return str(body, field, max === undefined ? {} : { max })!;
}

export function name(body: Record<string, unknown>, field: string): string {
  const v = reqStr(body, field, 63);
  if (!NAME_RE.test(v)) throw badRequest(`field "${field}": "${v}" is not a valid name (${NAME_HELP})`);
  return v;
}

export function pathName(params: Record<string, string>, field: string): string {
  const v = params[field] ?? '';
  if (!NAME_RE.test(v)) throw badRequest(`${field} "${v}" in the path is not a valid name (${NAME_HELP})`);
  return v;
}

export function strList(body: Record<string, unknown>, field: string, opts: { optional?: boolean } = {}): string[] | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw badRequest(`field "${field}" is required (an array of strings)`);
  }
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x !== '' && x.length <= 128)) {
    throw badRequest(`field "${field}" must be a non-empty array of non-empty strings`);
  }
  return v as string[];
}

export function int(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw badRequest(`field "${field}" must be a whole number from ${min} to ${max}`);
  return v;
}

export function oneOf<T extends string>(body: Record<string, unknown>, field: string, allowed: readonly T[], opts: { optional?: boolean } = {}): T | undefined {
  const v = str(body, field, opts);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw badRequest(`field "${field}" must be one of ${allowed.join(', ')}, not "${v}"`);
  return v as T;
}

export function obj(body: Record<string, unknown>, field: string): Record<string, unknown> {
  const v = body[field];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`field "${field}" is required (a JSON object)`);
  return v as Record<string, unknown>;
}

/** Refuses fields the route does not know: a misspelt optional field must not be ignored silently. */
export function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw badRequest(`field "${k}" is not known here (known: ${allowed.join(', ') || 'none'})`);
  }
}

export function queryInt(q: URLSearchParams, field: string, dflt: number, min: number, max: number): number {
  const v = q.get(field);
  if (v === null) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw badRequest(`query parameter "${field}" must be a whole number from ${min} to ${max}`);
  return Number(v);
}
