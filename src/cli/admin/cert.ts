// kmipctl cert issue|revoke: certificates from OpenKCM's CA with the identity in a SAN URI.
// `issue` writes the key (0600), the certificate and the CA certificate, and prints a
// PyKMIP configuration that works as is.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError, EXIT_FAILED, EXIT_USAGE, keyValues } from '../output.ts';
import { exactlyOne, positiveInt, type CommandContext, type Action } from './common.ts';
import { alsoServicesFlag, certificateFacts } from './identity.ts';

type Obj = Record<string, unknown>;

interface IssueAnswer {
  identity: Obj;
  certificate: { pem: string; serial: string; fingerprint: string; subject: string; uri: string; notBefore: string; notAfter: string };
  privateKeyPem: string;
  caCertificatePem: string;
  kmip: { host: string; port: number } | null;
}

export function pykmipSnippet(files: { cert: string; key: string; ca: string }, host: string, port: number, section = 'client'): string {
  return [
    `[${section}]`,
    `host=${host}`,
    `port=${port}`,
    `certfile=${files.cert}`,
    `keyfile=${files.key}`,
    `ca_certs=${files.ca}`,
    'cert_reqs=CERT_REQUIRED',
    'ssl_version=PROTOCOL_TLSv1_2',
    'do_handshake_on_connect=True',
    'suppress_ragged_eofs=True',
    '',
  ].join('\n');
}

/** `cert issue --role core --region R [--name N]` (issue 10): writes core.<region>.<node>.key/.crt. */
async function issueCore(ctx: CommandContext, o: Record<string, unknown>): Promise<void> {
  if (o.region === undefined) throw new CliError(EXIT_USAGE, '--role core needs --region <region>', 'a core certificate is bound to one region');
  if (o.tenant !== undefined || o.service !== undefined) throw new CliError(EXIT_USAGE, 'a core certificate has no tenant or service', 'drop --tenant and --service');
  const body: Obj = { role: 'core', region: o.region };
  if (o.name !== undefined) body.node = o.name;
  const days = positiveInt(o.days, '--days', 825);
  if (days !== undefined) body.days = days;
  if (o.cn !== undefined) body.commonName = o.cn;
  if (o.algorithm !== undefined) body.algorithm = o.algorithm;
  const outDir = resolve(String(o.out ?? '.'));
  const base = `core.${String(o.region)}.${String(o.name ?? 'node')}`;
  const planned = { cert: join(outDir, `${base}.crt`), key: join(outDir, `${base}.key`) };
  if (!o.force && o.name !== undefined) {
    for (const f of [planned.cert, planned.key]) {
      if (existsSync(f)) throw new CliError(EXIT_USAGE, `${f} exists already`, 'choose another --out directory, or pass --force to overwrite');
    }
  }
  const r = await ctx.admin().post<IssueAnswer>('/v1/certificates', body);
  const node = String(r.identity.node);
  const stem = `core.${String(o.region)}.${node}`;
  const files = { cert: join(outDir, `${stem}.crt`), key: join(outDir, `${stem}.key`), ca: join(outDir, 'openkcm-ca.crt') };
  writeIssued(outDir, files, r);
  const { privateKeyPem: _k, ...shown } = r;
  ctx.out.print({ ...shown, files }, (d) => [
    keyValues({ identity: d.identity.id, role: 'core', region: d.identity.region, node, uri: d.certificate.uri, serial: d.certificate.serial, expires: d.certificate.notAfter }),
    `\nwritten:\n  ${files.key} (private key, 0600)\n  ${files.cert}\n  ${files.ca}\n`,
    `\nstart the core with: openkcm core --region ${String(o.region)} --cmk <CMK URL> (certificate ${files.cert}, key ${files.key}, CA ${files.ca})\n`,
  ].join(''));
}

