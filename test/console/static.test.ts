// Issue 14 §3: the web console's files as the admin listener serves them — a strict
// Content-Security-Policy, nothing referenced from another origin, markup that labels its
// controls, and only the admin listener's mutual TLS in front of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { fetchText, type HttpAnswer } from '../helpers/http.ts';
import { join } from 'node:path';
import { startAdminEnv, type AdminEnv } from '../admin/helpers.ts';
import { CONSOLE_CSP, CONSOLE_DIR } from '../../src/server/console.ts';

let env: AdminEnv;
beforeAll(async () => { env = await startAdminEnv(); }, 60_000);
afterAll(async () => { await env?.close(); });

function get(path: string, opts: { method?: string; cert?: boolean } = {}): Promise<HttpAnswer> {
  return fetchText(new URL(path, env.url), {
    method: opts.method ?? 'GET', ca: readFileSync(env.pki.caCert),
    ...(opts.cert === false ? {} : { cert: readFileSync(env.pki.clientCert), key: readFileSync(env.pki.clientKey) }),
  });
}

const files = readdirSync(CONSOLE_DIR).filter((f) => /\.(html|js|css)$/.test(f));

describe('the web console on the admin listener', () => {
  it('serves index.html at /console/ (and / redirects there) with a strict CSP and no-sniff', async () => {
    const root = await get('/');
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('/console/');
    const page = await get('/console/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<title>OpenKCM console</title>');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toBe(CONSOLE_CSP);
    // Strict: a default of nothing, scripts and styles from this origin only, never inline or eval.
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
    expect(csp).not.toMatch(/unsafe-|\*|https?:|data:|blob:/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-frame-options']).toBe('DENY');
  });

  it('serves every file of console/ with its type; anything else is a 404, a POST a 405', async () => {
    for (const f of files) {
      const r = await get(`/console/${f}`);
      expect(r.status, f).toBe(200);
      expect(r.body).toBe(readFileSync(join(CONSOLE_DIR, f), 'utf8'));
      expect(r.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
    expect((await get('/console/app.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get('/console/../package.json')).status).not.toBe(200);
    expect((await get('/console/%2e%2e/package.json')).status).toBe(404);
    expect((await get('/console/nope.js')).status).toBe(404);
    expect((await get('/console/', { method: 'POST' })).status).toBe(405);
    // The API is still the API.
    expect((await get('/v1/whoami')).status).toBe(200);
  });

  it('refuses a browser without a client certificate at the TLS handshake', async () => {
    await expect(get('/console/', { cert: false })).rejects.toThrow();
  });

  it('references no other origin: no absolute URL, protocol-relative URL or remote import in any file', () => {
    expect(files.sort()).toEqual(['app.js', 'console.css', 'index.html', 'lib.js']);
    for (const f of files) {
      const text = readFileSync(join(CONSOLE_DIR, f), 'utf8');
      expect(text.match(/\b(?:https?|wss?|ftp):\/\/[^\s'"`)]*/gi) ?? [], f).toEqual([]);
      expect(text.match(/(?:src|href|url\()\s*=?\s*["']?\/\/[^\s'"`)]*/gi) ?? [], f).toEqual([]);
      expect(text.match(/@import/gi) ?? [], f).toEqual([]);
      if (f.endsWith('.js')) {
        const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
        for (const s of specifiers) expect(s, `${f} imports ${s}`).toMatch(/^\.\/[a-z]+\.js$/);
        // No dynamic code: the CSP forbids it, and the console needs none.
        expect(text).not.toMatch(/\beval\(|new Function\(|\.innerHTML\s*=|insertAdjacentHTML|document\.write/);
      }
    }
  });

  it('markup: no inline script or style, every control of index.html labelled, landmarks and live regions present', () => {
    const html = readFileSync(join(CONSOLE_DIR, 'index.html'), 'utf8');
    expect(html).toMatch(/<html lang="en">/);
    // Scripts only by src (the CSP would block inline ones anyway: this keeps the file honest).
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(m[1]).toMatch(/\bsrc="\/console\/[a-z]+\.js"/);
      expect(m[2]!.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle="|\son[a-z]+="/i);
    for (const m of html.matchAll(/<(input|select|textarea)\b[^>]*\bid="([^"]+)"/g)) {
      expect(html, `control #${m[2]} has a label`).toMatch(new RegExp(`<label[^>]*for="${m[2]}"`));
    }
    expect(html).toMatch(/<main\b/);
    expect(html).toMatch(/<nav\b[^>]*aria-label=/);
    expect(html).toMatch(/role="status"/);
    expect(html).toMatch(/role="alert"/);
    expect(html).toMatch(/<dialog\b[^>]*aria-labelledby="confirm-title"/);
  });
});
