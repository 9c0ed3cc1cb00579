// The gateway's KMIP front (issue 11 §2): applications that only speak KMIP point their
// client here (mutual TLS, certificates of the CA given). Every request message is forwarded
// as is to the Core over the gateway's pooled link — under the gateway's identity at the Core,
// so for the gateway's tenant and service — and the Core's response is relayed unchanged.
// Responses go back in request order (the app's client may pipeline).
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { TtlvFramer } from '../ttlv/framing.ts';
import type { CoreLink } from './core-link.ts';

/** Largest request forwarded: the Core's default message limit; stops memory floods at the edge. */
export const MAX_FORWARDED_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface KmipFrontOptions {
  /** The gateway's tenant and services: an application certificate naming others is refused. */
  tenant: string;
  services: readonly string[];
  /**
   * Whether certificates without an OpenKCM identity URI are accepted: only when the operator
   * named the application CA (--kmip-ca); with OpenKCM's own CA every certificate names one.
   */
  acceptForeignCertificates: boolean;
  host: string;
  port: number;
  cert: string | Buffer;
  key: string | Buffer;
  /** CA of the application certificates. */
  ca: string | Buffer;
  link: CoreLink;
  logger: Logger;
}

export interface KmipFront {
  port: number;
  close(): Promise<void>;
}

const IDENTITY_URI = /^openkcm:\/\/tenant\/([^/]+)\/service\/([^/]+)\/role\/([^/]+)$/;

/** Why this application certificate may not use the front, or undefined. */
function frontRefusal(socket: TLSSocket, opts: KmipFrontOptions): string | undefined {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return 'no client certificate';
  const ids = (cert.subjectAltName ?? '').split(/,\s*/).filter((x) => x.startsWith('URI:'))
    .map((x) => IDENTITY_URI.exec(x.slice(4))).filter((m): m is RegExpExecArray => m !== null);
  if (ids.length === 0) return opts.acceptForeignCertificates ? undefined : `certificate ${cert.subject.replace(/\n/g, ', ')} carries no OpenKCM identity`;
  for (const m of ids) {
    if (m[1] === opts.tenant && opts.services.includes(m[2]!)) return undefined;
  }
  const m = ids[0]!;
  return m[1] !== opts.tenant ? `certificate of tenant ${m[1]}, this gateway serves tenant ${opts.tenant}` : `service ${m[2]} is not allowed for this gateway`;
}

export async function startKmipFront(opts: KmipFrontOptions): Promise<KmipFront> {
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer({ cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    // Requests are forwarded under the gateway's identity: a certificate of OpenKCM's CA made
    // for another tenant or service must not borrow it (that would cross tenants at the edge).
    const refusal = frontRefusal(socket, opts);
    if (refusal !== undefined) {
      opts.logger.warn({ event: 'kmip_front_refused', reason: refusal }, 'KMIP front connection refused');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new TtlvFramer(MAX_FORWARDED_MESSAGE_BYTES);
    let last: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = framer.push(chunk);
      } catch (e) {
        opts.logger.warn({ event: 'kmip_front_frame', err: (e as Error).message }, 'closing a KMIP front connection');
        socket.destroy();
        return;
      }
      for (const f of frames) {
        const answer = opts.link.forward(Buffer.from(f));
        last = last.then(async () => {
          try {
            const bytes = await answer;
            if (!socket.destroyed) socket.write(bytes);
          } catch (e) {
            // The Core is unreachable: a transport failure, so this connection ends too (DESIGN.md §4).
            opts.logger.warn({ event: 'kmip_front_forward', err: (e as Error).message }, 'the core did not answer a forwarded request');
            socket.destroy();
          }
        });
      }
    });
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : opts.port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
