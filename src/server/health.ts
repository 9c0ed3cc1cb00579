// Readiness of a KMIP runtime (issue 14 §2 "/readyz: store open, at least one tenant
// unsealed or none configured, audit writable"). Each condition is asked of the real thing
// at every probe: the database answers a query, the hierarchy engine says which tenants are
// sealed, the audit log says whether it can take records. Counts and conditions only: the
// answer is served without a client certificate and must not name tenants.
import type { AuditAvailability } from '../audit/log.ts';
import type { HealthCheck, Readiness } from './metrics-http.ts';

export interface ReadinessSources {
  /** The vault answers (a SELECT 1 on SQLite, a query on the PostgreSQL pool). */
  store(): Promise<void>;
  /** Tenant ids configured in governance. */
  tenants(): readonly string[];
  isSealed(tenant: string): boolean;
  audit(): AuditAvailability;
}

export async function readiness(src: ReadinessSources): Promise<Readiness> {
  const checks: HealthCheck[] = [];
  try {
    await src.store();
    checks.push({ name: 'store', ok: true, detail: 'open' });
  } catch (e) {
    checks.push({ name: 'store', ok: false, detail: `not usable: ${(e as Error).message}` });
  }
  try {
    const ids = src.tenants();
    const unsealed = ids.filter((t) => !src.isSealed(t)).length;
    checks.push(ids.length === 0
      ? { name: 'tenants', ok: true, detail: 'no tenant configured' }
      : { name: 'tenants', ok: unsealed > 0, detail: `${unsealed} of ${ids.length} tenants unsealed` });
  } catch (e) {
    checks.push({ name: 'tenants', ok: false, detail: `cannot be read: ${(e as Error).message}` });
  }
  try {
    const a = src.audit();
    checks.push(a.ok ? { name: 'audit', ok: true, detail: 'writable' } : { name: 'audit', ok: false, detail: `not writable: ${a.reason}` });
  } catch (e) {
    checks.push({ name: 'audit', ok: false, detail: `cannot be asked: ${(e as Error).message}` });
  }
  return { ready: checks.every((c) => c.ok), checks };
}
