// kmipctl audit tail|verify|export
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { CliError, EXIT_FAILED, table } from '../output.ts';
import { leaf, positiveInt, when } from './common.ts';

type Obj = Record<string, unknown>;

export function registerAuditCommands(program: Command): void {
  const g = program.command('audit').description('the hash-chained audit log');
  leaf(g, 'tail', 'the newest audit records', async (ctx, _a, o) => {
    const n = positiveInt(o.n, '-n', 10_000) ?? 20;
    const r = await ctx.admin().get<{ records: Obj[] }>(`/v1/audit/tail?n=${n}`);
    ctx.out.print(r, (d) => table(d.records.map((x) => ({ ...x, time: when(x.time) })),
      ['seq', 'time', 'kind', 'tenant', 'service', 'operation', ['objectId', 'OBJECT'], 'result', 'reason', 'identity', 'detail']));
  }, (c) => c.option('-n <count>', 'how many (default 20)'));
  leaf(g, 'verify', 'recompute the hash chain; names the first modified, deleted or reordered record', async (ctx) => {
    const r = await ctx.admin().get<{ result: { ok: boolean; count: number; lastSeq?: number; head?: string; seq?: number; problem?: string; detail?: string; scope?: string; tenant?: string } }>('/v1/audit/verify');
    const v = r.result;
    // A tenant-admin's answer (scope 'tenant'): the whole chain was verified, the figures are its tenant's.
    ctx.out.print(r, () => (!v.ok ? '' : v.scope === 'tenant'
      ? `audit chain OK (whole chain verified): ${v.count} records of tenant ${String(v.tenant)}, its last seq ${v.lastSeq}, head ${v.head}\n`
      : `audit chain OK: ${v.count} records, last seq ${v.lastSeq}, head ${v.head}\n`));
    if (!v.ok) {
      throw new CliError(EXIT_FAILED, `audit chain BROKEN at record seq ${v.seq}: ${v.problem} — ${v.detail}`,
        'the audit table was changed outside OpenKCM; keep the database for investigation and compare with your SIEM copy');
    }
  });
  leaf(g, 'export', 'write audit records as JSON lines (all, or after --after SEQ)', async (ctx, _a, o) => {
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
  }, (c) => c.option('--after <seq>', 'only records after this seq').option('--out <file>', 'write to a file instead of stdout'));
}
