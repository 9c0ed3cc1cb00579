// The gateway's status watch (issue 11 §3): how a Krypton Gateway learns, without polling,
// that its tenant was sealed or killed, that its certificate was revoked, or that its list of
// services changed.
//
// Why a held request: KMIP has no server-initiated message a client must read (Notify and
// Put, KMIP 2.1 §6.2, need the client to act as a server), and the gateway already has an
// authenticated mutual-TLS link to the Core. So the gateway sends one request that the Core
// keeps open and answers only when what the gateway must know changes, or after WATCH_HOLD_MS
// (so that a silently dead link is noticed). The request is a standard Poll (KMIP 2.1
// §6.1.38, 1.4 §4.29) whose Asynchronous Correlation Value is `openkcm:watch:<token>`:
// Poll is the spec's "ask again about something outstanding", and its correlation value
// carries the state the gateway last saw (the token), so a watch re-sent after an answer
// holds again at once, and one sent with an out-of-date token is answered at once. The answer
// is a Success item whose payload carries the new correlation value and, in Data, a JSON
// object: {state: "ok"|"sealed"|"refused", reason?, tenant, services, node}.
//
// What it watches is exactly what the Core checks on every message: the certificate's
// authentication (governance: revocation, role, the identity's service list) and the tenant
// gate (sealed, killed; the same lazy unseal attempt as a request). It is evaluated in this
// process, so with `serve --workers N` it works whichever worker holds the connection: a
// seal or kill reaches every worker's engine through the primary (cluster.ts) and wakes the
// watch at once (HierarchyEngine.onStateChange); governance changes reach every worker
// through the database, and the watch re-evaluates every WATCH_RECHECK_MS in memory (no
// network, no audit record).
//
// Audit: a record when a connection's watch opens (its first watch Poll) and one when it
// closes (the connection ends or the server shuts down), naming the gateway identity, how
// long it was open and how many changes it answered — not one record per Poll: with the
// former status probe every 200 ms a gateway added 5 records per second to the trail. The
// changes themselves (seal, kill switch, revocation, a new service list) are audited where
// they are made. An identity that is not a gateway, or a certificate that is refused, never
// reaches this module: its Poll takes the ordinary path (and its ordinary audit record).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Tag } from '../ttlv/generated/tags.ts';
import { Operation, ResultStatus } from '../ttlv/generated/enumerations.ts';
import { byteString, optBytes, structure } from '../kmip/items.ts';
import type { RequestBatchItem, ResponseBatchItem } from '../kmip/message.ts';
import { KmipError } from '../kmip/errors.ts';
import { servicesOf } from '../policy/access.ts';
import { GATEWAY_ROLE } from '../policy/roles.ts';
import type { AuditInput } from '../audit/record.ts';
import type { ClientIdentity } from '../operations/types.ts';
import type { Authentication } from './executor.ts';
import { WATCH_HOLD_MS, WATCH_PREFIX, type WatchState } from '../kmip/gateway-watch.ts';

/** In-memory re-evaluation period for what no event announces (governance changes from another process). */
export const WATCH_RECHECK_MS = 250;

export interface GatewayWatchDeps {
  authenticate(who: ClientIdentity): Authentication;
  tenantGate?(tenant: string): Promise<void>;
  /** Subscribes to seal/unseal events of this process's hierarchy; returns the unsubscribe. */
  tenantChanges?(listener: (tenant: string) => void): () => void;
  /** Appends one audit record; false when the trail cannot take it. */
  audit(record: AuditInput): boolean;
  holdMs?: number;
  recheckMs?: number;
}

interface Session {
  id: string;
  tenant: string;
  service: string;
  opened: number;
  changes: number;
  lastToken: string | undefined;
  /** Wakes the held Poll (connection closed, shutdown). */
  release?: () => void;
  closed: boolean;
}

/** True when the message is one watch Poll (the only form the watch answers). */
export function isWatchPoll(items: readonly RequestBatchItem[]): boolean {
  if (items.length !== 1 || items[0]!.operation !== Operation.Poll) return false;
  const v = optBytes(items[0]!.payload, Tag.AsynchronousCorrelationValue);
  return v !== undefined && v.length <= 256 && v.subarray(0, WATCH_PREFIX.length).toString('latin1') === WATCH_PREFIX;
}

export function tokenOf(s: WatchState): string {
  return createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 24);
}

export class GatewayWatch {
  // Keyed by the connection's identity object (one per connection, KmipConnection.identity).
  private readonly sessions = new WeakMap<ClientIdentity, Session>();
  private readonly holdMs: number;
  private readonly recheckMs: number;

  constructor(private readonly deps: GatewayWatchDeps) {
    this.holdMs = deps.holdMs ?? WATCH_HOLD_MS;
    this.recheckMs = deps.recheckMs ?? WATCH_RECHECK_MS;
  }

  /**
   * Whether `who` may use the watch: an identity of role gateway, authenticated, or refused
   * only because its tenant is sealed or killed (the watch is how it learns the tenant is
   * back, so it must stay open then; every other request of that gateway is still refused).
   */
  admits(who: ClientIdentity): boolean {
    return this.who(who) !== undefined;
  }

