// What cores send up the link (issue 10 §2): their audit records, which the CMK appends to
// its global trail (and with that hands to its SIEM exporters), and their status (seal
// state and L1 status per tenant), which `kmipctl status` and `l1 check` on the CMK show.
// Both are checked against the caller: a core of region A speaks for itself only, and about
// tenants of region A only.
import {
  AuditInputError, FIELD_LIMITS, validateAuditInput,
  type AuditRecord, type AuditTrail, type ShippedRecord,
} from '../audit/index.ts';
import type { Governance } from '../store/governance-async.ts';
import type { LinkAuditAck, LinkAuditBatch, LinkNodeStatus } from './protocol.ts';

/** Records in one POST /v1/link/audit: a core ships in slices; one huge batch would hold the write lock long. */
export const LINK_AUDIT_MAX_BATCH = 1000;
/** Body size of POST /v1/link/audit (LINK_AUDIT_MAX_BATCH records of at most ~3 KB of JSON each). */
export const LINK_AUDIT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Tenants in one node status report. */
export const LINK_STATUS_MAX_TENANTS = 10_000;
/** Free text in a status report (reason, L1 status): a line, not a document. */
const STATUS_TEXT_MAX = 500;
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** A core node name (src/cli/core.ts). */
const NODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A request the caller must fix (400), or one it may not make (403). */
export class LinkInputError extends Error {
  override readonly name = 'LinkInputError';
  constructor(readonly kind: 'invalid' | 'forbidden', message: string) {
    super(message);
  }
}

