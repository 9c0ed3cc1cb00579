// Pure identity resolution and authorization (src/policy/access.ts).
import { describe, expect, it } from 'vitest';
import {
  authorize, normalizeSubject, openKcmUri, parseOpenKcmUri, resolveIdentity, subjectMatches,
  type CertificateInfo, type PolicyGrant, type PolicyIdentity,
} from '../../src/policy/access.ts';
import { builtInRole, type PolicyRole } from '../../src/policy/roles.ts';

const fp = (c: string) => c.repeat(64);
const cert = (over: Partial<CertificateInfo> = {}): CertificateInfo => ({ fingerprint: fp('0'), subject: 'CN=nobody', sans: [], sanUris: [], ...over });
const id = (over: Partial<PolicyIdentity> & Pick<PolicyIdentity, 'id' | 'match'>): PolicyIdentity =>
  ({ tenant: 't1', service: 's1', role: 'app', revoked: false, ...over });

describe('resolveIdentity', () => {
  const byFp = id({ id: 'fp', match: { kind: 'fingerprint', sha256: fp('a') } });
  const byUri = id({ id: 'uri', match: { kind: 'san-uri', uri: openKcmUri('t1', 's1', 'app') }, certSerial: '1F' });
  const broad = id({ id: 'broad', match: { kind: 'subject', pattern: 'CN=app-*, O=Acme' } });
  const narrow = id({ id: 'narrow', match: { kind: 'subject', pattern: 'CN=app-billing, O=Acme' } });
  const all = [broad, narrow, byUri, byFp];

  it('prefers the fingerprint, then the SAN URI, then the most specific subject pattern', () => {
    expect(resolveIdentity(cert({ fingerprint: fp('a'), subject: 'CN=app-billing, O=Acme', sanUris: [byUri.match.kind === 'san-uri' ? byUri.match.uri : ''], serial: '1f' }), all)?.id).toBe('fp');
    expect(resolveIdentity(cert({ subject: 'CN=app-billing, O=Acme', sanUris: [openKcmUri('t1', 's1', 'app')], serial: '001F' }), all)?.id).toBe('uri');
    expect(resolveIdentity(cert({ subject: 'O=Acme,CN=app-billing' }), all)?.id).toBeUndefined();
    expect(resolveIdentity(cert({ subject: 'CN = app-billing ,O=Acme' }), all)?.id).toBe('narrow');
    expect(resolveIdentity(cert({ subject: 'CN=app-crm, O=Acme' }), all)?.id).toBe('broad');
    expect(resolveIdentity(cert({ subject: 'CN=app-crm, O=Evil' }), all)).toBeUndefined();
    // '*' never crosses an RDN boundary.
    expect(resolveIdentity(cert({ subject: 'CN=app-x, O=Evil, O=Acme' }), all)).toBeUndefined();
  });

  it('a SAN URI identity bound to a serial does not match another certificate carrying the URI', () => {
    expect(resolveIdentity(cert({ sanUris: [openKcmUri('t1', 's1', 'app')], serial: '20' }), [byUri])).toBeUndefined();
    expect(resolveIdentity(cert({ sanUris: [openKcmUri('t1', 's1', 'app')] }), [byUri])).toBeUndefined();
  });

  it('a revoked match is returned, not skipped for a broader rule', () => {
    const revoked = { ...byFp, revoked: true };
    expect(resolveIdentity(cert({ fingerprint: fp('a'), subject: 'CN=app-x, O=Acme' }), [broad, revoked])?.id).toBe('fp');
  });

  it('parses and builds the openkcm URI', () => {
    expect(parseOpenKcmUri('openkcm://tenant/acme/service/billing/role/read-only')).toEqual({ tenant: 'acme', service: 'billing', role: 'read-only' });
    expect(parseOpenKcmUri('openkcm://tenant/acme/service/billing')).toBeUndefined();
    expect(parseOpenKcmUri('https://tenant/a/service/b/role/c')).toBeUndefined();
    expect(normalizeSubject('cn=a,  o=b\\, c')).toBe('CN=a, O=b\\, c');
    expect(subjectMatches('CN=a*', 'CN=abc')).toBe(true);
    expect(subjectMatches('CN=a.c', 'CN=abc')).toBe(false);
  });
});

describe('authorize', () => {
  const app = builtInRole('app')!;
  const ro = builtInRole('read-only')!;
  const admin = builtInRole('admin')!;
  const me = id({ id: 'me', match: { kind: 'fingerprint', sha256: fp('a') } });
  const obj = (service: string, groups: string[] = [], objectType = 'SymmetricKey') => ({ service, groups, objectType });
  const grants: PolicyGrant[] = [{ tenant: 't1', fromService: 's2', toService: 's1', operations: ['Get', 'Encrypt'] }];

  it('deny by default: the role must list the operation', () => {
    expect(authorize(me, app, 'Create', undefined, [])).toEqual({ allowed: true });
    expect(authorize({ ...me, role: 'read-only' }, ro, 'Create', undefined, [])).toEqual({ allowed: false, reason: 'role read-only does not allow Create' });
    expect(authorize(me, app, 'Destroy', undefined, []).allowed).toBe(false);
    expect(authorize({ ...me, role: 'auditor' }, builtInRole('auditor')!, 'Query', undefined, []).allowed).toBe(false);
    expect(authorize({ ...me, revoked: true }, app, 'Get', undefined, []).allowed).toBe(false);
    expect(authorize(me, ro, 'Get', undefined, []).allowed).toBe(false); // not the identity's role
  });

  it('other services only through a grant listing the operation; admin reaches the whole tenant', () => {
    expect(authorize(me, app, 'Get', obj('s1'), []).allowed).toBe(true);
    expect(authorize(me, app, 'Get', obj('s2'), [])).toEqual({ allowed: false, reason: 'service s1 holds no grant from service s2 for Get' });
    expect(authorize(me, app, 'Get', obj('s2'), grants).allowed).toBe(true);
    expect(authorize(me, app, 'Decrypt', obj('s2'), grants).allowed).toBe(false);
    expect(authorize(me, app, 'Get', obj('s3'), grants).allowed).toBe(false);
    expect(authorize(me, app, 'Get', obj('s2'), [{ ...grants[0]!, tenant: 't2' }]).allowed).toBe(false);
    expect(authorize({ ...me, role: 'admin' }, admin, 'Destroy', obj('s9'), []).allowed).toBe(true);
  });

  it('object type and group limits', () => {
    const limited: PolicyRole = { name: 'pay', operations: ['Get'], objectTypes: ['SymmetricKey'], objectGroups: ['payments'], builtIn: false };
    const who = { ...me, role: 'pay' };
    expect(authorize(who, limited, 'Get', obj('s1', ['payments']), []).allowed).toBe(true);
    expect(authorize(who, limited, 'Get', obj('s1', ['hr']), []).allowed).toBe(false);
    expect(authorize(who, limited, 'Get', obj('s1', ['payments'], 'PrivateKey'), []).allowed).toBe(false);
  });
});
