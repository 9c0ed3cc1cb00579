// Issue 14 §3, in a real browser: Debian's headless Chromium driven by playwright-core (no
// browser download), presenting the development admin certificate to a real `openkcm serve`
// (test/admin/serve.ts). A person's path through the console: sign in, create a tenant and a
// service, issue a certificate and download its key pair once, use that key pair with a real
// KMIP client, look at the tenant's keys (metadata only: no key byte reaches the browser),
// rotate the L3, check the L1, seal and unseal, kill the tenant through the confirmation that names it, see the same client
// refused over KMIP, and find the kill in the audit trail with the chain verified.
// Screenshots go to test-artifacts/console/ (git-ignored) for a person to look at.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServed, type ServedEnv } from '../admin/serve.ts';
import { KmipClient } from '../../src/client/index.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { textString } from '../../src/kmip/items.ts';
import type { TtlvItem } from '../../src/ttlv/types.ts';
import { createPayload } from '../isolation/world.ts';

/** Debian's chromium package (scripts/ensure-system-deps.sh installs it). */
const CHROMIUM = process.env.OPENKCM_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(fileURLToPath(import.meta.url), '../../../test-artifacts/console');

let s: ServedEnv;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let origin: string;
/** Every URL the page asked for, and every response body it received. */
const requested: string[] = [];
const bodies: Promise<string>[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/ensure-system-deps.sh)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  s = await startServed();
  origin = `https://127.0.0.1:${s.adminPort}`;
  // Root in CI and containers: Chromium's sandbox needs user namespaces it may not have.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: 120_000 });
  context = await browser.newContext({
    // The browser holds the admin certificate of the development PKI (bootstrap admin).
    clientCertificates: [{ origin, certPath: join(s.cwd, 'certs/client.crt'), keyPath: join(s.cwd, 'certs/client.key') }],
    // The server certificate is the development CA's, which this fresh browser profile does not trust.
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(30_000);
  page = await context.newPage();
  page.on('request', (r) => requested.push(r.url()));
  page.on('response', (r) => { bodies.push(r.text().catch(() => '')); });
}, 180_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await s?.stop();
});

const kmip = (pair: { cert: string; key: string }) => KmipClient.connect({
  host: '127.0.0.1', port: s.kmipPort, ca: readFileSync(join(s.cwd, 'certs/ca.crt')), cert: pair.cert, key: pair.key, servername: 'localhost', timeoutMs: 30_000,
});

function byteStrings(items: TtlvItem[]): Buffer[] {
  return items.flatMap((i) => (i.type === 'ByteString' ? [i.value] : i.type === 'Structure' ? byteStrings(i.value) : []));
}

