// Where exported lines go: a size-rotated file, or a syslog collector over UDP, TCP or TLS.
// Each transport delivers a batch in order and resolves once the bytes are handed to the
// operating system; it rejects when they cannot be, and the exporter retries the batch.
//
// What "delivered" means, per transport (syslog has no application-level acknowledgment):
//   file — written with writeSync to the file (not fsynced: the store holds the truth).
//   udp  — sent as one datagram per message (RFC 5426 §3.1). Best effort: a collector
//          that is down is noticed only when the kernel reports ICMP "port unreachable"
//          on the connected socket; otherwise the datagrams are lost.
//   tcp, tls — written to the socket. A collector that closes or resets the connection is
//          noticed at once ('end'/'error') and the next batch waits for a new connection;
//          messages written in the instant before a crash of the collector can be lost.
import dgram from 'node:dgram';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { FileExporterConfig, SyslogExporterConfig } from './config.ts';

export interface Transport {
  send(messages: readonly string[]): Promise<void>;
  /** Whether the last attempt succeeded / a connection is open. */
  readonly connected: boolean;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------

/** Appends one line per message; rotates path → path.1 → … → path.keep when full. */
export class RotatingFileTransport implements Transport {
  private fd: number | undefined;
  private size = 0;
  connected = true;

  constructor(private readonly cfg: Pick<FileExporterConfig, 'path' | 'maxBytes' | 'keep'>) {}

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.cfg.path), { recursive: true });
      // 0640: audit lines name identities and objects; not for every local user.
      this.fd = openSync(this.cfg.path, 'a', 0o640);
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  private rotate(): void {
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined; }
    const { path, keep } = this.cfg;
    if (keep === 0) { rmSync(path, { force: true }); return; }
    rmSync(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    if (existsSync(path)) renameSync(path, `${path}.1`);
  }

  async send(messages: readonly string[]): Promise<void> {
    try {
      for (const m of messages) {
        const line = Buffer.from(`${m}\n`, 'utf8');
        this.open();
        // A line never spans two files; an empty file takes a line even if it is too long.
        if (this.size > 0 && this.size + line.length > this.cfg.maxBytes) this.rotate();
        const fd = this.open();
        writeSync(fd, line);
        this.size += line.length;
      }
      this.connected = true;
    } catch (err) {
      this.connected = false;
      if (this.fd !== undefined) { try { closeSync(this.fd); } catch { /* already gone */ } this.fd = undefined; }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined; }
  }
}

// ---------------------------------------------------------------------------------------

export class UdpSyslogTransport implements Transport {
  private socket: dgram.Socket | undefined;
  private ready: Promise<dgram.Socket> | undefined;
  connected = false;

  constructor(private readonly cfg: Pick<SyslogExporterConfig, 'host' | 'port' | 'connectTimeoutMs'>) {}

  private connect(): Promise<dgram.Socket> {
    this.ready ??= new Promise<dgram.Socket>((resolve, reject) => {
      const s = dgram.createSocket(net.isIPv6(this.cfg.host) ? 'udp6' : 'udp4');
      const fail = (err: Error) => { s.close(); this.ready = undefined; reject(err); };
      s.once('error', fail);
      // connect() makes the kernel report ICMP port-unreachable as ECONNREFUSED on a later send.
      s.connect(this.cfg.port, this.cfg.host, () => {
        s.off('error', fail);
        s.on('error', () => { this.drop(); });
        this.socket = s;
        resolve(s);
      });
    });
    return this.ready;
  }

  private drop(): void {
    this.connected = false;
    this.socket?.close();
    this.socket = undefined;
    this.ready = undefined;
  }

