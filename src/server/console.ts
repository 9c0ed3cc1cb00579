// The web console's static files (issue 14 §3), served by the admin listener under /console/.
// The console is plain ES modules and CSS in the package's console/ folder: no build step, no
// framework, nothing from another origin. Every decision stays in the admin API: the page only
// calls /v1/… (and the SSO helper's /auth/…) with the browser's own credentials, so the files
// themselves hold nothing secret and are the same for every caller.
//
// The files are read once at start and served from memory: the set of paths is fixed, so no
// request path ever reaches the file system (no traversal to think about).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the console lives on the admin listener. */
export const CONSOLE_PATH = '/console/';

/**
 * A strict Content-Security-Policy: scripts, styles and API calls from this origin only, no
 * inline script or style, no plugin, no framing, no form posted elsewhere. A console whose
 * page got a hostile string into its DOM still cannot run it or send data to another origin.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Headers of every console response (files and redirects). */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/** The package's console/ folder: beside src/ in a clone, beside dist/ in the package. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

export interface ConsoleFiles {
  /** Serves the request when it is for the console; false when it is not (an API path). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** File names served (for tests and the start log). */
  readonly names: readonly string[];
}

/** Reads the console's files; a missing folder is an error the server names at start. */
export function loadConsole(dir = CONSOLE_DIR): ConsoleFiles {
  const files = new Map<string, { body: Buffer; type: string }>();
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new Error(`cannot read the web console's files in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const name of entries) {
    const type = TYPES[extname(name)];
    if (type === undefined || !statSync(join(dir, name)).isFile()) continue;
    files.set(name, { body: readFileSync(join(dir, name)), type });
  }
  if (!files.has('index.html')) throw new Error(`the web console's index.html is missing in ${dir}`);
  return {
    names: [...files.keys()].sort(),
    handle(req, res) {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path !== '/' && path !== '/console' && !path.startsWith(CONSOLE_PATH)) return false;
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        res.writeHead(405, { ...CONSOLE_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${method} is not allowed on the console's files\n`);
        return true;
      }
      if (path === '/' || path === '/console') {
        res.writeHead(302, { ...CONSOLE_HEADERS, location: CONSOLE_PATH, 'cache-control': 'no-store' });
        res.end();
        return true;
      }
      const name = path === CONSOLE_PATH ? 'index.html' : path.slice(CONSOLE_PATH.length);
      const f = files.get(name);
      if (!f) {
        res.writeHead(404, { ...CONSOLE_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end(`no such console file: ${name.slice(0, 200)}\n`);
        return true;
      }
      res.writeHead(200, {
        ...CONSOLE_HEADERS,
        'content-type': f.type,
        'content-length': f.body.length,
        // Revalidate each load: an upgraded server must not run yesterday's script against today's API.
        'cache-control': 'no-cache',
      });
      res.end(method === 'HEAD' ? undefined : f.body);
      return true;
    },
  };
}
