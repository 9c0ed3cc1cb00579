// The gateway's KMIP front (issue 11 §2): applications that only speak KMIP point their
// client here (mutual TLS, certificates of the CA given). Every request message is forwarded
// to the Core over the gateway's pooled link, under the gateway's identity at the Core, and
// the Core's response is relayed unchanged. Responses go back in request order (the app's
// client may pipeline).
//
// Which service a forwarded request acts for (issue 11 §1: one gateway, several services):
// - an application certificate of OpenKCM's CA names its service: the request acts for that
//   service, which must be one the gateway may act for (its local --services list when it
//   has one, and always the Core's list for the gateway identity, which decides);
// - a certificate of another CA (accepted only with --kmip-ca) names none: the request acts
//   for the gateway's own service (the one in its certificate).
// The gateway writes that choice into the Request Header's Authentication and removes any
// credential the application sent (src/kmip/acting-for.ts), so an application never picks
// a service for itself.
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { TtlvFramer } from '../ttlv/framing.ts';
import { withActingFor } from '../kmip/acting-for.ts';
import type { CoreLink } from './core-link.ts';

/** Largest request forwarded: the Core's default message limit; stops memory floods at the edge. */
export const MAX_FORWARDED_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface KmipFrontOptions {
  /**
   * The gateway's tenant, and the services it serves locally (undefined: whatever the Core
   * allows this gateway): an application certificate naming others is refused.
   */
  tenant: string;
  services: readonly string[] | undefined;
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

/**
 * Whether this application certificate may use the front, and for which service its
 * requests act (undefined: the gateway's own service, for a certificate of another CA).
 */
function frontAdmission(socket: TLSSocket, opts: KmipFrontOptions): { refused: string } | { service: string | undefined } {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return { refused: 'no client certificate' };
  const ids = (cert.subjectAltName ?? '').split(/,\s*/).filter((x) => x.startsWith('URI:'))
    .map((x) => IDENTITY_URI.exec(x.slice(4))).filter((m): m is RegExpExecArray => m !== null);
  if (ids.length === 0) {
    return opts.acceptForeignCertificates ? { service: undefined } : { refused: `certificate ${cert.subject.replace(/\n/g, ', ')} carries no OpenKCM identity` };
  }
  for (const m of ids) {
    if (m[1] === opts.tenant && (opts.services === undefined || opts.services.includes(m[2]!))) return { service: m[2]! };
  }
  const m = ids[0]!;
  return { refused: m[1] !== opts.tenant ? `certificate of tenant ${m[1]}, this gateway serves tenant ${opts.tenant}` : `service ${m[2]} is not allowed for this gateway` };
}

export async function startKmipFront(opts: KmipFrontOptions): Promise<KmipFront> {
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer({ cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    // Requests are forwarded under the gateway's identity: a certificate of OpenKCM's CA made
    // for another tenant or service must not borrow it (that would cross tenants at the edge).
    const admission = frontAdmission(socket, opts);
    if ('refused' in admission) {
      opts.logger.warn({ event: 'kmip_front_refused', reason: admission.refused }, 'KMIP front connection refused');
      socket.destroy();
      return;
    }
    const acting = admission.service;
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
        // Bytes that do not decode go as they are: the Core, with the same decoder, answers
        // Invalid Message and runs nothing (withActingFor's comment).
        const answer = opts.link.forward(withActingFor(f, acting) ?? Buffer.from(f));
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
