// The L1 pointer of a tenant (DESIGN.md §1-2): which external root key (software file for
// development, PKCS#11 HSM, AWS KMS) wraps the tenant's L2. Credentials only by reference —
// parseL1Config refuses PINs and keys in clear. Removing the pointer is the kill switch;
// setting a pointer to a still-valid L1 is the only way back for a killed tenant.
import { L1Error, openL1Provider, parseL1Config, type L1Config } from '../../hsm/index.ts';
import type { L1Provider } from '../../hsm/types.ts';
import { AdminError, badRequest, obj, oneOf, onlyFields, pathName, type Route } from './http.ts';
import { gov, requireTenant } from './common.ts';
import type { AdminContext, L1ProviderName } from './context.ts';

const PROVIDERS = ['software', 'pkcs11', 'aws-kms'] as const;

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
    throw new AdminError('l1-failed', `cannot open the ${provider} L1: ${(e as Error).message}`, 'check the provider configuration and that the key exists and is reachable');
  }
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
      const tenant = requireTenant(ctx, t);
      const provider = oneOf(body, 'provider', PROVIDERS)!;
      const config = validated(provider, obj(body, 'config'));
      // Only a pointer to an L1 that answers "active" is accepted: a killed tenant must come
      // back under a root key that still exists, not under a typo.
      const { l1, status, description } = await probe(ctx, provider, config, true);
      if (status.state !== 'active') {
        throw new AdminError('l1-failed', `the ${provider} L1 is ${status.state}: ${status.detail}`, 'point at a key that is enabled and reachable');
      }
      const pointer = gov(() => ctx.governance.setL1Pointer({ tenant: t, provider, config }));
      let hierarchy: unknown = null;
      if (ctx.hierarchy) {
        hierarchy = await ctx.hierarchy.enableTenant(t, l1);
        const st = ctx.hierarchy.status(t);
        if (st.sealed) {
          ctx.audited('l1.set', { tenant: t, detail: `${provider} ${description.keyRef}; tenant still sealed` });
          throw new AdminError('l1-failed', `the L1 pointer of "${t}" is saved, but the tenant is still sealed: ${st.reason ?? 'unseal failed'}`,
            "this L1 cannot unwrap the tenant's L2: point at the tenant's original root key");
        }
      } else {
        await l1.close().catch(() => undefined);
      }
      if (tenant.state !== 'active') gov(() => ctx.governance.setTenantState(t, 'active'));
      ctx.audited('l1.set', { tenant: t, detail: `${provider} ${description.keyRef}` });
      return { body: { pointer, l1: description, status, hierarchy } };
    },
  },
  {
    name: 'l1.show', method: 'GET', path: '/v1/tenants/:tenant/l1', access: 'admin',
    handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      requireTenant(ctx, t);
      const pointer = ctx.governance.getL1Pointer(t);
      return { body: { pointer: pointer ?? null, hierarchy: ctx.hierarchy?.status(t) ?? null } };
    },
  },
  {
    name: 'l1.remove', method: 'DELETE', path: '/v1/tenants/:tenant/l1', access: 'admin',
    async handler(ctx, { params }) {
      const t = pathName(params, 'tenant');
      requireTenant(ctx, t);
      if (ctx.governance.getL1Pointer(t)?.state !== 'active') {
        throw new AdminError('not-found', `tenant "${t}" has no active L1 pointer of its own`, `show it with: kmipctl l1 show ${t}`);
      }
      // Removing the pointer is the kill switch (DESIGN.md §1): seal at once, then record it.
      const killing = ctx.hierarchy?.killSwitch(t, `L1 pointer removed by ${ctx.caller.id}`);
      gov(() => ctx.governance.setTenantState(t, 'killed'));
      gov(() => ctx.governance.removeL1Pointer(t));
      await killing;
      ctx.audited('l1.remove', { tenant: t, kind: 'kill' });
      return { body: { tenant: t, status: ctx.hierarchy?.status(t) ?? null } };
    },
  },
  {
    name: 'l1.check', method: 'POST', path: '/v1/tenants/:tenant/l1/check', access: 'admin',
    async handler(ctx, { params, body }) {
      onlyFields(body, ['provider', 'config']);
      const t = pathName(params, 'tenant');
      requireTenant(ctx, t);
      let provider: L1ProviderName;
      let config: Record<string, unknown>;
      if (body.provider !== undefined || body.config !== undefined) {
        provider = oneOf(body, 'provider', PROVIDERS)!;
        config = validated(provider, obj(body, 'config'));
      } else {
        const p = ctx.governance.getL1Pointer(t);
        if (!p || p.state !== 'active') {
          throw new AdminError('not-found', `tenant "${t}" has no L1 pointer of its own`, 'give a candidate (--provider, --config) or set one with: kmipctl l1 set');
        }
        provider = p.provider;
        config = p.config;
      }
      const { status, description } = await probe(ctx, provider, config, false);
      return { body: { tenant: t, l1: description, status } };
    },
  },
];
