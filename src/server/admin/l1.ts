// The L1 pointer of a tenant (DESIGN.md §1-2): which external root key (software file for
// development, PKCS#11 HSM, AWS KMS, another KMIP server, Vault Transit, Google Cloud KMS) wraps the tenant's L2. Credentials only by reference —
// parseL1Config refuses PINs and keys in clear. Removing the pointer is the kill switch;
// setting a pointer to a still-valid L1 is the only way back for a killed tenant.
import { L1_PROVIDERS, L1Error, openL1Provider, parseL1Config, type L1Config } from '../../hsm/index.ts';
import type { L1Description, L1Provider, L1Status } from '../../hsm/types.ts';
import { AdminError, badRequest, obj, oneOf, onlyFields, pathName, type Route } from './http.ts';
import { gov, requireAllowed, requireTenant } from './common.ts';
import type { AdminContext, L1ProviderName } from './context.ts';

const PROVIDERS = L1_PROVIDERS;

/** On a CMK: what the core nodes of the tenant's regions last reported about its L1 (issue 10). */
async function reported(ctx: AdminContext, tenant: string) {
  const regions = await ctx.governance.tenantRegions(tenant);
  return (ctx.link ? await ctx.link.nodes() : []).filter((n) => regions.includes(n.region)).map((n) => {
    const t = n.tenants.find((x) => x.tenant === tenant);
    return { node: n.node, region: n.region, at: n.at, state: t?.state ?? null, l1Status: t?.l1Status ?? null, reason: t?.reason ?? null };
  });
}

/** Validates a pointer's configuration, naming the bad field as `config.<field>`. */
function validated(provider: L1ProviderName, config: Record<string, unknown>): Record<string, unknown> {
  if ('provider' in config) throw badRequest('field "config.provider": give the provider in the field "provider" only');
  try {
    const { provider: _p, ...rest } = parseL1Config({ provider, ...config }) as L1Config & Record<string, unknown>;
    return rest;
  } catch (e) {
    if (e instanceof L1Error) throw badRequest(`field "config": ${e.message.replace(/^l1\./, 'config.')}`);
    throw e;
  }
}

async function open(ctx: AdminContext, provider: L1ProviderName, config: Record<string, unknown>): Promise<L1Provider> {
  try {
    return ctx.openL1 ? await ctx.openL1(provider, config) : await openL1Provider({ provider, ...config } as L1Config);
  } catch (e) {
    const state = e instanceof L1Error ? e.status ?? 'unreachable' : 'unreachable';
    throw new L1OpenError(state, (e as Error).message, `cannot open the ${provider} L1 (${state}): ${(e as Error).message}`);
  }
}

/**
 * An L1 that could not be opened, with the status that implies: a key that is missing
 * (PKCS#11) or scheduled for deletion (KMS) is `revoked`, a key with its functions off is
 * `disabled` — facts about the key, which `l1 check` answers as a status; a library, token,
 * PIN or endpoint that fails is `unreachable` — the provider itself failing, an error.
 */
class L1OpenError extends AdminError {
  constructor(readonly state: Exclude<L1Status['state'], 'active'>, readonly detail: string, message: string) {
    super('l1-failed', message, state === 'unreachable'
      ? 'check the provider configuration (library, token label, PIN reference, endpoint) and that it is reachable from the server'
      : 'check that the key exists and is enabled in the HSM or KMS');
  }
  get keyState(): boolean {
    return this.state === 'revoked' || this.state === 'disabled';
  }
}

/** What is known of an L1 that did not open: provider and key reference, from its configuration. */
function describeConfig(provider: L1ProviderName, config: Record<string, unknown>): L1Description {
  const c = (k: string) => (config[k] === undefined ? undefined : String(config[k]));
  const keyRef = provider === 'pkcs11' ? `token=${c('tokenLabel') ?? '?'};${c('keyLabel') !== undefined ? `object=${c('keyLabel')}` : `id=${c('keyId') ?? '?'}`}`
    : provider === 'aws-kms' ? c('keyId') ?? '?'
    : provider === 'kmip' ? `kmip://${c('host') ?? '?'}:${c('port') ?? 5696}/${c('keyUid') ?? `name:${c('keyName') ?? '?'}`}`
    : provider === 'vault-transit' ? `${c('address') ?? '?'}/v1/${c('mount') ?? 'transit'}/keys/${c('keyName') ?? '?'}`
    : provider === 'azure-keyvault' ? `${(c('vaultUrl') ?? '?').replace(/\/$/, '')}/keys/${c('keyName') ?? '?'}${c('keyVersion') !== undefined ? `/${c('keyVersion')}` : ''}`
    : provider === 'gcp-kms' ? c('keyName') ?? '?'
    : c('keyFile') ?? '?';
  return { provider, keyRef, developmentOnly: provider === 'software' };
}

