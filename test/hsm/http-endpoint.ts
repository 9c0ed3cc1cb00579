/**
 * What every protocol-faithful cloud endpoint of the L1 tests shares (AWS KMS, Vault Transit,
 * Azure Key Vault, Google Cloud KMS): listeners on 127.0.0.1 that a test can take down and bring
 * back on the same port, a stall switch, bounded body reading and JSON replies.
 *
 * The point of `stop()` closing every tracked socket is that a provider's keep-alive agent
 * must see the endpoint really go away (an outage), not finish its requests on an old
 * connection; and the point of keeping the port is that the provider's configured URL stays
 * right when the endpoint "comes back".
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export abstract class TestEndpoint {
  /** While true, requests are read and never answered (a black-holed network path). */
  protected stalled = false;
  private readonly sockets = new Set<Socket>();
  private readonly servers = new Map<string, Server>();
  /** Port of each named listener: 0 until the first start, then kept across stop/start. */
  private readonly ports = new Map<string, number>();

  /** The port a named listener has (or had before stop()); 0 before it first listened. */
  protected portOf(name = 'main'): number {
    return this.ports.get(name) ?? 0;
  }

  /** Starts a listener under a name, on its previous port if it had one. */
  protected async listen(server: Server, name = 'main'): Promise<number> {
    server.on('connection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portOf(name), '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    this.servers.set(name, server);
    this.ports.set(name, port);
    return port;
  }

  /** Closes every listener and every open connection: the endpoint is down. */
  async stop(): Promise<void> {
    const servers = [...this.servers.values()];
    this.servers.clear();
    for (const sock of this.sockets) sock.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** While stalled, requests are accepted and never answered: the client's own timeout must fire. */
  stall(on: boolean): void {
    this.stalled = on;
  }
}

/**
 * Reads a request body of at most `max` bytes. Over the bound the request is destroyed and the
 * result is undefined: the endpoint must never buffer whatever a broken client streams at it.
 */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) {
      req.destroy();
      return undefined;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Sends a JSON body (or none when payload is undefined) with its length and extra headers. */
export function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  const text = payload === undefined ? '' : JSON.stringify(payload);
  res.writeHead(status, {
    ...(payload === undefined ? {} : { 'content-type': contentType }),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}