/** What the kmipctl cert commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  issue: async (ctx, _a, o) => {
    if (o.role === 'core') return issueCore(ctx, o);
    if (o.region !== undefined || o.name !== undefined) throw new CliError(EXIT_USAGE, '--region and --name are for core node certificates', 'add --role core, or drop them');
    for (const [k, flag] of [['tenant', '--tenant <tenant>'], ['service', '--service <service>'], ['role', '--role <role>']] as const) {
      if (o[k] === undefined) throw new CliError(EXIT_USAGE, `required option '${flag}' not specified`, k === 'role' ? 'e.g. --role app, or --role core --region <region> for a core node' : undefined);
    }
    const outDir = resolve(String(o.out ?? '.'));
    const base = `${String(o.tenant)}.${String(o.service)}`;
    const files = { cert: join(outDir, `${base}.crt`), key: join(outDir, `${base}.key`), ca: join(outDir, 'openkcm-ca.crt') };
    if (!o.force) {
      for (const f of [files.cert, files.key]) {
        if (existsSync(f)) throw new CliError(EXIT_USAGE, `${f} exists already`, 'choose another --out directory, or pass --force to overwrite');
      }
    }
    const body: Obj = { tenant: o.tenant, service: o.service, role: o.role };
    const also = alsoServicesFlag(o.alsoServices);
    if (also !== undefined) body.alsoServices = also;
    const days = positiveInt(o.days, '--days', 825);
    if (days !== undefined) body.days = days;
    if (o.cn !== undefined) body.commonName = o.cn;
    if (o.algorithm !== undefined) body.algorithm = o.algorithm;
    const r = await ctx.admin().post<IssueAnswer>('/v1/certificates', body);
    writeIssued(outDir, files, r);
    const kmip = ctx.flags.kmip !== undefined || !r.kmip ? ctx.settings().kmip : r.kmip;
    const host = kmip.host === '0.0.0.0' || kmip.host === '::' ? '127.0.0.1' : kmip.host;
    const snippet = pykmipSnippet(files, host, kmip.port);
    const { privateKeyPem: _k, ...shown } = r;
    ctx.out.print({ ...shown, files, pykmip: snippet }, (d) => [
      keyValues({ identity: d.identity.id, uri: d.certificate.uri, serial: d.certificate.serial, fingerprint: d.certificate.fingerprint, expires: d.certificate.notAfter }),
      `\nwritten:\n  ${files.key} (private key, 0600)\n  ${files.cert}\n  ${files.ca}\n`,
      '\nPyKMIP (pykmip.conf):\n', snippet.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n'),
    ].join(''));
  },
  revoke: async (ctx, _a, o) => {
    const how = exactlyOne(o, ['serial', 'fingerprint', 'id', 'certFile']);
    const body: Obj = how === 'certFile' ? { fingerprint: certificateFacts(String(o.certFile)).fingerprint } : { [how]: o[how] };
    const r = await ctx.admin().post<{ revoked: Obj[] }>('/v1/certificates/revoke', body);
    ctx.out.print(r, (d) => d.revoked.map((i) => `revoked identity ${String(i.id)} (${String(i.tenant)}/${String(i.service)}${i.certSerial ? `, serial ${String(i.certSerial)}` : ''})\n`).join(''));
  },
} satisfies Record<string, Action>;
/** Writes an issued certificate, its private key and the CA certificate into `outDir`. */
function writeIssued(outDir: string, files: { cert: string; key: string; ca: string }, r: IssueAnswer): void {
  try {
    mkdirSync(outDir, { recursive: true, mode: 0o700 });
    // The private key exists nowhere else: written owner-only before anything is printed.
    writeFileSync(files.key, r.privateKeyPem, { mode: 0o600 });
    writeFileSync(files.cert, r.certificate.pem, { mode: 0o644 });
    writeFileSync(files.ca, r.caCertificatePem, { mode: 0o644 });
  } catch (e) {
    throw new CliError(EXIT_FAILED, `the certificate was issued (serial ${r.certificate.serial}) but writing it failed: ${(e as Error).message}`,
      `revoke it with: kmipctl cert revoke --serial ${r.certificate.serial}, then issue again into a writable --out directory`);
  }
}
