// Issue 13 §5 with the real client: PyKMIP 0.10 (Debian python3-pykmip) creates two keys with
// one Name and Locates both, on a tenant switched to duplicates-allowed with kmipctl; on the
// default (unique, KMIP 2.1 s.4.35 / OASIS BL-M-8) the second Create is refused. A real
// `openkcm serve` (test/admin/serve.ts) with its dev PKI; test/interop/pykmip_names.py drives it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CERTS_DIR } from '../../src/config/defaults.ts';
import { devPkiFiles } from '../../src/server/devpki.ts';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { PYTHON, pykmipAvailable } from './harness.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, 'pykmip_names.py');

type Outcome = { ok: true; value: unknown } | { ok: false; status?: string; reason?: string; message?: string; error?: string; trace?: string };

describe("PyKMIP 0.10 and the tenant's Name policy (issue 13 §5)", () => {
  let s: ServedEnv;
  beforeAll(async () => {
    if (!pykmipAvailable()) throw new Error(`PyKMIP is not importable by ${PYTHON}: apt-get install -y python3-pykmip`);
    s = await startServed();
  }, 90_000);
  afterAll(async () => { await s?.stop(); });

  async function pykmip(version: string, name: string): Promise<Record<string, Outcome>> {
    const pki = devPkiFiles(join(s.cwd, DEFAULT_CERTS_DIR));
    const { stdout } = await run(PYTHON, [SCRIPT, '127.0.0.1', String(s.kmipPort), pki.clientCert, pki.clientKey, pki.caCert, version, name],
      { timeout: 90_000, maxBuffer: 4 << 20 });
    return JSON.parse(stdout) as Record<string, Outcome>;
  }
  async function kmipctl(args: string[]): Promise<void> {
    const r = await s.kmipctl(args);
    if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  }

  it('unique (the default): the second Create with the Name is refused, Locate finds the first', async () => {
    const r = await pykmip('2.0', 'pykmip-unique');
    expect(r.create_first).toMatchObject({ ok: true });
    expect(r.create_second).toMatchObject({ ok: false, reason: 'NON_UNIQUE_NAME_ATTRIBUTE' });
    expect(r.locate_by_name).toEqual({ ok: true, value: [(r.create_first as { value: string }).value] });
  }, 120_000);

  for (const version of ['1.2', '2.0']) {
    it(`duplicates-allowed, KMIP ${version}: two keys with one Name, Locate returns both`, async () => {
      await kmipctl(['tenant', 'set-names', 'default', 'duplicates-allowed']);
      const r = await pykmip(version, `pykmip-shared-${version}`);
      for (const step of ['create_first', 'create_second', 'locate_by_name']) {
        if (!r[step]?.ok) expect.fail(`step ${step} failed: ${JSON.stringify(r[step])}`);
      }
      const made = [(r.create_first as { value: string }).value, (r.create_second as { value: string }).value];
      expect(made[0]).not.toBe(made[1]);
      expect((r.locate_by_name as { value: string[] }).value).toEqual([...made].sort());
    }, 120_000);
  }
});
