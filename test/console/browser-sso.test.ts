// Issue 14 §3 with §4: the web console signed into through single sign-on, in a real browser.
// Debian's headless Chromium (playwright-core) without any client certificate, a real OpenID
// provider (oidc-provider, test/helpers/oidc-provider.ts) and the real admin listener with
// SSO configured (test/admin/helpers.ts): the sign-in view offers "Log in with SSO" because
// GET /auth/me says SSO is configured, the person goes through the provider's own login and
// consent pages, comes back to the console with a session, works in it under the role the
// provider's groups map to, and logs out; the session's cookie is then refused by the server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startAdminEnv, type AdminEnv } from '../admin/helpers.ts';
import { ADMIN_AUDIENCE, CONSOLE_CLIENT, newSigningKey, startTestIdp, type TestIdp } from '../helpers/oidc-provider.ts';
import { OidcSso, SSO_SESSION_COOKIE } from '../../src/server/sso.ts';
import { silentLogger } from '../../src/log/index.ts';

const CHROMIUM = process.env.OPENKCM_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(fileURLToPath(import.meta.url), '../../../test-artifacts/console');

let idp: TestIdp;
let env: AdminEnv;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/ensure-system-deps.sh)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  idp = await startTestIdp({ alice: ['kms-admins'], carol: ['acme-kms'] }, {});
  const sso = new OidcSso({
    settings: {
      issuer: idp.issuer, clientId: CONSOLE_CLIENT.id, clientSecret: CONSOLE_CLIENT.secret, audience: ADMIN_AUDIENCE,
      redirectUrl: undefined, roleClaim: 'groups', roles: { 'kms-admins': 'admin', 'acme-kms': 'tenant-admin:acme' },
      scopes: 'openid email groups', sessionTtlSeconds: 600,
    },
    logger: silentLogger(),
  });
  env = await startAdminEnv({ sso });
  env.governance.createTenant({ id: 'acme' });
  env.governance.createTenant({ id: 'beta' });
  idp.configure({ redirectUri: `${env.url}/auth/callback`, keys: [await newSigningKey('key-1')] });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: 120_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await env?.close();
  await idp?.close();
});

/** The provider's development login and consent pages, as a person fills them in. */
async function throughProvider(page: Page, user: string): Promise<void> {
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill('any');
  await page.locator('button[type="submit"]').click();
  // Consent (first login of this person to this client).
  await page.locator('button[type="submit"]').click();
}

describe('the web console signed into through SSO', () => {
  it('no certificate: "Log in with SSO", the provider\'s pages, back in the console as the mapped role, log out', async () => {
    // No client certificate at all: only SSO can sign this browser in.
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    try {
      const page = await ctx.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${env.url}/console/`);
      await page.getByText(/No accepted administrator certificate/).waitFor();
      const link = page.getByRole('link', { name: 'Log in with SSO' });
      expect(await link.getAttribute('href')).toBe('/auth/login?return=%2Fconsole%2F');
      await page.screenshot({ path: join(ARTIFACTS, 'sso-01-sign-in.png'), fullPage: true });
      await link.click();
      await page.waitForURL((u) => u.toString().startsWith(idp.issuer));
      await throughProvider(page, 'alice');
      // Back on this listener: the console, signed in by the session the callback opened.
      await page.waitForURL(`${env.url}/console/`);
      await page.getByText(/Signed in through single sign-on as alice/).waitFor();
      expect(await page.locator('#cert-h').textContent()).toBe('Signed in');
      expect(await page.textContent('main')).toContain('Signed in through single sign-on as alice@example.test');
      const cookie = (await ctx.cookies(env.url)).find((c) => c.name === SSO_SESSION_COOKIE)!;
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
      expect(await page.getByRole('link', { name: 'Log in with SSO' }).count()).toBe(0);
      await page.getByRole('button', { name: /^Continue as / }).click();
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      // The admin API answers the session as the role alice's groups map to: admin, every tenant.
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tenants' }).click();
      const list = page.getByRole('table', { name: 'Tenants and their seal state' });
      await list.getByRole('link', { name: 'beta' }).waitFor();
      await page.getByLabel('Tenant name').fill('gamma');
      await page.getByRole('button', { name: 'Create tenant' }).click();
      await page.getByRole('status').getByText('Tenant gamma created.').waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'sso-02-signed-in.png'), fullPage: true });
      // The change is audited under the person's SSO identity.
      env.audit.flush();
      const created = env.audit.tail(50).find((r) => r.operation === 'tenant.create' && r.tenant === 'gamma');
      expect(created?.identity).toMatch(/^sso:alice/);
      // Log out: the session ends on the server, the console is back at sign-in.
      env.audit.flush();
      const seq = env.audit.lastSeq();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('link', { name: 'Log in with SSO' }).waitFor();
      await page.getByRole('status').getByText('Logged out of the OpenKCM console.').waitFor();
      const idpOut = await page.getByRole('link', { name: 'Also sign out at the identity provider' }).getAttribute('href');
      expect(idpOut?.startsWith(`${idp.issuer}/`)).toBe(true);
      expect(new URL(idpOut!).searchParams.get('client_id')).toBe(CONSOLE_CLIENT.id);
      env.audit.flush();
      expect(env.audit.readAfter(seq, 10).map((r) => [r.operation, r.identity])).toContainEqual(['admin.logout', 'sso:alice (alice@example.test) via session']);
      const after = await page.evaluate(`fetch('/v1/whoami').then((r) => r.status)`);
      expect(after).toBe(401);
      // The old cookie value, sent again by hand: the server has forgotten the session.
      const replay = await ctx.request.get(`${env.url}/v1/tenants`, { headers: { cookie: `${SSO_SESSION_COOKIE}=${cookie.value}` } });
      expect(replay.status()).toBe(401);
    } finally {
      await ctx.close();
    }
  }, 240_000);
});