/** Opens the L1 and asks for its status; closes it unless `keep`. */
async function probe(ctx: AdminContext, provider: L1ProviderName, config: Record<string, unknown>, keep: boolean) {
  const l1 = await open(ctx, provider, config);
  try {
    const status = await l1.status();
    const description = l1.describe();
    if (!keep || status.state !== 'active') await l1.close().catch(() => undefined);
    return { l1, status, description };
  } catch (e) {
    await l1.close().catch(() => undefined);
    throw new AdminError('l1-failed', `the ${provider} L1 did not answer a status request: ${(e as Error).message}`);
  }
}

export const l1Routes: Route[] = [
  {
    name: 'l1.set', method: 'PUT', path: '/v1/tenants/:tenant/l1', access: 'admin',
    async handler(ctx, { params, body }) {
      onlyFields(body, ['provider', 'config']);
      const t = pathName(params, 'tenant');
      const tenant = await requireTenant(ctx, t);
      const provider = oneOf(body, 'provider', PROVIDERS)!;
      const config = validated(provider, obj(body, 'config'));
      if (ctx.link) {
        // A CMK makes no L1 call (issue 10): the pointer is stored and published; each core
        // of the tenant's regions opens the L1, unwraps its L2 and reports the outcome
        // (kmipctl l1 check / tenant show list it per node).
        const pointer = await gov(() => ctx.governance.setL1Pointer({ tenant: t, provider, config }));
        if (tenant.state !== 'active') await gov(() => ctx.governance.setTenantState(t, 'active'));
        ctx.audited('l1.set', { tenant: t, detail: `${provider} pointer published to the cores` });
        return { body: { pointer, l1: null, status: null, hierarchy: null, verifiedBy: 'cores' } };
      }
      // Only a pointer to an L1 that answers "active" is accepted: a killed tenant must come
      // back under a root key that still exists, not under a typo.
      const { l1, status, description } = await probe(ctx, provider, config, true);
      if (status.state !== 'active') {
        throw new AdminError('l1-failed', `the ${provider} L1 is ${status.state}: ${status.detail}`, 'point at a key that is enabled and reachable');
      }
      // Issue 16 §3: a pointer is saved only when it works. The candidate must open every
      // stored L2 of the tenant before anything is written; until then the old pointer (and
      // the L1 the hierarchy serves the tenant with) stays as it was.
      if (ctx.hierarchy) {
        try {
          await ctx.hierarchy.verifyL1(t, l1);
        } catch (e) {
          await l1.close().catch(() => undefined);
          throw new AdminError('l1-failed', `the L1 pointer of "${t}" is unchanged: ${(e as Error).message}`,
            "point at the tenant's original root key (kmipctl l1 show shows the current pointer)");
        }
      }
      const previous = await ctx.governance.getL1Pointer(t);
      const pointer = await gov(() => ctx.governance.setL1Pointer({ tenant: t, provider, config }));
      let hierarchy: unknown = null;
      if (ctx.hierarchy) {
        hierarchy = await ctx.hierarchy.enableTenant(t, l1);
        const st = ctx.hierarchy.status(t);
        if (st.sealed) {
          // Verified a moment ago, failed now (the L1 went away in between): undo the pointer.
          await gov(() => ctx.governance.restoreL1Pointer(t, previous));
          throw new AdminError('l1-failed', `the L1 pointer of "${t}" is unchanged: the tenant did not unseal under the new L1: ${st.reason ?? 'unseal failed'}`,
            `check the L1 with: kmipctl l1 check ${t} --provider ${provider} …`);
        }
      } else {
        await l1.close().catch(() => undefined);
      }
      if (tenant.state !== 'active') await gov(() => ctx.governance.setTenantState(t, 'active'));
      ctx.audited('l1.set', { tenant: t, detail: `${provider} ${description.keyRef}` });
      return { body: { pointer, l1: description, status, hierarchy } };
    },
  },
  {
    name: 'l1.show', method: 'GET', path: '/v1/tenants/:tenant/l1', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      const pointer = await ctx.governance.getL1Pointer(t);
      return { body: { pointer: pointer ?? null, hierarchy: ctx.hierarchy?.status(t) ?? null, ...(ctx.link ? { nodes: await reported(ctx, t) } : {}) } };
    },
  },
  {
    name: 'l1.remove', method: 'DELETE', path: '/v1/tenants/:tenant/l1', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      if ((await ctx.governance.getL1Pointer(t))?.state !== 'active') {
        throw new AdminError('not-found', `tenant "${t}" has no active L1 pointer of its own`, `show it with: kmipctl l1 show ${t}`);
      }
      // Removing the pointer is the kill switch (DESIGN.md §1): seal at once, then record it.
      const killing = ctx.hierarchy?.killSwitch(t, `L1 pointer removed by ${ctx.caller.id}`);
      await gov(() => ctx.governance.setTenantState(t, 'killed'));
      await gov(() => ctx.governance.removeL1Pointer(t));
      await killing;
      ctx.audited('l1.remove', { tenant: t, kind: 'kill' });
      return { body: { tenant: t, status: ctx.hierarchy?.status(t) ?? null } };
    },
  },
  {
    name: 'l1.check', method: 'POST', path: '/v1/tenants/:tenant/l1/check', access: 'tenant', scope: { param: 'tenant' },
    async handler(ctx, { params, body }) {
      onlyFields(body, ['provider', 'config']);
      const t = pathName(params, 'tenant');
      await requireTenant(ctx, t);
      if (ctx.link) {
        // The CMK never calls an L1 (issue 10): the answer is what the cores last reported.
        if (body.provider !== undefined || body.config !== undefined) {
          throw new AdminError('conflict', 'a CMK never calls an L1, so it cannot probe a candidate pointer',
            `set it with kmipctl l1 set ${t} …: the cores verify it and kmipctl l1 check ${t} shows what they report`);
        }
        const nodes = await reported(ctx, t);
        return { body: { tenant: t, l1: await ctx.governance.getL1Pointer(t) ?? null, status: null, checkedBy: 'cores', nodes } };
      }
      let provider: L1ProviderName;
      let config: Record<string, unknown>;
      const candidate = body.provider !== undefined || body.config !== undefined;
      if (candidate && ctx.scope.kind === 'tenant') {
        // Opening a candidate loads the library, reads the PIN file or key file it names on
        // the server: choosing those is the operator's (as l1 set is), not a tenant's.
        requireAllowed({ allowed: false, reason: 'a tenant-admin may check its tenant\'s own L1 only, not a candidate configuration' },
          `check the current pointer with: kmipctl l1 check ${t}`);
      }
      if (candidate) {
        provider = oneOf(body, 'provider', PROVIDERS)!;
        config = validated(provider, obj(body, 'config'));
      } else {
        const p = await ctx.governance.getL1Pointer(t);
        if (!p || p.state !== 'active') {
          throw new AdminError('not-found', `tenant "${t}" has no L1 pointer of its own`, 'give a candidate (--provider, --config) or set one with: kmipctl l1 set');
        }
        provider = p.provider;
        config = p.config;
      }
      let status: L1Status;
      let description: L1Description;
      try {
        ({ status, description } = await probe(ctx, provider, config, false));
      } catch (e) {
        // A missing or disabled key is an answer about the key (README "L1 providers": key
        // missing → revoked), not a failure of the check: it is reported as a status.
        if (!(e instanceof L1OpenError) || !e.keyState) throw e;
        status = { state: e.state, detail: e.detail };
        description = describeConfig(provider, config);
      }
      // The tenant's own L1 found revoked or disabled: sealed now, not at the next periodic
      // check (issue 16 §3). A candidate (--provider) is not the tenant's L1 and seals nothing.
      let hierarchy: ReturnType<NonNullable<AdminContext['hierarchy']>['status']> | null = ctx.hierarchy?.status(t) ?? null;
      let sealedNow = false;
      if (!candidate && ctx.hierarchy) {
        const before = ctx.hierarchy.status(t);
        hierarchy = ctx.hierarchy.reportL1Status(t, status);
        sealedNow = !before.sealed && hierarchy.sealed;
        if (status.state === 'revoked' || status.state === 'disabled') {
          const what = sealedNow ? 'tenant sealed at once' : `tenant was already sealed (${before.reason ?? before.sealKind ?? 'sealed'})`;
          ctx.audited('l1.check', { tenant: t, kind: 'seal', detail: `L1 key ${status.state}, ${what}: ${status.detail}`.slice(0, 1000) });
        }
      }
      return { body: { tenant: t, l1: description, status, sealedNow, hierarchy } };
    },
  },
];
