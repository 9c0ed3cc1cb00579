// A tenant whose L1 pointer names its own provider is unsealed through that provider at
// start (not the default L1), and stays sealed when that provider cannot open it, while the
// other tenants serve (issue 6).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/server/runtime.ts';

let rt: Runtime | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await rt?.close();
  rt = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('tenant L1 pointers at start', () => {
  it('opens each tenant through its own L1; a lost tenant key seals only that tenant', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'openkcm-tl1-'));
    dirs.push(dataDir);
    const acmeKey = join(dataDir, 'acme-l1.key');
    rt = await openRuntime({ dataDir });
    rt.governance.createTenant({ id: 'acme' });
    rt.governance.setL1Pointer({ tenant: 'acme', provider: 'software', config: { keyFile: acmeKey } });
    await rt.close();

    rt = await openRuntime({ dataDir });
    // The first use of acme creates its L2 under acme's own L1 key file.
    await rt.hierarchy.engine.wrap({ tenant: 'acme', service: 'default', uid: 'u1' }, Buffer.from('x'));
    const st = rt.hierarchy.engine.status('acme');
    expect(st.sealed).toBe(false);
    expect(st.l1?.keyRef).toBe(acmeKey);
    await rt.close();

    // The customer's root key is gone: acme cannot be opened after a restart, default can.
    rmSync(acmeKey);
    rt = await openRuntime({ dataDir });
    await expect(rt.hierarchy.engine.assertUnsealed('acme')).rejects.toThrow(/sealed/);
    await expect(rt.hierarchy.engine.assertUnsealed('default')).resolves.toBeUndefined();
  });
});
