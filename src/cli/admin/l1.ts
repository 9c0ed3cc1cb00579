// kmipctl l1 set|show|remove|check: the tenant's pointer to its root key (BYOK/HYOK).
import { CliError, EXIT_FAILED, EXIT_USAGE, keyValues, table } from '../output.ts';
import { seg } from './connection.ts';
import { when, type Action } from './common.ts';

type Obj = Record<string, unknown>;

/** --config JSON and repeated --set key=value → one configuration object (numbers and booleans typed). */
export function l1Config(o: Record<string, unknown>): Obj | undefined {
  let config: Obj | undefined;
  if (o.config !== undefined) {
    try {
      config = JSON.parse(String(o.config)) as Obj;
    } catch (e) {
      throw new CliError(EXIT_USAGE, `--config is not JSON: ${(e as Error).message}`, `e.g. --config '{"keyId":"arn:aws:kms:…"}'`);
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new CliError(EXIT_USAGE, '--config must be a JSON object');
  }
  for (const kv of (o.set as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new CliError(EXIT_USAGE, `--set "${kv}" is not key=value`, 'e.g. --set tokenLabel=openkcm --set pinEnv=HSM_PIN');
    const k = kv.slice(0, i);
    const v = kv.slice(i + 1);
    config ??= {};
    config[k] = /^\d+$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
  }
  return config;
}

/** What the kmipctl l1 commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  set: async (ctx, [t], o) => {
    const config = l1Config(o);
    if (!config) throw new CliError(EXIT_USAGE, 'give the provider configuration with --config or --set', 'software: --set keyFile=PATH; pkcs11: --set tokenLabel=… --set keyLabel=… --set pinEnv=…; aws-kms: --set keyId=… --set region=…; kmip: --set host=… --set keyUid=… --set caFile=… --set certFile=… --set clientKeyFile=…; vault-transit: --set address=… --set keyName=… --set tokenEnv=…; azure-keyvault: --set vaultUrl=https://….vault.azure.net --set keyName=… --set credentialType=managed-identity|workload-identity|client-secret|client-certificate; gcp-kms: --set keyName=projects/…/cryptoKeys/… --set credentialsFile=…');
    const r = await ctx.admin().put<{ pointer: Obj; l1: Obj | null; status: Obj | null; verifiedBy?: string }>(`/v1/tenants/${seg(t!)}/l1`, { provider: o.provider, config });
    ctx.out.print(r, (d) => (d.l1 && d.status
      ? `tenant ${t}: L1 set to ${String(d.l1.provider)} ${String(d.l1.keyRef)} (${String(d.status.state)})\n`
      // On a CMK (issue 10): stored and published, the cores open the L1 and report.
      : `tenant ${t}: L1 pointer (${String(d.pointer.provider)}) stored and published; the cores verify it — see: kmipctl l1 check ${t}\n`));
  },
  show: async (ctx, [t]) => {
    const r = await ctx.admin().get<{ pointer: Obj | null; hierarchy: Obj | null }>(`/v1/tenants/${seg(t!)}/l1`);
    ctx.out.print(r, (d) => (d.pointer ? keyValues(d.pointer) : `tenant ${t} has no L1 pointer of its own (the server's default L1 serves it)\n`)
      + (d.hierarchy ? `sealed: ${d.hierarchy.sealed ? `yes (${String(d.hierarchy.reason ?? '')})` : 'no'}\n` : ''));
  },
  remove: async (ctx, [t]) => {
    const r = await ctx.admin().delete<{ status: Obj | null }>(`/v1/tenants/${seg(t!)}/l1`);
    ctx.out.print(r, () => `tenant ${t}: L1 pointer removed, tenant sealed\n`);
  },
  check: async (ctx, [t], o) => {
    const config = l1Config(o);
    const body = o.provider !== undefined ? { provider: o.provider, config: config ?? {} } : {};
    const r = await ctx.admin().post<{ l1: Obj; status: Obj; sealedNow?: boolean; hierarchy?: Obj | null; checkedBy?: string; nodes?: Obj[] }>(`/v1/tenants/${seg(t!)}/l1/check`, body);
    if (r.checkedBy === 'cores') {
      // A CMK never calls an L1 (issue 10): what each core of the tenant's regions last reported.
      const nodes = r.nodes ?? [];
      ctx.out.print(r, () => (nodes.length === 0 ? `tenant ${t}: no core of its regions has reported yet\n`
        : table(nodes.map((n) => ({ ...n, at: when(n.at) })), [['node', 'NODE'], 'region', 'state', ['l1Status', 'L1'], 'reason', ['at', 'REPORTED']])));
      const bad = nodes.filter((n) => n.l1Status !== 'active' || n.state !== 'unsealed');
      if (bad.length > 0) {
        throw new CliError(EXIT_FAILED, `the L1 of tenant ${t} is not active on ${bad.map((n) => String(n.node)).join(', ')}`,
          `restore the key in the HSM/KMS, or point at another key with: kmipctl l1 set ${t}`);
      }
      return;
    }
    ctx.out.print(r, (d) => `${String(d.l1.provider)} ${String(d.l1.keyRef)}: ${String(d.status.state)}${d.status.detail ? ` (${String(d.status.detail)})` : ''}\n`
      + (d.sealedNow ? `tenant ${t} sealed at once: its requests are refused until its L1 is active again\n`
        : o.provider === undefined && d.hierarchy?.sealed ? `tenant ${t} is sealed (${String(d.hierarchy.reason ?? '')})\n` : ''));
    if (r.status.state !== 'active') {
      throw new CliError(EXIT_FAILED, `the L1 of tenant ${t} is ${String(r.status.state)}${r.sealedNow ? `; tenant ${t} sealed` : ''}`,
        o.provider === undefined ? `restore the key in the HSM/KMS (the tenant unseals by itself), or point at another key with: kmipctl l1 set ${t}` : 'the tenant cannot be unsealed under this L1');
    }
  },
} satisfies Record<string, Action>;