describe('the web console in headless Chromium', () => {
  it('sign in, tenant, certificate, KMIP, keys, rotate, kill, refused, audit', async () => {
    // Sign in: the console shows whom the certificate stands for.
    await page.goto(`${origin}/`);
    expect(page.url()).toBe(`${origin}/console/`);
    const cont = page.getByRole('button', { name: /^Continue as / });
    await cont.waitFor();
    await expect(page.getByText(/role admin/).first().isVisible()).resolves.toBe(true);
    // No SSO configured on this server: no SSO link.
    expect(await page.getByRole('link', { name: 'Log in with SSO' }).count()).toBe(0);
    await shot('01-sign-in');
    await cont.click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await shot('02-overview');

    // Create a tenant.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tenants' }).click();
    await page.getByLabel('Tenant name').fill('acme');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByRole('status').getByText('Tenant acme created.').waitFor();
    await page.getByRole('link', { name: 'acme', exact: true }).waitFor();
    await shot('03-tenants');

    // A bad name: the API's own message, shown as an alert.
    await page.getByLabel('Tenant name').fill('Bad Name');
    await page.getByLabel('Tenant name').evaluate((el) => el.removeAttribute('pattern'));
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/is not a valid name/);

    // Its page: a service, then a certificate of role app for it.
    await page.getByRole('link', { name: 'acme', exact: true }).click();
    await page.getByRole('heading', { name: 'Tenant acme', level: 1 }).waitFor();
    await page.getByLabel('Service name').fill('web');
    await page.getByRole('button', { name: 'Create service' }).click();
    await page.getByRole('status').getByText('Service web created in tenant acme.').waitFor();
    await page.getByLabel('Service', { exact: true }).selectOption('web');
    await page.getByLabel('Role', { exact: true }).selectOption('app');
    await page.getByLabel('Common name (optional)').fill('acme-web');
    await page.getByRole('button', { name: 'Issue certificate' }).click();
    const dlButton = page.getByRole('button', { name: 'Download key pair (once)' });
    await dlButton.waitFor();
    // The new identity is listed at once, while the key pair waits for its download.
    await page.getByRole('table', { name: 'Identities of acme' }).getByRole('row').filter({ hasText: 'app' }).getByText('active').waitFor();
    await shot('04-certificate-issued');
    const [download] = await Promise.all([page.waitForEvent('download'), dlButton.click()]);
    expect(download.suggestedFilename()).toMatch(/\.keypair\.pem$/);
    const pairFile = join(s.cwd, 'acme-web.keypair.pem');
    await download.saveAs(pairFile);
    const pem = readFileSync(pairFile, 'utf8');
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(pem)?.[0];
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(pem)?.[0];
    expect(key && cert).toBeTruthy();
    // Once: the button is spent and the page no longer holds the private key.
    await expect(page.getByRole('button', { name: 'Key pair downloaded' }).isDisabled()).resolves.toBe(true);
    const keyBody = key!.split('\n')[1]!;
    expect(await page.content()).not.toContain(keyBody);

    // The downloaded key pair works over KMIP: Create and Get a key of acme/web.
    const client = await kmip({ cert: cert!, key: key! });
    let uid: string;
    let material: Buffer[];
    try {
      const created = await client.request(Operation.Create, createPayload('console-key', 'console-group'));
      uid = created.value.find((c) => c.tag === Tag.UniqueIdentifier)!.value as string;
      const got = await client.request(Operation.Get, [textString(Tag.UniqueIdentifier, uid)]);
      material = byteStrings(got.value).filter((b) => b.length === 32);
      expect(material).toHaveLength(1);
    } finally {
      await client.close();
    }

    // The keys view lists it, as metadata; the L3 of web is rotated from the console.
    await page.reload();
    await page.getByRole('heading', { name: 'Tenant acme', level: 1 }).waitFor();
    const keysTable = page.getByRole('table', { name: 'Keys of acme' });
    await keysTable.getByText(uid).waitFor();
    await expect(keysTable.getByRole('row').filter({ hasText: uid }).textContent()).resolves.toMatch(/web.*SymmetricKey.*Active.*console-key.*AES.*256/);
    const services = page.getByRole('table', { name: 'Services of acme' });
    const before = await services.getByRole('row').filter({ hasText: 'web' }).textContent();
    const current = Number(/v(\d+)/.exec(before!)![1]);
    await page.getByRole('button', { name: 'Rotate the L3 key of service web' }).click();
    await page.getByRole('status').getByText(`Service web: L3 is now at version ${current + 1}.`).waitFor();
    await shot('05-tenant-keys-rotated');

    // The L1 pointer (set by kmipctl, the operator's tool) and its status check from the console.
    const l1Key = join(s.cwd, 'data', 'l1-software.key');
    const set = await s.kmipctl(['l1', 'set', 'acme', '--provider', 'software', '--set', `keyFile=${l1Key}`]);
    expect(set.code, set.stderr).toBe(0);
    await page.reload();
    await page.getByRole('button', { name: 'Check L1 status' }).click();
    await page.getByText(/^L1 status: active/).waitFor();

    // Seal (confirmed, naming the tenant) and unseal.
    await page.getByRole('button', { name: 'Seal', exact: true }).click();
    const sealDialog = page.getByRole('dialog', { name: 'Seal tenant acme?' });
    await sealDialog.getByRole('button', { name: 'Seal acme' }).click();
    await page.getByRole('status').getByText('Tenant acme sealed.').waitFor();
    await page.getByRole('button', { name: 'Unseal', exact: true }).click();
    await page.getByRole('status').getByText('Tenant acme unsealed.').waitFor();

    // The kill switch: the confirmation names the tenant and wants it typed.
    await page.getByRole('button', { name: 'Kill switch…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Kill tenant acme?' });
    await dialog.waitFor();
    const killOk = dialog.getByRole('button', { name: 'Kill tenant acme' });
    await expect(killOk.isDisabled()).resolves.toBe(true);
    await dialog.getByLabel('Type acme to confirm').fill('acm');
    await expect(killOk.isDisabled()).resolves.toBe(true);
    await dialog.getByLabel('Type acme to confirm').fill('acme');
    await dialog.getByLabel('Reason (kept in the audit trail)').fill('browser test: customer pulled the key');
    await shot('06-kill-confirmation');
    await killOk.click();
    await page.getByRole('status').getByText('Tenant acme killed.').waitFor();
    await page.getByText('killed', { exact: true }).first().waitFor();
    await shot('07-tenant-killed');

    // The same certificate is refused over KMIP now.
    const after = await kmip({ cert: cert!, key: key! });
    try {
      const refused = await after.requestItem(Operation.Create, createPayload('after-kill', 'console-group'));
      expect(refused.resultStatus).toBe(ResultStatus.OperationFailed);
      expect(refused.resultReason).toBe(ResultReason.PermissionDenied);
    } finally {
      await after.close();
    }

    // The audit trail: the chain verifies, and a search finds the kill with its reason.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Audit trail' }).click();
    await page.getByText(/^Chain verified: \d+ records?/).waitFor();
    await page.getByRole('searchbox', { name: 'Search (any field)' }).fill('tenant.kill');
    const records = page.getByRole('table', { name: 'Audit records, newest first' });
    await records.getByText('browser test: customer pulled the key').waitFor();
    await expect(records.getByRole('row').filter({ hasText: 'tenant.kill' }).first().textContent()).resolves.toMatch(/kill.*success.*acme/);
    await shot('08-audit');

    // Revoke the issued certificate from the tenant's page (confirmed).
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('link', { name: 'acme', exact: true }).click();
    await page.getByRole('button', { name: /^Revoke identity / }).click();
    await page.getByRole('dialog', { name: /^Revoke identity / }).getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('table', { name: 'Identities of acme' }).getByText('revoked', { exact: true }).waitFor();

    // Identities and roles render too.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Identities' }).click();
    await page.getByRole('table', { name: 'Identities' }).getByRole('row').filter({ hasText: 'acme' }).first().waitFor();
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Roles' }).click();
    await page.getByRole('table', { name: 'Roles: the KMIP operations each allows' }).getByText('app', { exact: true }).waitFor();
    await shot('09-roles');

    // Every control the person used has an accessible name.
    // (A string: this runs in the page, and the project's TypeScript has no DOM types.)
    const unlabelled = await page.evaluate(`[...document.querySelectorAll('input, select, button')]
      .filter((el) => !el.closest('[hidden]') && !(el.labels?.length || el.getAttribute('aria-label') || (el.textContent ?? '').trim()))
      .map((el) => el.outerHTML)`) as string[];
    expect(unlabelled).toEqual([]);

    // Nothing was asked of another origin, and no byte of the key reached the browser.
    expect(requested.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
    const seen = [...(await Promise.all(bodies)), await page.content()].join('\n');
    for (const m of material) {
      for (const spelled of [m.toString('hex'), m.toString('hex').toUpperCase(), m.toString('base64'), m.toString('base64url')]) {
        expect(seen.includes(spelled)).toBe(false);
      }
    }
  }, 300_000);

  it('a tenant-admin sees its own tenant only, and the refusal of another tenant is shown as the API words it', async () => {
    for (const args of [['tenant', 'create', 'globex'], ['service', 'create', 'globex', 'ops'],
      ['cert', 'issue', '--tenant', 'globex', '--service', 'ops', '--role', 'tenant-admin', '--out', join(s.cwd, 'globex-admin')]]) {
      const r = await s.kmipctl(args);
      expect(r.code, r.stderr).toBe(0);
    }
    const ctx = await browser.newContext({
      clientCertificates: [{ origin, certPath: join(s.cwd, 'globex-admin/globex.ops.crt'), keyPath: join(s.cwd, 'globex-admin/globex.ops.key') }],
      ignoreHTTPSErrors: true,
    });
    try {
      const p = await ctx.newPage();
      p.setDefaultTimeout(30_000);
      await p.goto(`${origin}/console/`);
      await p.getByText(/role tenant-admin, tenant globex/).waitFor();
      await p.getByRole('button', { name: /^Continue as / }).click();
      await p.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      await p.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tenants' }).click();
      const list = p.getByRole('table', { name: 'Tenants and their seal state' });
      await list.getByRole('link', { name: 'globex' }).waitFor();
      expect(await list.getByRole('link').allTextContents()).toEqual(['globex']);
      // Creating tenants is the global admin's: the form is not offered.
      expect(await p.getByLabel('Tenant name').count()).toBe(0);
      // Another tenant's page, typed into the address bar: the API refuses, the console says why.
      await p.goto(`${origin}/console/#/tenants/acme`);
      await p.getByRole('alert').getByText(/may not administer tenant "acme"|you administer tenant "globex" only/).waitFor();
      await p.screenshot({ path: join(ARTIFACTS, '10-tenant-admin-refused.png'), fullPage: true });
    } finally {
      await ctx.close();
    }
  }, 180_000);
});
