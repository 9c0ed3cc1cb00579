// Audit log throughput: appends/second on a file database (WAL, synchronous FULL) with the
// default group commit, with one commit per record, and with a SIEM exporter attached;
// and how fast verify walks the chain. `node --import tsx bench/audit.ts [records]`.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditDatabase, openAuditLog, startExporters, verifyAuditLog, type AuditLogOptions } from '../src/audit/index.ts';

const N = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'audit-bench-'));
let run = 0;

// Client text at its worst (issue 16 §1): every text field needs escaping, the object id
// needs cutting (marker + SHA-256 of the whole). Measures the escaping path against `record`.
function hostileRecord(i: number) {
  return {
    kind: 'kmip' as const, identity: 'CN=bench\n\u202eclient,O=OpenKCM', tenant: 'acme\u0000', service: 'pay\u2066ments',
    operation: 'Get', objectId: `evil\r\n${String(i).padStart(12, '0')}${'\u0001x'.repeat(600)}`,
    result: 'failure' as const, reason: 'ItemNotFound' as const, detail: `forged\nline ${i}`,
  };
}

function record(i: number) {
  return {
    kind: 'kmip' as const, identity: 'CN=bench-client,O=OpenKCM', tenant: 'acme', service: 'payments',
    operation: (i % 3 === 0 ? 'Encrypt' : i % 3 === 1 ? 'Decrypt' : 'Get'), objectId: `7f3c1e2a-0000-4000-8000-${String(i).padStart(12, '0')}`,
    result: 'success' as const,
  };
}

async function bench(label: string, n: number, options: AuditLogOptions, withExporter?: 'tcp' | 'file', make: (i: number) => Parameters<ReturnType<typeof openAuditLog>['append']>[0] = record) {
  const db = openAuditDatabase(join(dir, `audit-${run++}.db`));
  const log = openAuditLog(db, options);
  let server: net.Server | undefined;
  let exporters: ReturnType<typeof startExporters> | undefined;
  if (withExporter === 'tcp') {
    server = net.createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    exporters = startExporters(log, [{ type: 'syslog', transport: 'tcp', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, payload: 'cef' }]);
  } else if (withExporter === 'file') {
    exporters = startExporters(log, [{ type: 'file', path: join(dir, `export-${run}.jsonl`) }]);
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    log.append(make(i));
    // Let timers and sockets run now and then, as a server's event loop would.
    if (i % 2_000 === 1_999) await new Promise((r) => setImmediate(r));
  }
  log.flush();
  const appendMs = performance.now() - t0;
  let drainMs = 0;
  if (exporters) {
    const t1 = performance.now();
    await exporters.drain(120_000);
    drainMs = performance.now() - t1;
    await exporters.close();
  }
  const t2 = performance.now();
  const v = verifyAuditLog(db);
  const verifyMs = performance.now() - t2;
  if (!v.ok || v.count !== n) throw new Error(`verify failed: ${JSON.stringify(v)}`);
  log.close();
  db.close();
  server?.close();
  const rate = (k: number, ms: number) => Math.round((k / ms) * 1000).toLocaleString('en-US');
  console.log(`${label.padEnd(52)} ${String(n).padStart(7)} records  append ${rate(n, appendMs).padStart(9)}/s` +
    (exporters ? `  export done +${Math.round(drainMs)} ms` : '') + `  verify ${rate(n, verifyMs)}/s`);
}

// Machine reference, to compare figures taken on different (or loaded) machines.
{
  const { createHash } = await import('node:crypto');
  const line = 'x'.repeat(400);
  const t = performance.now();
  for (let i = 0; i < 50_000; i++) createHash('sha256').update(line).digest('hex');
  console.log(`reference: SHA-256 of 400 bytes ${Math.round(50_000 / (performance.now() - t) * 1000).toLocaleString('en-US')}/s on this machine now`);
}

try {
  await bench('group commit (512 records / 5 ms), file db, WAL', N, {});
  await bench('group commit, + syslog TCP exporter (CEF)', N, {}, 'tcp');
  await bench('group commit, + JSON lines file exporter', N, {}, 'file');
  await bench('one commit per record (maxRecords: 1)', Math.min(N, 2_000), { groupCommit: { maxRecords: 1 } });
  await bench('group commit, hostile text (escaped, objectId cut)', N, {}, undefined, hostileRecord);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