  async send(messages: readonly string[]): Promise<void> {
    const s = await this.connect();
    try {
      for (const m of messages) {
        await new Promise<void>((resolve, reject) => s.send(Buffer.from(m, 'utf8'), (err) => (err ? reject(err) : resolve())));
      }
      this.connected = true;
    } catch (err) {
      this.drop();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.drop();
  }
}

// ---------------------------------------------------------------------------------------

/** Octet-counting framing: "MSG-LEN SP SYSLOG-MSG" (RFC 6587 §3.4.1, RFC 5425 §4.3). */
export function octetCount(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

interface TlsMaterial { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized: boolean }

function tlsMaterial(cfg: SyslogExporterConfig): TlsMaterial {
  const t = cfg.tls;
  const read = (text: string | undefined, file: string | undefined) => text ?? (file ? readFileSync(file, 'utf8') : undefined);
  const out: TlsMaterial = { rejectUnauthorized: t?.rejectUnauthorized ?? true, servername: t?.servername ?? (net.isIP(cfg.host) ? undefined : cfg.host) };
  const ca = read(t?.ca, t?.caFile); if (ca) out.ca = ca;
  const cert = read(t?.cert, t?.certFile); if (cert) out.cert = cert;
  const key = read(t?.key, t?.keyFile); if (key) out.key = key;
  if (out.servername === undefined) delete out.servername;
  return out;
}

/**
 * A write that has not reached the kernel after this long means a collector that stopped
 * reading or a peer lost without a reset: the connection is dropped and the batch retried.
 */
export const STREAM_STALL_TIMEOUT_MS = 60_000;

/** Syslog over a stream: plain TCP (RFC 6587) or TLS (RFC 5425), octet-counted frames. */
export class StreamSyslogTransport implements Transport {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private readonly material: TlsMaterial | undefined;

  constructor(private readonly cfg: SyslogExporterConfig) {
    // Certificates are read once, at start: a missing file is a configuration error then.
    this.material = cfg.transport === 'tls' ? tlsMaterial(cfg) : undefined;
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  private connect(): Promise<net.Socket> {
    if (this.connected) return Promise.resolve(this.socket!);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const { host, port } = this.cfg;
      const s: net.Socket = this.material
        // RFC 5425 §4.2: TLS 1.2 at least; the collector's certificate is checked.
        ? tls.connect({ host, port, minVersion: 'TLSv1.2', ...this.material })
        : net.connect({ host, port });
      const timer = setTimeout(() => fail(new Error(`syslog ${this.cfg.transport} ${host}:${port}: no connection after ${this.cfg.connectTimeoutMs} ms`)), this.cfg.connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        this.connecting = undefined;
        reject(err);
      };
      s.once('error', fail);
      s.once(this.material ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000); // notice a collector that vanished without a reset
        // The collector never talks back (RFC 6587 §3.4, RFC 5425 §4.3): anything read is
        // discarded; its end or an error means it is gone, and we reconnect for the next batch.
        s.on('data', () => {});
        const gone = () => { s.destroy(); if (this.socket === s) this.socket = undefined; };
        s.on('end', gone);
        s.on('error', gone);
        s.on('close', gone);
        this.socket = s;
        this.connecting = undefined;
        resolve(s);
      });
    });
    return this.connecting;
  }

  async send(messages: readonly string[]): Promise<void> {
    const s = await this.connect();
    const frame = Buffer.concat(messages.map(octetCount));
    await new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new Error(`syslog ${this.cfg.transport} ${this.cfg.host}:${this.cfg.port}: connection closed while sending`));
      s.once('close', onClose);
      const stall = setTimeout(() => s.destroy(new Error(`syslog ${this.cfg.transport} ${this.cfg.host}:${this.cfg.port}: no progress writing for ${STREAM_STALL_TIMEOUT_MS} ms`)), STREAM_STALL_TIMEOUT_MS);
      s.write(frame, (err) => {
        clearTimeout(stall);
        s.off('close', onClose);
        if (err) { s.destroy(); reject(err); } else resolve();
      });
    });
    if (!this.connected) throw new Error(`syslog ${this.cfg.transport} ${this.cfg.host}:${this.cfg.port}: connection lost`);
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end();
      setTimeout(() => { s.destroy(); }, 1_000).unref();
    });
  }
}