  private who(who: ClientIdentity): { id: string; tenant: string; service: string } | undefined {
    const a = this.deps.authenticate(who);
    if (a.ok) return a.principal.role.name === GATEWAY_ROLE ? a.principal.identity : undefined;
    if (a.tenantInactive?.role === GATEWAY_ROLE && a.identityId !== undefined && a.tenant !== undefined && a.service !== undefined) {
      return { id: a.identityId, tenant: a.tenant, service: a.service };
    }
    return undefined;
  }

  private async evaluate(who: ClientIdentity, tenant: string): Promise<WatchState> {
    const a = this.deps.authenticate(who);
    if (!a.ok) {
      // A sealed or killed tenant in governance: the Core's own refusal line (runtime.ts).
      if (a.tenantInactive?.role === GATEWAY_ROLE) return { state: 'sealed', reason: a.reason, tenant, services: [...a.tenantInactive.services].sort() };
      return { state: 'refused', reason: `the client certificate is not authorised: ${a.reason}`, tenant, services: [] };
    }
    const p = a.principal;
    if (p.role.name !== GATEWAY_ROLE) return { state: 'refused', reason: `identity ${p.identity.id} is no longer of role gateway`, tenant, services: [] };
    const services = [...servicesOf(p.identity)].sort();
    if (this.deps.tenantGate) {
      try {
        await this.deps.tenantGate(p.identity.tenant);
      } catch (e) {
        const reason = e instanceof KmipError ? e.message : `tenant ${p.identity.tenant} cannot be checked`;
        return { state: 'sealed', reason, tenant: p.identity.tenant, services };
      }
    }
    return { state: 'ok', tenant: p.identity.tenant, services };
  }

  /**
   * Answers one watch Poll: at once when the state differs from the token sent, else when it
   * changes or after the hold. Undefined when the open record cannot be written (the caller
   * refuses: nothing is served unaudited).
   */
  async answer(item: RequestBatchItem, who: ClientIdentity, log: Logger): Promise<ResponseBatchItem | undefined> {
    const sent = optBytes(item.payload, Tag.AsynchronousCorrelationValue)!.subarray(WATCH_PREFIX.length).toString('latin1');
    const me = this.who(who);
    if (me === undefined) throw new Error('watch answered for an identity it does not admit');
    let session = this.sessions.get(who);
    if (session === undefined || session.closed) {
      const st = await this.evaluate(who, me.tenant);
      session = { id: me.id, tenant: me.tenant, service: me.service, opened: Date.now(), changes: 0, lastToken: undefined, closed: false };
      const ok = this.deps.audit({
        kind: 'kmip', identity: session.id, tenant: session.tenant, service: session.service, operation: 'Poll', objectId: null,
        result: 'success', detail: `gateway status watch opened: ${st.state}${st.reason ? ` (${st.reason})` : ''}`,
      });
      if (!ok) return undefined;
      this.sessions.set(who, session);
      log.info({ event: 'gateway_watch_opened', identity: session.id, state: st.state }, 'gateway status watch opened');
    }
    const s = session;
    let st = await this.evaluate(who, s.tenant);
    let token = tokenOf(st);
    if (token === sent && !s.closed) {
      // Hold: woken by a seal/unseal of this tenant in this process, re-evaluated on a timer
      // for governance changes, answered unchanged at the end of the hold.
      await new Promise<void>((resolve) => {
        let done = false;
        let checking = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(hold);
          clearInterval(recheck);
          unsubscribe?.();
          s.release = undefined;
          resolve();
        };
        const check = () => {
          if (checking || done) return;
          checking = true;
          this.evaluate(who, s.tenant).then((next) => {
            checking = false;
            const t = tokenOf(next);
            if (t !== sent) { st = next; token = t; finish(); }
          }, () => { checking = false; });
        };
        const hold = setTimeout(finish, this.holdMs);
        const recheck = setInterval(check, this.recheckMs);
        const unsubscribe = this.deps.tenantChanges?.((tenant) => { if (tenant === s.tenant) check(); });
        s.release = finish;
      });
    }
    if (s.lastToken !== undefined && token !== s.lastToken) s.changes++;
    s.lastToken = token;
    const body = Buffer.from(JSON.stringify({ ...st, node: process.pid }), 'utf8');
    return {
      operation: Operation.Poll, resultStatus: ResultStatus.Success,
      ...(item.uniqueBatchItemId !== undefined ? { uniqueBatchItemId: item.uniqueBatchItemId } : {}),
      payload: structure(Tag.ResponsePayload, [
        byteString(Tag.AsynchronousCorrelationValue, Buffer.from(WATCH_PREFIX + token, 'latin1')),
        byteString(Tag.Data, body),
      ]),
    };
  }

  /** The connection of `who` ended (or the server is shutting down): answer a held watch now and write the close record. */
  connectionEnded(who: ClientIdentity, why: string): void {
    const s = this.sessions.get(who);
    if (s === undefined || s.closed) return;
    s.closed = true;
    s.release?.();
    this.sessions.delete(who);
    const secs = ((Date.now() - s.opened) / 1000).toFixed(1);
    this.deps.audit({
      kind: 'kmip', identity: s.id, tenant: s.tenant, service: s.service, operation: 'Poll', objectId: null,
      result: 'success', detail: `gateway status watch closed (${why}) after ${secs} s; ${s.changes} change(s) answered`,
    });
  }
}
