// OpenKCM's CA (src/server/ca.ts): identity URIs, issuing, and refusing bad CA material.
import { describe, expect, it, beforeAll } from 'vitest';
import { X509Certificate as NodeX509, createHash } from 'node:crypto';
import { generateDevPki, createCa } from '../../src/server/devpki.ts';
import { CaError, identityUri, issueClientCertificate, issuedBy, openCa, parseIdentityUri, type CertificateAuthority } from '../../src/server/ca.ts';

describe('identity URI', () => {
  it('round-trips and refuses what is not ours', () => {
    const uri = identityUri({ tenant: 'acme', service: 'billing', role: 'app' });
    expect(uri).toBe('openkcm://tenant/acme/service/billing/role/app');
    expect(parseIdentityUri(uri)).toEqual({ tenant: 'acme', service: 'billing', role: 'app' });
    expect(parseIdentityUri('openkcm://tenant/acme/service/billing')).toBeUndefined();
    expect(parseIdentityUri('https://tenant/acme/service/b/role/app')).toBeUndefined();
    expect(parseIdentityUri('openkcm://tenant/a%2Fb/service/b/role/app')).toBeUndefined();
    expect(() => identityUri({ tenant: 'a/b', service: 's', role: 'app' })).toThrow(/tenant "a\/b" is not a valid name/);
  });
});

describe('issueClientCertificate', () => {
  let ca: CertificateAuthority;
  let caPem: string;
  beforeAll(async () => {
    const pki = await generateDevPki();
    caPem = pki.ca.certPem;
    ca = await openCa(pki.ca.certPem, pki.ca.keyPem);
  });

  it('signs a clientAuth certificate carrying the identity URI', async () => {
    const c = await issueClientCertificate(ca, { tenant: 'acme', service: 'billing', role: 'app', days: 30 });
    const cert = new NodeX509(c.certPem);
    expect(cert.checkIssued(new NodeX509(caPem))).toBe(true);
    expect(cert.verify(new NodeX509(caPem).publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('URI:openkcm://tenant/acme/service/billing/role/app');
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(cert.serialNumber.toLowerCase()).toBe(c.serial);
    expect(c.fingerprint).toBe(createHash('sha256').update(cert.raw).digest('hex'));
    expect(cert.subject).toContain('CN=billing.acme');
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(30);
    expect(c.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(await issuedBy(ca, c.certPem)).toBe(true);
  });

  it('refuses bad names, lifetimes and common names', async () => {
    await expect(issueClientCertificate(ca, { tenant: 'acme', service: 'bad service', role: 'app' })).rejects.toThrow(/service "bad service"/);
    await expect(issueClientCertificate(ca, { tenant: 'acme', service: 's', role: 'app', days: 0 })).rejects.toThrow(/days must be/);
    await expect(issueClientCertificate(ca, { tenant: 'acme', service: 's', role: 'app', days: 9999 })).rejects.toThrow(/days must be/);
    await expect(issueClientCertificate(ca, { tenant: 'acme', service: 's', role: 'app', commonName: 'x, O=evil' })).rejects.toThrow(CaError);
  });

  it('issues RSA certificates from an RSA CA', async () => {
    const pki = await generateDevPki({ algorithm: 'rsa-2048' });
    const rsaCa = await openCa(pki.ca.certPem, pki.ca.keyPem);
    const c = await issueClientCertificate(rsaCa, { tenant: 't', service: 's', role: 'app', algorithm: 'rsa-2048' });
    expect(new NodeX509(c.certPem).verify(new NodeX509(pki.ca.certPem).publicKey)).toBe(true);
  });

  it('refuses a key that does not belong to the certificate, and a leaf as CA', async () => {
    const other = await createCa('other');
    const pki = await generateDevPki();
    await expect(openCa(pki.ca.certPem, other.keyPem)).rejects.toThrow(/does not belong/);
    await expect(openCa(pki.client.certPem, pki.client.keyPem)).rejects.toThrow(/not a CA/);
    await expect(openCa('nonsense', pki.ca.keyPem)).rejects.toThrow(/not a PEM certificate/);
    await expect(openCa(pki.ca.certPem, 'nonsense')).rejects.toThrow(/not a PEM private key/);
    const foreign = await issueClientCertificate(await openCa(other.certPem, other.keyPem), { tenant: 't', service: 's', role: 'app' });
    expect(await issuedBy(ca, foreign.certPem)).toBe(false);
  });
});
