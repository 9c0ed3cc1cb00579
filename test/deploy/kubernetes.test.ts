// Issue 14 §5: the Kubernetes example (deploy/kubernetes/openkcm.yaml) is what the API
// server would accept, and it keeps the promises the README makes about it. Two checks of
// the schema, since no cluster runs here: kubernetes-models' validators (the Kubernetes
// OpenAPI schemas: types, required fields, formats) and, because those schemas allow
// unknown fields, a TypeScript compile of every document against kubernetes-models'
// declarations as an object literal, where a misspelt field is an excess-property error.
// Both are shown to reject a broken document.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { loadConfig } from '../../src/config/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FILE = join(root, 'deploy', 'kubernetes', 'openkcm.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'openkcm-k8s-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Obj = Record<string, any>;
const MODELS = {
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/StatefulSet': { model: StatefulSet, module: 'kubernetes-models/apps/v1/StatefulSet', type: 'IStatefulSet' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
} as const;
type Kind = keyof typeof MODELS;

function documents(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`YAML: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS() as Obj);
}
const kindOf = (o: Obj) => `${o.apiVersion}/${o.kind}` as Kind;
const docs = documents(readFileSync(FILE, 'utf8'));
const byKind = (k: Kind) => docs.filter((d) => kindOf(d) === k);

/** kubernetes-models' schema validation; returns the error message or undefined. */
function schemaError(o: Obj): string | undefined {
  const entry = MODELS[kindOf(o)];
  if (!entry) return `no model for ${kindOf(o)}`;
  try {
    new (entry.model as unknown as new (d: Obj) => { validate(): void })(o).validate();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** tsc on the documents as typed object literals; resolves with its diagnostics ('' when clean). */
async function typeErrors(objs: Obj[], name: string): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const lines = objs.map((o, i) => {
    const e = MODELS[kindOf(o)];
    return `import type { ${e.type} as T${i} } from '${e.module}';\nexport const d${i}: T${i} = ${JSON.stringify(o, null, 2)};`;
  });
  writeFileSync(join(dir, 'manifests.ts'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: true, types: [] }, files: ['manifests.ts'] }));
  try {
    await promisify(execFile)(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir });
    return '';
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

describe('deploy/kubernetes/openkcm.yaml', () => {
  it('holds a ConfigMap, a Service, the StatefulSet of openkcm serve and an application Deployment', () => {
    expect(docs.map(kindOf)).toEqual(['v1/ConfigMap', 'v1/Service', 'apps/v1/StatefulSet', 'apps/v1/Deployment']);
  });

  it('every document passes the Kubernetes schema; a broken one does not (positive control)', () => {
    for (const d of docs) expect(schemaError(d), `${kindOf(d)} ${d.metadata?.name}`).toBeUndefined();
    const broken = structuredClone(byKind('apps/v1/StatefulSet')[0]!);
    broken.spec.replicas = 'one';
    delete broken.spec.template.spec.containers[0].name;
    expect(schemaError(broken)).toMatch(/replicas|name/);
  });

  it('every document type-checks as a Kubernetes object with no unknown field; a misspelt field fails (positive control)', async () => {
    expect(await typeErrors(docs, 'real')).toBe('');
    const typo = structuredClone(byKind('apps/v1/Deployment')[0]!);
    typo.spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem = true;
    expect(await typeErrors([typo], 'typo')).toMatch(/readOnlyRootFilesytem/);
  }, 180_000);

  it('runs openkcm serve non-root, read-only, without capabilities, on its own volume, with the ConfigMap the server accepts', () => {
    const sts = byKind('apps/v1/StatefulSet')[0]!;
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0];
    expect(c.args).toEqual(['serve', '--config', '/etc/openkcm/openkcm.json']);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.volumeMounts.map((m: Obj) => m.mountPath)).toContain('/var/lib/openkcm');
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    const cfgFile = join(tmp, 'openkcm.json');
    writeFileSync(cfgFile, byKind('v1/ConfigMap')[0]!.data['openkcm.json']);
    const cfg = loadConfig({ flags: { config: cfgFile }, env: {}, cwd: '/' });
    expect(cfg.dataDir).toBe('/var/lib/openkcm');
    expect(cfg.tls.caFile).toBe('/etc/openkcm/tls/ca.crt');
    expect(cfg.listen).toEqual({ host: '0.0.0.0', port: 5696 });
  });

  it('runs the gateway as a native sidecar of the application, on the pod loopback only, towards the Service', () => {
    const pod = byKind('apps/v1/Deployment')[0]!.spec.template.spec;
    const gw = pod.initContainers.find((c: Obj) => c.name === 'openkcm-gateway');
    expect(gw.restartPolicy).toBe('Always');
    expect(gw.args[0]).toBe('gateway');
    expect(gw.args).toContain('--listen=127.0.0.1:8100');
    const svc = byKind('v1/Service')[0]!;
    expect(gw.args).toContain(`--core=${svc.metadata.name}.${svc.metadata.namespace}.svc:${svc.spec.ports[0].port}`);
    expect(pod.containers.find((c: Obj) => c.name === 'app').env).toContainEqual({ name: 'DATA_KEY_API', value: 'http://127.0.0.1:8100' });
  });
});
