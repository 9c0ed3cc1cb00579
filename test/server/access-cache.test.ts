// GovernanceAccess keeps the last decision per caller for one governance snapshot (issue 12
// §2: the identity resolution is not repeated while nothing changed). What must not change:
// the generation is read per message, so a revocation, a role change or a tenant state change
// made by any process — here a second SQLite connection, as kmipctl or another worker would
// be — applies to the very next authentication of an open connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openRuntime, DATABASE_FILE, type Runtime } from '../../src/server/runtime.ts';
import { GovernanceStore } from '../../src/store/governance.ts';
import type { ClientIdentity } from '../../src/operations/types.ts';

const FP = 'ab'.repeat(32);
const who = (): ClientIdentity => ({ subject: 'CN=app', sans: [], fingerprint: FP, tenant: 'default', service: 'default' });

describe('GovernanceAccess: decisions kept per caller and governance generation', () => {
  let dir: string | undefined;
  let rt: Runtime | undefined;
  let other: Database.Database | undefined;
  afterEach(async () => {
    other?.close();
    await rt?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    other = rt = dir = undefined;
  });

  async function setup() {
    dir = mkdtempSync(join(tmpdir(), 'openkcm-access-cache-'));
    rt = await openRuntime({ dataDir: dir });
    rt.governance.createTenant({ id: 'acme' });
    rt.governance.createService({ tenant: 'acme', id: 'web' });
    rt.governance.createService({ tenant: 'acme', id: 'crm' });
    const id = rt.governance.addIdentity({ tenant: 'acme', service: 'web', role: 'app', match: { kind: 'fingerprint', sha256: FP } });
    // Another writer on the same database file: another process in production.
    other = new Database(join(dir, DATABASE_FILE));
    other.pragma('busy_timeout = 5000');
    return { rt, id, elsewhere: new GovernanceStore(other) };
  }

  it('the same caller under an unchanged generation gets the same decision without resolving it again', async () => {
    const { rt } = await setup();
    const caller = who();
    const a = rt.access.authenticate(caller);
    expect(a.ok).toBe(true);
    expect(rt.access.authenticate(caller)).toBe(a);
    // Another connection of the same certificate is resolved on its own, to the same identity.
    const b = rt.access.authenticate(who());
    expect(b).not.toBe(a);
    expect(b).toEqual(a);
  });

  it('a revocation by another process refuses the next message of an open connection', async () => {
    const { rt, id, elsewhere } = await setup();
    const caller = who();
    expect(rt.access.authenticate(caller).ok).toBe(true);
    elsewhere.revokeIdentity({ id: id.id });
    const after = rt.access.authenticate(caller);
    expect(after).toMatchObject({ ok: false, reason: 'the identity of this certificate is revoked', identityId: id.id });
  });

  it('a grant, a tenant state change and a new identity made elsewhere apply at the next message', async () => {
    const { rt, elsewhere } = await setup();
    const caller = who();
    const first = rt.access.authenticate(caller);
    expect(first.ok && first.principal.grants).toEqual([]);
    elsewhere.addGrant({ tenant: 'acme', fromService: 'crm', toService: 'web', operations: ['Get'] });
    const granted = rt.access.authenticate(caller);
    expect(granted.ok && granted.principal.grants).toEqual([expect.objectContaining({ fromService: 'crm', toService: 'web', operations: ['Get'] })]);
    elsewhere.setTenantState('acme', 'sealed');
    expect(rt.access.authenticate(caller)).toMatchObject({ ok: false, reason: 'tenant acme is sealed' });
    elsewhere.setTenantState('acme', 'active');
    expect(rt.access.authenticate(caller).ok).toBe(true);
    // A certificate refused as unknown is let in at the next message once it is registered.
    const stranger: ClientIdentity = { ...who(), fingerprint: 'cd'.repeat(32) };
    expect(rt.access.authenticate(stranger)).toMatchObject({ ok: false, reason: 'unknown certificate (no identity is registered for it)' });
    elsewhere.addIdentity({ tenant: 'acme', service: 'crm', role: 'read-only', match: { kind: 'fingerprint', sha256: 'cd'.repeat(32) } });
    const known = rt.access.authenticate(stranger);
    expect(known.ok && known.principal.identity.service).toBe('crm');
  });
});
