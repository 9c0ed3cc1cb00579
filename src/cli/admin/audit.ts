// kmipctl audit tail|verify|export
import { createWriteStream, existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { CliError, EXIT_CONNECT, EXIT_FAILED, EXIT_USAGE, table } from '../output.ts';
import { positiveInt, when, type Action } from './common.ts';

type Obj = Record<string, unknown>;
type VerifyAnswer = { ok: boolean; count: number; lastSeq?: number; head?: string; seq?: number; problem?: string; detail?: string; scope?: string; tenant?: string };

/** Verifies a chain straight from its database (read only: never migrates, never writes). */
async function verifyLocal(url: string | undefined, file: string | undefined): Promise<VerifyAnswer> {
  // Loaded here, not at the top: better-sqlite3 (a native addon) and the audit module cost
  // more start-up time than the rest of kmipctl, and only this subcommand needs them
  // (issue 14 §1: `kmipctl --help` under 150 ms).
  const { AuditSchemaError, verifyAuditLog } = await import('../../audit/index.ts');
  if (file !== undefined) {
    const { default: Sqlite } = await import('better-sqlite3');
    if (!existsSync(file)) throw new CliError(EXIT_USAGE, `--database ${file}: no such file`);
    let db: Database.Database;
    try {
      db = new Sqlite(file, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw new CliError(EXIT_FAILED, `--database ${file}: cannot open it as a SQLite database (${(e as Error).message})`);
    }
    try {
      return verifyAuditLog(db);
    } catch (e) {
      if (e instanceof AuditSchemaError || /not a database/i.test((e as Error).message)) throw new CliError(EXIT_FAILED, `--database ${file}: ${(e as Error).message}`);
      throw e;
    } finally {
      db.close();
    }
  }
  // Loaded only here: every other kmipctl command starts without the PostgreSQL driver.
  const { parseDatabaseUrl, redactDatabaseUrl } = await import('../../store/postgres.ts');
  const { verifyPgAuditChain } = await import('../../audit/pg-chain.ts');
  try {
    parseDatabaseUrl(url!);
  } catch (e) {
    throw new CliError(EXIT_USAGE, `--database-url: ${(e as Error).message}`);
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, application_name: 'kmipctl', connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new CliError(EXIT_CONNECT, `--database-url: cannot connect to PostgreSQL at ${redactDatabaseUrl(url!)}: ${(e as Error).message}`,
      'check the host, port, user, password and database name in the URL');
  }
  try {
    await client.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await verifyPgAuditChain(client);
  } catch (e) {
    if (e instanceof AuditSchemaError) throw new CliError(EXIT_FAILED, `--database-url ${redactDatabaseUrl(url!)}: ${e.message} (is it a core's vault database?)`);
    throw e;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What the kmipctl audit commands do; declared in commands.ts, which loads this file when one runs. */
export const ACTIONS = {
  tail: async (ctx, _a, o) => {
    const n = positiveInt(o.n, '-n', 10_000) ?? 20;
    const r = await ctx.admin().get<{ records: Obj[] }>(`/v1/audit/tail?n=${n}`);
    ctx.out.print(r, (d) => table(d.records.map((x) => ({ ...x, time: when(x.time) })),
      ['seq', 'time', 'kind', 'tenant', 'service', 'operation', ['objectId', 'OBJECT'], 'result', 'reason', 'identity', 'detail']));
  },
  verify: async (ctx, _a, o) => {
    const local = o.databaseUrl !== undefined || o.database !== undefined;
    if (o.databaseUrl !== undefined && o.database !== undefined) throw new CliError(EXIT_USAGE, 'give --database-url or --database, not both');
    // A core has no admin API: its region's chain is checked in the vault database itself.
    const r: { result: VerifyAnswer } = local
      ? { result: await verifyLocal(o.databaseUrl as string | undefined, o.database as string | undefined) }
      : await ctx.admin().get<{ result: VerifyAnswer }>('/v1/audit/verify');
    const v = r.result;
    // A tenant-admin's answer (scope 'tenant'): the whole chain was verified, the figures are its tenant's.
    ctx.out.print(r, () => (!v.ok ? '' : v.scope === 'tenant'
      ? `audit chain OK (whole chain verified): ${v.count} records of tenant ${String(v.tenant)}, its last seq ${v.lastSeq}, head ${v.head}\n`
      : `audit chain OK: ${v.count} records, last seq ${v.lastSeq}, head ${v.head}\n`));
    if (!v.ok) {
      throw new CliError(EXIT_FAILED, `audit chain BROKEN at record seq ${v.seq}: ${v.problem} — ${v.detail}`,
        'the audit table was changed outside OpenKCM; keep the database for investigation and compare with your SIEM copy');
    }
  },
  export: async (ctx, _a, o) => {
    let after = o.after === undefined ? 0 : Number(o.after);
    if (!Number.isSafeInteger(after) || after < 0) throw new CliError(EXIT_FAILED, `--after must be a record seq (0 or more), not "${String(o.after)}"`);
    const out = o.out ? createWriteStream(String(o.out), { mode: 0o600 }) : process.stdout;
    let count = 0;
    for (;;) {
      const r = await ctx.admin().get<{ records: Obj[]; next: number | null }>(`/v1/audit/export?after=${after}&limit=1000`);
      for (const rec of r.records) out.write(JSON.stringify(rec) + '\n');
      count += r.records.length;
      if (r.next === null) break;
      after = r.next;
    }
    if (out !== process.stdout) {
      await new Promise<void>((res, rej) => (out as ReturnType<typeof createWriteStream>).end((e?: Error | null) => (e ? rej(e) : res())));
      process.stderr.write(`exported ${count} records to ${String(o.out)}\n`);
    }
  },
} satisfies Record<string, Action>;
