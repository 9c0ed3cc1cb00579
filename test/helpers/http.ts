// One HTTP(S) request from a test, its whole answer read as text. The tests of the metrics
// listener, the console's static files and the SSO routes each need only this; the TLS
// material (CA, client certificate or none), method, headers and timeout are theirs.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Sends the request (http: or https: by the URL) with no body; `timeout` destroys a stalled one with an error. */
export function fetchText(url: string | URL, opts: RequestOptions = {}): Promise<HttpAnswer> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, opts, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (opts.timeout !== undefined) req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}
