// KMIP over HTTPS (issue 13 §3; KMIP Profiles 2.1 §5.3 "HTTPS Profile", the MSGENC-HTTPS
// vectors; the encodings of §5.4 XML and §5.5 JSON): one KMIP request per HTTP `POST /kmip`,
// the message in the body, its encoding named by Content-Type:
//
//   application/octet-stream   binary TTLV (the HTTPS profile itself)
//   text/xml                   KMIP XML (application/xml is read as the same)
//   application/json           KMIP JSON
//
// The answer is in the request's encoding, with the same Content-Type. Every message goes
// through the one KmipEngine the TTLV port uses (identity, policy, tenant gate, audit,
// Maximum Response Size): this file only moves bytes and converts encodings. HTTP-level
// mistakes (path, method, media type, body too large) get the HTTP status that names them and
// a one-line text reason; a body that is not a KMIP message gets a KMIP answer (Invalid
// Message, as on the TTLV port) with status 200, because it is the KMIP layer's verdict.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { TtlvError } from '../ttlv/errors.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { fromXml, toXml } from '../ttlv/xml.ts';
import { fromJson, toJson } from '../ttlv/json.ts';
import type { ClientIdentity } from '../operations/types.ts';
import type { KmipEngine } from './executor.ts';

/** The Request URI of the HTTPS profile (KMIP Profiles 2.1 §5.3). */
export const KMIP_HTTP_PATH = '/kmip';

export type HttpEncoding = 'ttlv' | 'xml' | 'json';

/** The Content-Type written for each encoding (and the one a client is told to send). */
export const MEDIA_TYPE: Readonly<Record<HttpEncoding, string>> = {
  ttlv: 'application/octet-stream',
  xml: 'text/xml',
  json: 'application/json',
};

const ACCEPTED = `${MEDIA_TYPE.ttlv} (TTLV), ${MEDIA_TYPE.xml} (KMIP XML) or ${MEDIA_TYPE.json} (KMIP JSON)`;

/** The encoding a Content-Type header names (parameters such as charset are ignored), or undefined. */
export function encodingOf(contentType: string | undefined): HttpEncoding | undefined {
  if (contentType === undefined) return undefined;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  switch (media) {
    case 'application/octet-stream': return 'ttlv';
    case 'text/xml':
    case 'application/xml': return 'xml';
    case 'application/json': return 'json';
    default: return undefined;
  }
}

export interface HttpKmipOptions {
  engine: KmipEngine;
  /** Largest body accepted, in bytes (the listener's maxMessageSize, as on the TTLV port). */
  maxBodyBytes: number;
  /** The governance identity of the TLS connection a request came on. */
  identityOf(req: IncomingMessage): ClientIdentity;
  logOf(req: IncomingMessage): Logger;
  /** Counts a KMIP message answered (the connection's close line). */
  answered?(req: IncomingMessage, bytesIn: number, bytesOut: number): void;
}

/** A one-line plain-text refusal; `close` also ends the connection (the body was not read). */
function refuse(res: ServerResponse, status: number, reason: string, extra: Record<string, string> = {}, close = false): void {
  const body = `${reason}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...(close ? { Connection: 'close' } : {}),
    ...extra,
  });
  res.end(body);
}

class BodyTooLarge extends Error {}

/** Reads the body, refusing (without buffering) past `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > max) {
        req.off('data', onData);
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n)));
    req.once('error', reject);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** XML or JSON text → the one Request Message it holds, or a reason it does not. */
function parseText(encoding: 'xml' | 'json', body: Buffer): { message: TtlvItem } | { problem: string } {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { problem: 'the body is not UTF-8 text' };
  }
  let items: TtlvItem[];
  try {
    items = encoding === 'xml' ? fromXml(text) : [fromJson(text)].flat();
  } catch (e) {
    return { problem: e instanceof TtlvError ? e.message : `not KMIP ${encoding.toUpperCase()}` };
  }
  if (items.length !== 1) return { problem: `expected one RequestMessage, found ${items.length} top-level items` };
  if (items[0]!.tag !== Tag.RequestMessage) return { problem: 'the top-level item is not a RequestMessage' };
  return { message: items[0]! };
}

/** The request handler of the HTTPS listener. */
export function httpKmipHandler(opts: HttpKmipOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { engine, maxBodyBytes } = opts;
  return (req, res) => {
    void (async () => {
      const log = opts.logOf(req);
      const path = (req.url ?? '').split('?')[0];
      if (path !== KMIP_HTTP_PATH) {
        refuse(res, 404, `not found: KMIP is served at POST ${KMIP_HTTP_PATH}`);
        return;
      }
      if (req.method !== 'POST') {
        refuse(res, 405, `method ${req.method} not allowed: send KMIP requests with POST ${KMIP_HTTP_PATH}`, { Allow: 'POST' });
        return;
      }
      const encoding = encodingOf(req.headers['content-type']);
      if (encoding === undefined) {
        const given = req.headers['content-type'];
        refuse(res, 415, `${given === undefined ? 'no Content-Type' : `Content-Type ${given} is not accepted`}: send ${ACCEPTED}`);
        return;
      }
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBodyBytes) {
        // Refused from the header, before any byte of the body is buffered (DESIGN.md §4).
        log.warn({ event: 'body_too_large', claimed: Number(declared), max: maxBodyBytes }, 'refusing oversized HTTP body');
        refuse(res, 413, `request body of ${declared} bytes exceeds the maximum message size of ${maxBodyBytes} bytes`, {}, true);
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge) {
          log.warn({ event: 'body_too_large', max: maxBodyBytes }, 'refusing oversized HTTP body');
          refuse(res, 413, `request body exceeds the maximum message size of ${maxBodyBytes} bytes`, {}, true);
        } else {
          log.debug({ err: e }, 'request body not received');
          res.destroy();
        }
        return;
      }
      const identity = opts.identityOf(req);
      let out: Buffer;
      try {
        if (encoding === 'ttlv') {
          out = await engine.handleBytes(body, identity, log);
        } else {
          const parsed = parseText(encoding, body);
          let bytes: Buffer | undefined;
          let problem = 'problem' in parsed ? parsed.problem : undefined;
          if ('message' in parsed) {
            try {
              bytes = encode(parsed.message);
            } catch (e) {
              problem = e instanceof TtlvError ? e.message : 'the message cannot be encoded';
            }
          }
          const answer = bytes !== undefined
            ? await engine.handleBytes(bytes, identity, log)
            : await engine.answerUndecodable(`cannot decode the KMIP ${encoding.toUpperCase()} request: ${problem}`, identity, log);
          const tree = decode(answer);
          out = Buffer.from(encoding === 'xml' ? toXml(tree, { root: false }) : toJson(tree), 'utf8');
        }
      } catch (e) {
        // The engine answers every KMIP failure itself; this is a bug, answered generically.
        log.error({ err: e }, 'could not answer an HTTPS KMIP request');
        refuse(res, 500, 'internal error while answering the KMIP request');
        return;
      }
      opts.answered?.(req, body.length, out.length);
      res.writeHead(200, {
        'Content-Type': MEDIA_TYPE[encoding],
        'Content-Length': out.length,
        // Answers carry key material: no cache on the way may keep them.
        'Cache-Control': 'no-store',
      });
      res.end(out);
    })();
  };
}
