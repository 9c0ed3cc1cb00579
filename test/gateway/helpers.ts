// Real processes for the gateway suites: `openkcm gateway` as a child process next to an
// `openkcm serve` (test/admin/serve.ts), and a recording TLS-terminating relay between a
// gateway and the Core: it holds the Core's server certificate towards the gateway and the
// gateway's client certificate towards the Core, so it sees every byte the gateway receives,
// and it can cut the link (a partition) and let it heal.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { connect as tlsConnect, createServer, type Server, type TLSSocket } from 'node:tls';
import { cleanEnv, OPENKCM } from '../admin/serve.ts';

export interface GatewayProc {
  port: number;
  kmipPort?: number;
  /** Process id (bench/gateway.ts reads its CPU time from /proc). */
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * `opts.program`: another checkout's scripts/dev-bin/openkcm.js (bench/gateway.ts --before);
 * `opts.nodeArgs`: node flags before the program (e.g. --cpu-prof).
 */
export async function startGatewayProc(cwd: string, args: string[], opts: { program?: string; nodeArgs?: string[] } = {}): Promise<GatewayProc> {
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.program ?? OPENKCM, 'gateway', ...args, '--log-level', 'warn'], { cwd, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const kmip = args.includes('--kmip-listen');
  const ports = await new Promise<{ port: number; kmip?: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`openkcm gateway did not start within 60 s:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const api = /data-key API on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      const front = /KMIP front listening on port (\d+)/.exec(stderr);
      if (api && (!kmip || front)) {
        clearTimeout(timer);
        resolve({ port: Number(api[1]), ...(front ? { kmip: Number(front[1]) } : {}) });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`openkcm gateway exited with ${code}:\n${stderr}`)); });
  });
  return {
    port: ports.port,
    pid: child.pid!,
    ...(ports.kmip !== undefined ? { kmipPort: ports.kmip } : {}),
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export function tokenFile(dir: string, token: string): string {
  const f = join(dir, 'tokens');
  writeFileSync(f, `# application tokens\nbilling-app ${token}\n`, { mode: 0o600 });
  return f;
}

export interface HttpAnswer {
  status: number;
  body: Record<string, any>;
}

export function post(port: number, path: string, body: unknown, token?: string): Promise<HttpAnswer> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

export interface Relay {
  port: number;
  /** Every byte the Core sent towards the gateway, decrypted. */
  received(): Buffer;
  /**
   * From now on every whole KMIP message the Core sends is passed through `fn` (a forging
   * Core: the bytes it returns reach the gateway instead); undefined: relayed as sent.
   */
  tamper(fn: ((message: Buffer) => Buffer) | undefined): void;
  /** Drops every connection and refuses new ones (a partition). */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startRelay(opts: {
  corePort: number; serverCert: string; serverKey: string; ca: string; clientCert: string; clientKey: string;
}): Promise<Relay> {
  const recorded: Buffer[] = [];
  const sockets = new Set<TLSSocket>();
  let cut = false;
  let forge: ((message: Buffer) => Buffer) | undefined;
  const server: Server = createServer({
    cert: readFileSync(opts.serverCert), key: readFileSync(opts.serverKey), ca: readFileSync(opts.ca), requestCert: true, rejectUnauthorized: true,
  }, (down) => {
    if (cut) { down.destroy(); return; }
    const up = tlsConnect({ host: '127.0.0.1', port: opts.corePort, ca: readFileSync(opts.ca), cert: readFileSync(opts.clientCert), key: readFileSync(opts.clientKey), checkServerIdentity: () => undefined });
    sockets.add(down);
    sockets.add(up);
    // Whole messages (8-byte TTLV header: tag 3, type 1, length 4), so a forger sees one at a time.
    let pending: Buffer = Buffer.alloc(0);
    up.on('data', (d: Buffer) => {
      recorded.push(Buffer.from(d));
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      while (pending.length >= 8 && pending.length >= 8 + pending.readUInt32BE(4)) {
        const n = 8 + pending.readUInt32BE(4);
        const msg = pending.subarray(0, n);
        pending = pending.subarray(n);
        down.write(forge === undefined ? msg : forge(Buffer.from(msg)));
      }
    });
    down.on('data', (d: Buffer) => up.write(d));
    const end = () => { down.destroy(); up.destroy(); sockets.delete(down); sockets.delete(up); };
    up.on('close', end); down.on('close', end); up.on('error', end); down.on('error', end);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    received: () => Buffer.concat(recorded),
    tamper(fn) { forge = fn; },
    cut() { cut = true; for (const s of sockets) s.destroy(); },
    heal() { cut = false; },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is truthy; returns the elapsed ms; throws past `limitMs`. */
export async function waitFor(check: () => Promise<boolean>, limitMs: number, stepMs = 20): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) throw new Error(`condition not met within ${limitMs} ms`);
    await sleep(stepMs);
  }
}

export interface BinaryAnswer {
  status: number;
  type: string | undefined;
  body: Buffer;
}

/** POST with a binary body (src/gateway/binary.ts), the answer's bytes as they came. */
export function postBinary(port: number, path: string, body: Buffer, token?: string): Promise<BinaryAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
