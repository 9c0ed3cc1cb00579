// The end-to-end scenario of issue 7: start a server, create a tenant and a service, issue a
// certificate with kmipctl, use it with PyKMIP to create and use a key, revoke the
// certificate (refused afterwards), kill the tenant (refused), `audit verify` passes; then
// tamper with one audit row in SQLite and `audit verify` fails naming it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startServed, type ServedEnv } from '../admin/serve.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(fileURLToPath(import.meta.url), '../../admin/pykmip_use.py');
const havePykmip = spawnSync(PYTHON, ['-c', 'import kmip'], { stdio: 'ignore' }).status === 0;

let s: ServedEnv;
beforeAll(async () => { s = await startServed(); }, 90_000);
afterAll(async () => { await s?.stop(); });

type Obj = Record<string, any>;

async function json(args: string[]): Promise<Obj> {
  const r = await s.kmipctl([...args, '--json']);
  if (r.code !== 0) throw new Error(`kmipctl ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

function pykmip(conf: string): Obj {
  const r = spawnSync(PYTHON, [SCRIPT, conf, 'client'], { encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Obj;
  } catch {
    throw new Error(`pykmip_use.py printed no JSON (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
}

describe.skipIf(!havePykmip)('kmipctl + PyKMIP end to end', () => {
  it('issue → use → revoke → kill → verify → tamper', async () => {
    await json(['tenant', 'create', 'shop']);
    await json(['service', 'create', 'shop', 'web']);
    const a = await json(['cert', 'issue', '--tenant', 'shop', '--service', 'web', '--role', 'app', '--out', join(s.cwd, 'app-a')]);
    const b = await json(['cert', 'issue', '--tenant', 'shop', '--service', 'web', '--role', 'app', '--out', join(s.cwd, 'app-b'), '--cn', 'web-b']);
    const confA = join(s.cwd, 'pykmip-a.conf');
    const confB = join(s.cwd, 'pykmip-b.conf');
    // The snippet kmipctl printed, as is.
    writeFileSync(confA, a.pykmip);
    writeFileSync(confB, b.pykmip);

    // PyKMIP creates and uses a key with the issued certificate.
    const used = pykmip(confA);
    expect(used).toMatchObject({ ok: true, get: 'SymmetricKey', decrypted_ok: true });
    const uid = used.uid as string;
    // The key belongs to shop/web: the admin of tenant default does not see it.
    const foreign = await s.kmipctl(['key', 'get', uid]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/ItemNotFound/);

    // Revoked: refused from then on.
    await json(['cert', 'revoke', '--serial', a.certificate.serial]);
    const afterRevoke = pykmip(confA);
    expect(afterRevoke.ok).toBe(false);
    expect(afterRevoke.step).toBe('create');
    expect(afterRevoke.reason).toBe('PERMISSION_DENIED');
    // The other certificate of the same service still works…
    expect(pykmip(confB)).toMatchObject({ ok: true });
    // …until the tenant is killed.
    const killed = await json(['tenant', 'kill', 'shop', '--reason', 'customer pulled the key']);
    expect(killed.state).toBe('killed');
    const afterKill = pykmip(confB);
    expect(afterKill).toMatchObject({ ok: false, step: 'create', reason: 'PERMISSION_DENIED' });

    // Every step is in the audit trail, and the chain verifies.
    const tail = (await json(['audit', 'tail', '-n', '200'])).records as Obj[];
    const find = (pred: (r: Obj) => boolean) => tail.find(pred);
    expect(find((r) => r.kind === 'admin' && r.operation === 'cert.issue' && r.objectId === a.identity.id)).toBeTruthy();
    expect(find((r) => r.kind === 'kmip' && r.operation === 'Create' && r.objectId === uid && r.result === 'success')).toBeTruthy();
    expect(find((r) => r.operation === 'cert.revoke' && r.objectId === a.identity.id)).toBeTruthy();
    expect(find((r) => r.kind === 'auth-failure' && r.tenant === 'shop' && /revoked/.test(r.detail ?? ''))).toBeTruthy();
    const kill = find((r) => r.kind === 'kill' && r.operation === 'tenant.kill')!;
    expect(kill).toMatchObject({ tenant: 'shop', detail: 'customer pulled the key' });
    const verified = await s.kmipctl(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^audit chain OK/);

    // Tamper with the kill record directly in SQLite (after dropping the append-only triggers).
    const db = new Database(join(s.cwd, 'data', 'openkcm.db'));
    try {
      db.pragma('busy_timeout = 5000');
      db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
      const changed = db.prepare('UPDATE audit_log SET detail = ? WHERE seq = ?').run('routine maintenance', kill.seq);
      expect(changed.changes).toBe(1);
    } finally {
      db.close();
    }
    const broken = await s.kmipctl(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(new RegExp(`audit chain BROKEN at record seq ${kill.seq}: modified`));
    const brokenJson = await s.kmipctl(['audit', 'verify', '--json']);
    expect(brokenJson.code).toBe(1);
    expect(JSON.parse(brokenJson.stdout).result).toMatchObject({ ok: false, seq: kill.seq, problem: 'modified' });
  }, 300_000);
});
