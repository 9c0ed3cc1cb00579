// The planes of the end-to-end test and of bench:planes (issue 10 §5): a CMK; region eu with
// two core nodes (a1, a2) on one PostgreSQL vault; region us with one core (b1) on SQLite.
// Tenants: acme (eu), globex (us), initech (eu and us: served by every core). Each tenant has
// service `web`, an application certificate of role app, and a software L1 key file of its
// own (development provider: the cores open it, the CMK never does).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.ts';
import { issuedPair, startCmk, startCore, type CmkHandle, type CoreHandle, type CoreSpec } from './harness.ts';

export interface Planes {
  root: string;
  cmk: CmkHandle;
  pg: PostgresCluster;
  cores: CoreHandle[];
  /** CA of the whole PKI (CMK admin listener, cores' KMIP listeners, every issued certificate). */
  caFile: string;
  tenants: { eu: string; us: string; shared: string };
  apps: { eu: { cert: string; key: string }; us: { cert: string; key: string }; shared: { cert: string; key: string } };
  l1KeyFile(tenant: string): string;
  core(name: string): CoreHandle;
  restartCore(name: string, over?: Partial<CoreSpec>): Promise<CoreHandle>;
  stopCmk(): Promise<void>;
  startCmkAgain(): Promise<void>;
  /** After a kill: the shared tenant's L1 pointer set again (the cores re-enable and unseal it). */
  restoreShared(): Promise<void>;
  close(): Promise<void>;
}

async function ok(p: Promise<{ code: number | null; stdout: string; stderr: string }>, what: string): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function setupPlanes(root: string, opts: { leaseMs?: number; shared?: boolean; failOpenB1?: boolean } = {}): Promise<Planes> {
  const pg = await startPostgres();
  let cmk: CmkHandle | undefined;
  const cores: CoreHandle[] = [];
  try {
    cmk = await startCmk(root);
    const c = cmk;
    const tenants = { eu: 'acme', us: 'globex', shared: 'initech' };
    const regions: Record<string, string[]> = { acme: ['eu'], globex: ['us'], initech: ['eu', 'us'] };
    const l1KeyFile = (t: string) => join(root, 'l1', `${t}.key`);
    mkdirSync(join(root, 'l1'), { recursive: true });
    const apps = {} as Planes['apps'];
    for (const [slot, t] of Object.entries(tenants) as [keyof typeof tenants, string][]) {
      await c.admin.post('/v1/tenants', { name: t, regions: regions[t] });
      await c.admin.post(`/v1/tenants/${t}/services`, { name: 'web' });
      await c.admin.put(`/v1/tenants/${t}/l1`, { provider: 'software', config: { keyFile: l1KeyFile(t) } });
      const out = join(root, 'apps', t);
      await ok(c.kmipctl(['cert', 'issue', '--tenant', t, '--service', 'web', '--role', 'app', '--out', out]), `cert issue for ${t}`);
      apps[slot] = issuedPair(out);
    }
    const vault = await pg.createDatabase('vault_eu');
    const specs: CoreSpec[] = [
      { name: 'a1', region: 'eu', linkDir: join(root, 'links', 'a1'), databaseUrl: vault },
      { name: 'a2', region: 'eu', linkDir: join(root, 'links', 'a2'), databaseUrl: vault },
      // b1 runs with failMode open (the e2e lease test checks both behaviours).
      { name: 'b1', region: 'us', linkDir: join(root, 'links', 'b1'), ...(opts.failOpenB1 ? { failMode: 'open' as const } : {}) },
    ];
    for (const s of specs) {
      await ok(c.kmipctl(['cert', 'issue', '--role', 'core', '--region', s.region, '--name', s.name, '--out', s.linkDir]), `core certificate for ${s.name}`);
      if (opts.leaseMs !== undefined) s.leaseMs = opts.leaseMs;
    }
    // a1 first: it creates the vault schema; a2 then finds it.
    cores.push(await startCore(root, c, specs[0]!));
    cores.push(...(await Promise.all(specs.slice(1).map((s) => startCore(root, c, s)))));
    const planes: Planes = {
      root, cmk: c, pg, cores, caFile: join(c.certs, 'ca.crt'), tenants, apps, l1KeyFile,
      core: (name) => {
        const h = planes.cores.find((x) => x.spec.name === name);
        if (!h) throw new Error(`no core ${name}`);
        return h;
      },
      async restartCore(name, over = {}) {
        const i = planes.cores.findIndex((x) => x.spec.name === name);
        const old = planes.cores[i]!;
        await old.proc.stop();
        const h = await startCore(root, planes.cmk, { ...old.spec, ...over });
        planes.cores[i] = h;
        return h;
      },
      async stopCmk() {
        await planes.cmk.proc.stop();
      },
      async startCmkAgain() {
        planes.cmk = await startCmk(root, planes.cmk.port);
      },
      async restoreShared() {
        await planes.cmk.admin.put(`/v1/tenants/${tenants.shared}/l1`, { provider: 'software', config: { keyFile: l1KeyFile(tenants.shared) } });
      },
      async close() {
        await Promise.all(planes.cores.map((x) => x.proc.stop().catch(() => undefined)));
        await planes.cmk.proc.stop().catch(() => undefined);
        await pg.stop();
      },
    };
    return planes;
  } catch (e) {
    await Promise.all(cores.map((x) => x.proc.stop().catch(() => undefined)));
    await cmk?.proc.stop().catch(() => undefined);
    await pg.stop();
    throw e;
  }
}
