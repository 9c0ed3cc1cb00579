// `openkcm serve --database-url` as a real process on a real PostgreSQL: objects land in the
// PostgreSQL vault; a URL that cannot be used stops the server with one line and exit 2.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptographicAlgorithm, ObjectType, Operation, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { enumeration, integer, structure, child } from '../../src/kmip/items.ts';
import { KmipClient } from '../../src/client/index.ts';
import { PG_LATEST_SCHEMA_VERSION } from '../../src/store/pg-migrations.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { uniqueDatabaseName, usePostgres } from '../helpers/postgres.ts';
import { OPENKCM } from '../helpers/cli.ts';

const BIN = OPENKCM;
const cluster = usePostgres();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'openkcm-serve-pg-'));
  dirs.push(cwd);
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', OPENKCM_WORKERS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { cwd, child, exited, out: () => stdout, err: () => stderr };
}

async function until(cond: () => boolean, ms: number) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('openkcm serve --database-url', () => {
  it('keeps the objects it creates in the PostgreSQL vault', async () => {
    const url = await cluster().createDatabase(uniqueDatabaseName('serve'));
    const p = run(['serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs', '--database-url', url]);
    try {
      await until(() => p.out().includes('"event":"listening"') || p.child.exitCode !== null, 60_000);
      expect(p.child.exitCode, p.err()).toBeNull();
      const port = JSON.parse(p.out().split('\n').find((l) => l.includes('"event":"listening"'))!).port as number;
      const c = await KmipClient.connect({
        host: '127.0.0.1', port, ca: readFileSync(join(p.cwd, 'certs', 'ca.crt')),
        cert: readFileSync(join(p.cwd, 'certs', 'client.crt')), key: readFileSync(join(p.cwd, 'certs', 'client.key')),
        servername: 'localhost', version: { major: 2, minor: 1 },
      });
      const item = await c.requestItem(Operation.Create, [
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 256), integer(Tag.CryptographicUsageMask, 12)]),
      ]);
      await c.close();
      expect(item.resultStatus, item.resultMessage).toBe(ResultStatus.Success);
      const uid = child(item.payload!, Tag.UniqueIdentifier)!.value as string;
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const rows = (await db.query('SELECT tenant, get_byte(wrapped_value, 0) AS format FROM objects WHERE uid = $1', [uid])).rows;
        expect(rows).toEqual([{ tenant: 'default', format: 2 }]); // wrapped by the hierarchy (L4 blob format 2)
        expect((await db.query('SELECT COUNT(*)::int AS n FROM l2_keys')).rows[0].n).toBe(1);
      } finally {
        await db.end();
      }
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  const refusals: Array<[string, () => Promise<{ args: string[]; env?: Record<string, string> }>, RegExp]> = [
    ['credentials refused', async () => ({ args: ['--database-url', cluster().urlFor('openkcm_test', { password: 'wrong-pw' })] }),
      /^openkcm: cannot connect to PostgreSQL at postgres:\/\/openkcm:\*\*\*@127\.0\.0\.1:\d+\/openkcm_test: password authentication failed .*check the user and password/],
    ['nothing listening', async () => ({ args: ['--database-url', 'postgres://u:pw@127.0.0.1:1/vault'] }), /^openkcm: cannot connect to PostgreSQL .* connection refused/],
    ['not a PostgreSQL URL (environment)', async () => ({ args: [], env: { OPENKCM_DATABASE_URL: 'mysql://u:secretpw@h/db' } }),
      /configuration env OPENKCM_DATABASE_URL "store.url": has the scheme mysql; expected a PostgreSQL URL/],
    ['database at a newer schema', async () => {
      const url = await cluster().createDatabase(uniqueDatabaseName('newer'));
      await (await openPostgresStore(url, { listen: false })).close();
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      await db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 'x')", [PG_LATEST_SCHEMA_VERSION + 1]);
      await db.end();
      return { args: ['--database-url', url] };
    }, /^openkcm: database schema version \d+ is newer than this OpenKCM understands \(\d+\); run the OpenKCM version that wrote it/],
  ];
  for (const [label, setup, want] of refusals) {
    it(`stops with one line and exit 2: ${label}`, async () => {
      const { args, env } = await setup();
      const p = run(['serve', '--listen', '127.0.0.1:0', '--data', 'data', '--certs', 'certs', ...args], env);
      try {
        expect(await p.exited).toBe(2);
        const lines = p.err().trim().split('\n');
        expect(lines, p.err()).toHaveLength(1);
        expect(lines[0]).toMatch(want);
        expect(p.err()).not.toMatch(/\n\s+at /);
        expect(p.err()).not.toContain('wrong-pw');
        expect(p.err()).not.toContain('secretpw');
      } finally {
        p.child.kill('SIGKILL');
      }
    });
  }
});
