// The executor's access-control middleware with a stub AccessControl: refusal at the first
// batch item without running anything, role check per item, audit records.
import { describe, expect, it } from 'vitest';
import { Operation, ResultReason, ResultStatus } from '../../src/ttlv/generated/enumerations.ts';
import { parseResponseMessage } from '../../src/kmip/message.ts';
import { KmipEngine, type AccessControl, type AuditSink } from '../../src/server/executor.ts';
import type { AuditInput } from '../../src/audit/record.ts';
import { silentLogger } from '../../src/log/index.ts';
import { IDENTITY, IDENTITY_ADAPTERS, MemoryRepository, request, testOperations } from './helpers.ts';

function engineWith(access: AccessControl, records: AuditInput[]) {
  const repo = new MemoryRepository();
  const audit: AuditSink = { append: (r) => { records.push(r); } };
  return new KmipEngine({
    operations: testOperations(), adapters: IDENTITY_ADAPTERS, access, audit, repositoryFor: () => repo,
    server: { vendor: 'OpenKCM', product: 'test', version: '0', l1: { provider: 'software', keyRef: 'test', developmentOnly: true } },
    logger: silentLogger(),
  });
}
const V = { major: 2, minor: 1 };

describe('access-control middleware', () => {
  it('an unauthenticated caller is refused at the first item; nothing runs; the failure is audited', async () => {
    const records: AuditInput[] = [];
    const engine = engineWith({ authenticate: () => ({ ok: false, reason: 'unknown certificate' }) }, records);
    const out = parseResponseMessage(await engine.handleMessage(request(V, [{ operation: Operation.DiscoverVersions }, { operation: Operation.Query }]), IDENTITY));
    expect(out.batchItems).toHaveLength(1);
    expect(out.batchItems[0]).toMatchObject({ operation: Operation.DiscoverVersions, resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.PermissionDenied });
    // One record per batch item (issue 16 §1): the second item was not processed, and says so.
    expect(records).toEqual([
      expect.objectContaining({ kind: 'auth-failure', operation: 'DiscoverVersions', result: 'failure', reason: 'PermissionDenied', identity: `sha256:${IDENTITY.fingerprint}` }),
      expect.objectContaining({ kind: 'auth-failure', operation: 'Query', result: 'failure', reason: 'PermissionDenied', detail: expect.stringMatching(/^not processed/) }),
    ]);
  });

  it('each item is checked against the role and audited with the governance tenant and service', async () => {
    const records: AuditInput[] = [];
    const engine = engineWith({
      authenticate: () => ({
        ok: true,
        principal: {
          identity: { id: 'id-1', tenant: 'acme', service: 'web', role: 'ro', match: { kind: 'fingerprint', sha256: IDENTITY.fingerprint }, revoked: false },
          role: { name: 'ro', operations: ['DiscoverVersions'], builtIn: false }, grants: [], bootstrap: false,
        },
      }),
    }, records);
    const out = parseResponseMessage(await engine.handleMessage(request(V, [{ operation: Operation.DiscoverVersions }, { operation: Operation.Create }]), IDENTITY));
    const items = out.batchItems;
    expect(items[0]!.resultStatus).toBe(ResultStatus.Success);
    expect(items[1]).toMatchObject({ resultReason: ResultReason.PermissionDenied, resultMessage: 'not permitted: role ro does not allow Create' });
    expect(records[1]).toMatchObject({ kind: 'kmip', operation: 'Create', result: 'failure', reason: 'PermissionDenied' });
    expect(records[0]).toMatchObject({ kind: 'kmip', identity: 'id-1', tenant: 'acme', service: 'web', operation: 'DiscoverVersions', result: 'success' });
  });
});
