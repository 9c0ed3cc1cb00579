// Connection budgets of the KMIP listener (issue 16 §4, "Pre-authentication exhaustion").
//
// A connection is PRE-AUTH from accept until its mutual-TLS handshake completes, then
// AUTHENTICATED. Before this split a single budget (maxConnections) covered both, and
// 1 100 TCP connections that never sent a ClientHello, from one address, held every slot
// for as long as the attacker reconnected: legitimate clients were reset at accept.
//
// Now:
// - every open connection counts against maxConnections (file descriptors, memory);
// - pre-auth connections also count against maxPreAuthConnections (smaller), and those
//   of one source against maxPreAuthPerSource: one address can never hold more than that
//   many unauthenticated slots, and a new one over it is refused at accept;
// - when the server is full (maxConnections), or the pre-auth budget is, a new
//   connection does not get refused: the oldest pre-auth connection of the source that
//   holds the most pre-auth slots is evicted to make room. Authenticated connections are
//   never evicted; when they alone fill maxConnections, new connections are refused.
// So an attacker without a certificate holds at most maxPreAuthConnections slots, and a
// client from another address always gets a handshake slot (it evicts the attacker's).
//
// Pure bookkeeping over opaque connection handles; the listener closes what this says.

export interface AdmissionLimits {
  maxConnections: number;
  maxPreAuthConnections: number;
  maxPreAuthPerSource: number;
}

/** The limit a refused connection hit (the config key's name, for logs and statistics). */
export type AdmissionRefusal = 'maxConnections' | 'maxPreAuthPerSource';

export type AdmissionDecision<C> =
  | { admitted: true; evict?: C; evictedBecause?: 'maxConnections' | 'maxPreAuthConnections' }
  | { admitted: false; limit: AdmissionRefusal };

export class Admission<C> {
  /** Pre-auth connections, oldest first (Map keeps insertion order). */
  private readonly preAuth = new Map<C, string>();
  private readonly preAuthBySource = new Map<string, Set<C>>();
  private readonly authenticatedSet = new Set<C>();

  constructor(readonly limits: AdmissionLimits) {}

  get open(): number { return this.preAuth.size + this.authenticatedSet.size; }
  get preAuthCount(): number { return this.preAuth.size; }
  get authenticatedCount(): number { return this.authenticatedSet.size; }
  /** Pre-auth connections of the busiest source. */
  get busiestSource(): number {
    let n = 0;
    for (const s of this.preAuthBySource.values()) n = Math.max(n, s.size);
    return n;
  }
  isPreAuth(conn: C): boolean { return this.preAuth.has(conn); }
  preAuthOf(source: string): number { return this.preAuthBySource.get(source)?.size ?? 0; }

  /** A connection was accepted from `source`. An evicted connection is already released. */
  admit(conn: C, source: string): AdmissionDecision<C> {
    if (this.preAuthOf(source) >= this.limits.maxPreAuthPerSource) return { admitted: false, limit: 'maxPreAuthPerSource' };
    let evict: C | undefined;
    let evictedBecause: 'maxConnections' | 'maxPreAuthConnections' | undefined;
    const full = this.open >= this.limits.maxConnections;
    if (full || this.preAuth.size >= this.limits.maxPreAuthConnections) {
      evict = this.victim();
      if (evict === undefined) return { admitted: false, limit: 'maxConnections' };
      evictedBecause = full ? 'maxConnections' : 'maxPreAuthConnections';
      this.release(evict);
    }
    this.preAuth.set(conn, source);
    let set = this.preAuthBySource.get(source);
    if (set === undefined) this.preAuthBySource.set(source, set = new Set());
    set.add(conn);
    return evict === undefined ? { admitted: true } : { admitted: true, evict, evictedBecause: evictedBecause! };
  }

  /** The handshake completed: the connection leaves the pre-auth budget. False if it is not tracked (already released). */
  authenticated(conn: C): boolean {
    const source = this.preAuth.get(conn);
    if (source === undefined) return false;
    this.dropPreAuth(conn, source);
    this.authenticatedSet.add(conn);
    return true;
  }

  /** The connection closed (or is being closed): its slot is free. */
  release(conn: C): void {
    const source = this.preAuth.get(conn);
    if (source !== undefined) this.dropPreAuth(conn, source);
    else this.authenticatedSet.delete(conn);
  }

  /** The oldest pre-auth connection of the source holding the most pre-auth slots. */
  private victim(): C | undefined {
    let best: Set<C> | undefined;
    for (const set of this.preAuthBySource.values()) if (best === undefined || set.size > best.size) best = set;
    // Sets keep insertion order too: the first is that source's oldest.
    return best?.values().next().value;
  }

  private dropPreAuth(conn: C, source: string): void {
    this.preAuth.delete(conn);
    const set = this.preAuthBySource.get(source);
    set?.delete(conn);
    if (set?.size === 0) this.preAuthBySource.delete(source);
  }
}

/**
 * The key one client is counted under: the IPv4 address (an IPv4-mapped IPv6 address is
 * its IPv4 address), or the /64 prefix of an IPv6 address — one host usually owns a whole
 * /64 (RFC 4291 §2.5.1 interface identifiers; SLAAC hands them out freely), so counting
 * per full address would give one attacker 2^64 "sources".
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  const [head, tail] = bare.includes('::') ? bare.split('::') as [string, string] : [bare, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => (g === '' ? '0' : g.replace(/^0+(?=.)/, ''))).join(':')}::/64`;
}