export interface LinkCaller {
  region: string;
  node: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const seqOk = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkWho(body: Record<string, unknown>, caller: LinkCaller): void {
  if (typeof body.node !== 'string' || typeof body.region !== 'string') throw new LinkInputError('invalid', 'fields "node" and "region" are required strings');
  if (body.region !== caller.region) {
    throw new LinkInputError('forbidden', `this certificate is a core of region ${caller.region}; it cannot speak for region ${body.region}`);
  }
  if (body.node !== caller.node) {
    throw new LinkInputError('forbidden', `this certificate is core node ${caller.node}; it cannot speak for node ${body.node}`);
  }
}

const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').replace(/[\ud800-\udfff]/g, '?');

/**
 * Appends shipped core records to the CMK's audit trail, once each: records with a nodeSeq
 * at or below what the CMK already holds for the node are skipped (a batch sent again after
 * a lost answer), and the node's cursor moves in the very transaction that appends the
 * records, so "stored" and "counted as stored" never disagree.
 *
 * Each record keeps its fields (kind, identity, tenant, service, operation, object,
 * result, reason) and its detail gains where it came from: node, region, nodeSeq, the
 * node's time and its hash in the node's chain, so an auditor can line it up with the
 * regional vault's chain. A record the audit rules refuse (e.g. a control character) is
 * replaced by a `system` record saying so — the fact that something happened is not lost.
 *
 * The records are written straight into the audit table (the log's writers re-chain after
 * any other writer, src/audit/log.ts); one summary record appended through `audit`
 * afterwards wakes the SIEM exporters, which pick the ingested records up from the table.
 */
export async function ingestAuditBatch(audit: AuditTrail, raw: Record<string, unknown>, caller: LinkCaller, now: () => Date = () => new Date()): Promise<LinkAuditAck> {
  checkWho(raw, caller);
  if (!Array.isArray(raw.records)) throw new LinkInputError('invalid', 'field "records" must be an array');
  if (raw.records.length > LINK_AUDIT_MAX_BATCH) throw new LinkInputError('invalid', `at most ${LINK_AUDIT_MAX_BATCH} records per batch, got ${raw.records.length}`);
  if (raw.chain !== undefined && raw.chain !== 'node' && raw.chain !== 'region') throw new LinkInputError('invalid', 'field "chain" must be "node" or "region"');
  const batch = raw as unknown as LinkAuditBatch;
  // A region's shared chain has one acknowledgement whoever sends it (a node that dies
  // leaves its records to another node). The key cannot collide with a node name, which
  // has no ':' (src/cli/core.ts).
  const cursorKey = batch.chain === 'region' ? `region:${batch.region}` : batch.node;
  let prev = -1;
  for (const [i, r] of batch.records.entries()) {
    if (!isObj(r) || !seqOk(r.nodeSeq) || r.nodeSeq < 1 || !isObj(r.record) || typeof r.hash !== 'string' || !/^[0-9a-f]{64}$/.test(r.hash)) {
      throw new LinkInputError('invalid', `records[${i}]: expected { nodeSeq: integer ≥ 1, record: object, hash: 64 hex digits }`);
    }
    if (r.nodeSeq <= prev) throw new LinkInputError('invalid', `records[${i}]: nodeSeq ${r.nodeSeq} is not above the previous one (${prev}); ship records in order`);
    prev = r.nodeSeq;
  }
  const shipped: ShippedRecord[] = batch.records.map((r) => ({ nodeSeq: r.nodeSeq, fields: fromCore(r.record, batch, r.nodeSeq, r.hash) }));
  // The trail skips what it holds already and moves the node's cursor in the same
  // transaction (src/audit/trail.ts appendShipped, on SQLite or PostgreSQL).
  const result = await audit.appendShipped(cursorKey, batch.region, shipped, now().toISOString());
  if (result.stored > 0) {
    audit.append({
      kind: 'system', identity: `core ${batch.node}`, operation: 'link.audit', result: 'success',
      detail: batch.chain === 'region'
        ? `ingested ${result.stored} audit record(s) of the region ${batch.region} chain, sent by core ${batch.node}, region seq ${result.first} to ${result.last}`
        : `ingested ${result.stored} audit record(s) of core ${batch.node} (region ${batch.region}), node seq ${result.first} to ${result.last}`,
    });
    await audit.flush();
  }
  return { node: batch.node, acceptedThrough: result.acceptedThrough };
}

function fromCore(record: Record<string, unknown>, batch: LinkAuditBatch, nodeSeq: number, nodeHash: string): Omit<AuditRecord, 'seq' | 'time' | 'prevHash' | 'hash'> {
  const when = typeof record.time === 'string' && record.time.length <= 40 ? oneLine(record.time) : '?';
  // In a region's chain the record names its writer; the position is in the region's chain.
  const writer = batch.chain === 'region' ? (typeof record.node === 'string' && NODE.test(record.node) ? record.node : '?') : batch.node;
  const origin = batch.chain === 'region'
    ? `[core ${writer} ${batch.region} region#${nodeSeq} ${when} ${nodeHash}]`
    : `[core ${batch.node} ${batch.region} #${nodeSeq} ${when} ${nodeHash}]`;
  const pick = (k: string) => (record[k] === undefined ? null : record[k]);
  const detail = typeof record.detail === 'string' ? `${origin} ${record.detail}` : origin;
  try {
    return validateAuditInput({
      kind: pick('kind'), identity: pick('identity'), tenant: pick('tenant'), service: pick('service'),
      operation: pick('operation'), objectId: pick('objectId'), result: pick('result'), reason: pick('reason'),
      detail: detail.length > FIELD_LIMITS.detail ? detail.slice(0, FIELD_LIMITS.detail) : detail,
    });
  } catch (e) {
    if (!(e instanceof AuditInputError)) throw e;
    return validateAuditInput({
      kind: 'system', identity: `core ${batch.node}`, operation: 'link.audit', result: 'failure', reason: 'InvalidField',
      tenant: typeof record.tenant === 'string' && NAME.test(record.tenant) ? record.tenant : null,
      detail: `${origin} a shipped record broke the audit rules and is kept as this note: ${oneLine(e.message)}`.slice(0, FIELD_LIMITS.detail),
    });
  }
}

export interface StoredNodeStatus extends LinkNodeStatus {
  /** CMK clock when the report arrived. */
  receivedAt: string;
}

/**
 * Checks and stores a node's status (the last one per node wins). `regionTenants` is the set
 * of tenants pinned to the caller's region: a report about any other tenant is refused.
 */
export async function recordNodeStatus(gov: Pick<Governance, 'recordNodeStatus'>, raw: Record<string, unknown>, caller: LinkCaller, regionTenants: ReadonlySet<string>, now: () => Date = () => new Date()): Promise<StoredNodeStatus> {
  checkWho(raw, caller);
  if (typeof raw.at !== 'string' || raw.at.length > 40 || Number.isNaN(Date.parse(raw.at))) throw new LinkInputError('invalid', 'field "at" must be an ISO 8601 time');
  if (!seqOk(raw.seq)) throw new LinkInputError('invalid', 'field "seq" must be a whole number ≥ 0');
  if (!Array.isArray(raw.tenants) || raw.tenants.length > LINK_STATUS_MAX_TENANTS) throw new LinkInputError('invalid', `field "tenants" must be an array of at most ${LINK_STATUS_MAX_TENANTS} entries`);
  const tenants: LinkNodeStatus['tenants'] = [];
  for (const [i, t] of raw.tenants.entries()) {
    if (!isObj(t) || typeof t.tenant !== 'string' || !NAME.test(t.tenant) || !['unsealed', 'sealed', 'killed'].includes(t.state as string)) {
      throw new LinkInputError('invalid', `tenants[${i}]: expected { tenant, state: unsealed | sealed | killed, reason?, l1Status? }`);
    }
    if (!regionTenants.has(t.tenant)) throw new LinkInputError('forbidden', `tenants[${i}]: tenant ${t.tenant} is not served in region ${caller.region}`);
    const e: LinkNodeStatus['tenants'][number] = { tenant: t.tenant, state: t.state as 'unsealed' | 'sealed' | 'killed' };
    for (const k of ['reason', 'l1Status'] as const) {
      const v = t[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' || v.length > STATUS_TEXT_MAX) throw new LinkInputError('invalid', `tenants[${i}].${k}: a string of at most ${STATUS_TEXT_MAX} characters`);
      e[k] = oneLine(v);
    }
    tenants.push(e);
  }
  const status: StoredNodeStatus = { node: caller.node, region: caller.region, at: raw.at, seq: raw.seq, tenants, receivedAt: now().toISOString() };
  await gov.recordNodeStatus({ node: status.node, region: status.region, status: JSON.stringify(status), receivedAt: status.receivedAt });
  return status;
}

/** The last status of every node that ever reported, by region then node. */
export async function listNodeStatuses(gov: Pick<Governance, 'listNodeStatuses'>): Promise<StoredNodeStatus[]> {
  return (await gov.listNodeStatuses()).map((r) => JSON.parse(r.status) as StoredNodeStatus);
}
