// SIEM export configured in `openkcm serve` (issue 7): a config file names a syslog TCP
// exporter pointed at a collector this test listens with; a KMIP request over mutual TLS
// reaches it as an RFC 5424 line (octet-counted, RFC 6587 §3.4.1); `kmipctl status` shows
// the exporter's counters; a bad exporter setting stops the start with exit 2 naming the key.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmipClient } from '../../src/client/index.ts';
import { AdminClient, resolveSettings } from '../../src/cli/admin/connection.ts';
import { byteString, child, enumeration, integer, structure } from '../../src/kmip/items.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation } from '../../src/ttlv/generated/enumerations.ts';
import { KMIPCTL, OPENKCM, cleanEnv, run } from '../admin/serve.ts';

/** A syslog collector: splits the stream into octet-counted frames ("LEN SP MSG"). */
function collector(): Promise<{ server: Server; port: number; lines: string[]; sockets: Set<Socket> }> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) return;
        const len = Number(buf.subarray(0, sp).toString('ascii'));
        if (!Number.isInteger(len) || len <= 0) throw new Error(`not an octet-counted frame: ${buf.subarray(0, 40).toString()}`);
        if (buf.length < sp + 1 + len) return;
        lines.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
        buf = buf.subarray(sp + 1 + len);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, lines, sockets })));
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function serve(cwd: string, args: string[], env: Record<string, string> = {}) {
  const proc: ChildProcess = spawn(process.execPath, [OPENKCM, 'serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn', ...args], {
    cwd, env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, exited, err: () => stderr };
}

describe('openkcm serve with audit.exporters', () => {
  let dir: string;
  let siem: Awaited<ReturnType<typeof collector>>;
  let p: ReturnType<typeof serve>;
  let kmipPort = 0;
  let adminPort = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openkcm-siem-'));
    siem = await collector();
    // The file exporter's relative path is relative to the config file (etc/), not the cwd.
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'openkcm.json'), JSON.stringify({
      audit: { exporters: [
        { type: 'syslog', transport: 'tcp', host: '127.0.0.1', port: siem.port, name: 'siem', retry: { minDelayMs: 50, maxDelayMs: 500 } },
        { type: 'file', path: 'audit.jsonl', name: 'trail' },
      ] },
    }));
    p = serve(dir, ['--config', 'etc/openkcm.json']);
    await until(() => /Admin API: https:\/\/127\.0\.0\.1:\d+/.test(p.err()) && /listening on 127\.0\.0\.1:\d+/.test(p.err()), 60_000, `openkcm serve to start:\n${p.err()}`);
    kmipPort = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(p.err())![1]);
    adminPort = Number(/Admin API: https:\/\/127\.0\.0\.1:(\d+)/.exec(p.err())![1]);
  }, 90_000);

  afterAll(async () => {
    if (p && p.proc.exitCode === null) {
      p.proc.kill('SIGKILL');
      await p.exited;
    }
    for (const s of siem?.sockets ?? []) s.destroy();
    siem?.server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a KMIP request over mTLS arrives at the collector as an RFC 5424 line; status shows the counters', async () => {
    const certs = join(dir, 'certs');
    const c = await KmipClient.connect({
      host: '127.0.0.1', port: kmipPort, servername: 'localhost',
      ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')),
    });
    let uid: string;
    try {
      const resp = await c.request(Operation.Register, [
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES), integer(Tag.CryptographicLength, 128)]),
        structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [
          enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
          structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, randomBytes(16))]),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          integer(Tag.CryptographicLength, 128),
        ])]),
      ]);
      uid = child(resp, Tag.UniqueIdentifier)!.value as string;
    } finally {
      await c.close();
    }
    const mine = () => siem.lines.find((l) => l.includes(`objectId="${uid}"`) && l.includes('operation="Register"'));
    await until(() => mine() !== undefined, 20_000, `the Register record at the collector (got ${siem.lines.length} lines)`);
    // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG (RFC 5424 §6); facility 13 → PRI 104–111.
    expect(mine()).toMatch(/^<1(0[4-9]|1[01])>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \S+ openkcm \d+ kmip \[openkcm@32473 seq="\d+" kind="kmip" .*result="success".*hash="[0-9a-f]{64}"\] \S/);

    const admin = new AdminClient(resolveSettings({
      server: `https://127.0.0.1:${adminPort}`, cert: join(certs, 'client.crt'), key: join(certs, 'client.key'), ca: join(certs, 'ca.crt'),
    }, {}));
    const status = await admin.get<{ exporters: Record<string, unknown>[] }>('/v1/status');
    expect(status.exporters.map((x) => x.name)).toEqual(['siem', 'trail']);
    expect(status.exporters[0]).toMatchObject({ name: 'siem', type: 'syslog', connected: true, droppedFromBuffer: 0 });
    expect(status.exporters[0]!.delivered as number).toBeGreaterThanOrEqual(1);
    const trail = join(dir, 'etc', 'audit.jsonl');
    await until(() => existsSync(trail) && readFileSync(trail, 'utf8').includes(`"objectId":"${uid}"`), 20_000, 'the Register record in etc/audit.jsonl');

    const ctl = await run(KMIPCTL, ['status'], { cwd: dir, env: cleanEnv({ OPENKCM_ADMIN_SERVER: `https://127.0.0.1:${adminPort}` }) });
    expect(ctl.code).toBe(0);
    expect(ctl.stdout).toMatch(/SIEM exporters:\nEXPORTER\s+CONNECTED\s+DELIVERED\s+UNDELIVERED\s+DROPPED FROM BUFFER\s+FAILURES\s+LAST ERROR\nsiem\s+(yes|true)\s+\d+\s+\d+\s+0\s+\d+/);

    p.proc.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 90_000);
});

describe('openkcm serve refuses a bad audit.exporters setting', () => {
  it('in the config file: exit 2, the message names the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-siem-'));
    try {
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ audit: { exporters: [{ type: 'syslog', transport: 'tcp', host: '127.0.0.1', port: 'x' }] } }));
      const p = serve(dir, ['--config', 'bad.json']);
      expect(await p.exited).toBe(2);
      expect(p.err()).toMatch(/^openkcm: configuration file \S+bad\.json audit\.exporters\[0\]\.port: expected an integer 1\.\.65535, got "x"\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('in the environment: not a list, or a bad entry, exit 2 naming the variable and the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openkcm-siem-'));
    try {
      const a = serve(dir, [], { OPENKCM_AUDIT_EXPORTERS: '{"type":"file"}' });
      expect(await a.exited).toBe(2);
      expect(a.err()).toMatch(/env OPENKCM_AUDIT_EXPORTERS "audit\.exporters": must be a list/);
      const b = serve(dir, [], { OPENKCM_AUDIT_EXPORTERS: '[{"type":"kafka"}]' });
      expect(await b.exited).toBe(2);
      expect(b.err()).toMatch(/env OPENKCM_AUDIT_EXPORTERS audit\.exporters\[0\]\.type: expected one of 'file', 'syslog', got "kafka"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
