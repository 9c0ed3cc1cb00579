// Single sign-on in a real browser (issue 14 §4 with §3's console): Debian's headless chromium
// through playwright-core, no client certificate, against the real test IdP. It proves what
// plain HTTP cannot: that the browser keeps the Lax login cookie across the IdP's cross-site
// redirect to /auth/callback, and sends the SameSite=Strict session cookie after the
// callback's page moves on (a same-site navigation), so the console opens signed in — and
// that logout ends it here (and offers the IdP's end-session page). Screenshots: test-artifacts/console/sso-*.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startAdminEnv, type AdminEnv } from './helpers.ts';
import { ADMIN_AUDIENCE, CONSOLE_CLIENT, newSigningKey, startTestIdp, type TestIdp } from '../helpers/oidc-provider.ts';
import { OidcSso, SSO_SESSION_COOKIE } from '../../src/server/sso.ts';
import { silentLogger } from '../../src/log/index.ts';

const CHROMIUM = process.env.OPENKCM_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts/console';

let idp: TestIdp;
let env: AdminEnv;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/ensure-system-deps.sh)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  idp = await startTestIdp({ alice: ['kms-admins'] }, {});
  const sso = new OidcSso({
    settings: {
      issuer: idp.issuer, clientId: CONSOLE_CLIENT.id, clientSecret: CONSOLE_CLIENT.secret, audience: ADMIN_AUDIENCE,
      redirectUrl: undefined, roleClaim: 'groups', roles: { 'kms-admins': 'admin' }, scopes: 'openid email groups', sessionTtlSeconds: 600,
    },
    logger: silentLogger(),
  });
  env = await startAdminEnv({ sso });
  idp.configure({ redirectUri: `${env.url}/auth/callback`, keys: [await newSigningKey('browser-key')] });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: 120_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await env?.close();
  await idp?.close();
});

describe('console sign-in through the IdP in chromium', () => {
  it('logs in with SSO, works as admin, and logs out', async () => {
    // The development server certificate is not one chromium trusts; no client certificate is offered.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    try {
      await page.goto(`${env.url}/console/`);
      const link = page.locator('#sso-login');
      await link.waitFor({ timeout: 60_000 });
      await page.screenshot({ path: `${ARTIFACTS}/sso-1-signin.png` });
      await link.click();
      // The provider's own login form, then its consent form.
      await page.locator('input[name=login]').fill('alice');
      await page.locator('input[name=password]').fill('any');
      await page.locator('button[type=submit]').click();
      await page.locator('button[type=submit]', { hasText: 'Continue' }).click();
      // Back on the console, signed in through the session cookie.
      await page.waitForURL(`${env.url}/console/**`, { timeout: 60_000 });
      const cont = page.locator('#signin-continue');
      await cont.waitFor({ timeout: 60_000 });
      expect(await page.locator('#cert-h').textContent()).toBe('Signed in');
      expect(await page.textContent('main')).toContain('Signed in through single sign-on as alice@example.test');
      const cookie = (await context.cookies(env.url)).find((c) => c.name === SSO_SESSION_COOKIE)!;
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
      await cont.click();
      await page.locator('#logout').waitFor({ timeout: 60_000 });
      await page.screenshot({ path: `${ARTIFACTS}/sso-2-signed-in.png` });
      env.audit.flush();
      const seq = env.audit.lastSeq();
      await page.locator('#logout').click();
      // Back at the sign-in view; the IdP publishes an end_session_endpoint, which the console offers as a link.
      await page.locator('#sso-login').waitFor({ timeout: 60_000 });
      const idpLogout = page.locator(`a[href^="${idp.issuer}/"]`);
      await idpLogout.waitFor({ timeout: 60_000 });
      expect(new URL((await idpLogout.getAttribute('href'))!).searchParams.get('client_id')).toBe(CONSOLE_CLIENT.id);
      await page.screenshot({ path: `${ARTIFACTS}/sso-3-logged-out.png` });
      env.audit.flush();
      expect(env.audit.readAfter(seq, 10).map((r) => [r.operation, r.identity])).toContainEqual(['admin.logout', 'sso:alice (alice@example.test) via session']);
      // The old cookie value, sent again by hand: the server has forgotten the session.
      const replay = await context.request.get(`${env.url}/v1/tenants`, { headers: { cookie: `${SSO_SESSION_COOKIE}=${cookie.value}` } });
      expect(replay.status()).toBe(401);
    } finally {
      await context.close();
    }
  }, 240_000);
});
