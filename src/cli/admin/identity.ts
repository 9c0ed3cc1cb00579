// kmipctl identity add|list|set-services|remove
import { readFileSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { CliError, EXIT_USAGE, table } from '../output.ts';
import { seg } from './connection.ts';
import { exactlyOne, when, type Action } from './common.ts';

type Obj = Record<string, unknown>;

/** SHA-256 fingerprint and serial of a PEM certificate file (what the server computes for the peer). */
export function certificateFacts(file: string): { fingerprint: string; serial: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(file));
  } catch (e) {
    throw new CliError(EXIT_USAGE, `cannot read a certificate from ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'give a PEM certificate file');
  }
  return { fingerprint: createHash('sha256').update(cert.raw).digest('hex'), serial: cert.serialNumber.toLowerCase() };
}

/** `--also-services a,b`: a gateway's other services (issue 11 §1). */
export function alsoServicesFlag(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const list = String(v).split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (list.length === 0) throw new CliError(EXIT_USAGE, '--also-services needs at least one service', 'e.g. --also-services orders,search');
  return list;
}

const matchText = (m: Obj) => (m.kind === 'fingerprint' ? `sha256:${String(m.sha256).slice(0, 16)}…` : m.kind === 'subject' ? `subject ${String(m.pattern)}` : `uri ${String(m.uri)}`);

/** What the kmipctl identity commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  add: async (ctx, _a, o) => {
    const how = exactlyOne(o, ['fingerprint', 'certFile', 'subject', 'sanUri']);
    const body: Obj = { tenant: o.tenant, service: o.service, role: o.role };
    const also = alsoServicesFlag(o.alsoServices);
    if (also !== undefined) body.alsoServices = also;
    if (how === 'certFile') {
      // The certificate itself: registered by its fingerprint, and checkable by the server
      // (a tenant-admin's must not already stand for another tenant's identity).
      certificateFacts(String(o.certFile));
      body.certificate = readFileSync(String(o.certFile), 'utf8');
    } else body[how] = o[how];
    const r = await ctx.admin().post<{ identity: Obj }>('/v1/identities', body);
    ctx.out.print(r, (d) => `added identity ${String(d.identity.id)} (${matchText(d.identity.match as Obj)} → ${String(o.tenant)}/${String(o.service)} role ${String(o.role)})\n`);
  },
  list: async (ctx, _a, o) => {
    const r = await ctx.admin().get<{ identities: Obj[] }>(`/v1/identities${o.tenant ? `?tenant=${seg(String(o.tenant))}` : ''}`);
    ctx.out.print(r, (d) => table(d.identities.map((i) => ({ ...i, match: matchText(i.match as Obj), revoked: i.revoked ? 'REVOKED' : '', createdAt: when(i.createdAt) })),
      ['id', 'tenant', 'service', 'role', 'match', ['alsoServices', 'ALSO'], ['certSerial', 'SERIAL'], 'revoked', ['createdAt', 'CREATED']]));
  },
  setServices: async (ctx, [id, services], o) => {
    if ((services === undefined) === (o.none !== true)) {
      throw new CliError(EXIT_USAGE, 'give the services (comma-separated) or --none, not both and not neither', 'e.g. kmipctl identity set-services ID orders,search');
    }
    const list = services === undefined ? [] : alsoServicesFlag(services)!;
    const r = await ctx.admin().put<{ identity: Obj }>(`/v1/identities/${seg(id!)}/services`, { alsoServices: list });
    const also = (r.identity.alsoServices as string[] | undefined) ?? [];
    ctx.out.print(r, () => `identity ${id} acts for ${String(r.identity.service)}${also.length ? ` and ${also.join(', ')}` : ' only'}\n`);
  },
  remove: async (ctx, [id]) => {
    const r = await ctx.admin().delete<{ removed: Obj }>(`/v1/identities/${seg(id!)}`);
    ctx.out.print(r, () => `removed identity ${id}\n`);
  },
} satisfies Record<string, Action>;
