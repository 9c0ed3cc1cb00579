// The gateway's cache of unwrapped L4 data keys (issue 11 §2): bounded, least recently used
// first (second chance), each entry living at most its TTL, every key zeroized (buffer.fill(0)) when it leaves, for whatever
// reason (eviction, expiry, purge on a kill switch). Lookups hand out a copy, so a caller
// never holds the buffer that a purge zeroizes… and the cache never holds the caller's.

export interface CacheOptions {
  /** Entries kept at most; the least recently used goes first. Bounds memory of a flood of distinct blobs. */
  maxEntries: number;
  /** Lifetime of an entry from its insertion: past it a key is gone, even while the Core is unreachable. */
  ttlMs: number;
  now?: () => number;
}

interface Entry {
  id: string;
  key: Buffer;
  expires: number;
  /** Used since it was last (re)queued: spared once by eviction (second chance). */
  hot: boolean;
}

export class L4Cache {
  // Recency is kept the "second chance" way (CLOCK, an approximation of LRU): a hit only
  // marks the entry; eviction takes the oldest entry, and an oldest one that was used since
  // it was queued goes back to the end instead. A hit then never mutates anything but a flag
  // — re-inserting on every hit (a strict LRU) made a cached unwrap cost a delete and an
  // insert in the Map (bench/README.md "Gateway": profile of the bulk unwrap).
  //
  // The order lives in a queue of its own, not in the Map's insertion order: a Map's
  // iterator starts at its first slot and steps over the holes its deletes left, so taking
  // "the oldest entry" of a full cache with `entries().next()` cost tens of µs per insert
  // (25–85 µs measured at 100 000 entries) — paid by every new data key once the cache was
  // full. The queue holds each live entry at least once; an item whose entry has left the
  // Map (expired, purged, replaced) is skipped when it reaches the head, and the queue is
  // compacted when such items make up half of it.
  private readonly entries = new Map<string, Entry>();
  private queue: Entry[] = [];
  private head = 0;
  private readonly now: () => number;
  constructor(private readonly opts: CacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A copy of the key, or undefined when absent or expired (an expired entry is zeroized now). */
  get(id: string): Buffer | undefined {
    const e = this.hit(id);
    return e === undefined ? undefined : Buffer.from(e.key);
  }

  /**
   * The key in base64, or undefined (as get): for answers that are text anyway (the JSON
   * data-key API), without a Buffer copy that would then have to be zeroized.
   */
  getBase64(id: string): string | undefined {
    return this.hit(id)?.key.toString('base64');
  }

  /** A live entry, marked used (second chance); an expired one is zeroized and dropped now. */
  private hit(id: string): Entry | undefined {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    if (e.expires <= this.now()) {
      this.drop(id, e);
      return undefined;
    }
    e.hot = true;
    return e;
  }

  /** Stores a copy of `key`. */
  set(id: string, key: Buffer): void {
    const old = this.entries.get(id);
    if (old !== undefined) this.drop(id, old);
    const e: Entry = { id, key: Buffer.from(key), expires: this.now() + this.opts.ttlMs, hot: false };
    this.entries.set(id, e);
    this.queue.push(e);
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.queue[this.head++]!;
      if (this.entries.get(oldest.id) !== oldest) continue; // left the Map already
      if (oldest.hot || oldest === e) {
        // Second chance: used since queued, so it goes to the end (ends: every entry cools).
        // The entry being added is never its own victim (it is oldest only once all others
        // have been re-queued cold).
        oldest.hot = false;
        this.queue.push(oldest);
        continue;
      }
      this.drop(oldest.id, oldest);
    }
    this.compact();
  }

  /**
   * Drops the queue's consumed head and the items of entries gone once they are half of it:
   * the queue stays within about twice the entries, at amortized O(1) per insert.
   */
  private compact(): void {
    const q = this.queue;
    if (q.length < 1024 || q.length < 2 * this.entries.size) return;
    const live: Entry[] = [];
    for (let i = this.head; i < q.length; i++) {
      const e = q[i]!;
      if (this.entries.get(e.id) === e) live.push(e);
    }
    this.queue = live;
    this.head = 0;
  }

  /** Zeroizes and forgets every expired entry (called periodically, so expired keys do not linger in memory). */
  sweep(): number {
    const t = this.now();
    let n = 0;
    for (const [id, e] of this.entries) if (e.expires <= t) { this.drop(id, e); n++; }
    return n;
  }

  /** Zeroizes and forgets everything (kill switch, seal, revoked certificate). Returns how many keys were purged. */
  purge(): number {
    const n = this.entries.size;
    for (const [id, e] of this.entries) this.drop(id, e);
    this.queue = [];
    this.head = 0;
    return n;
  }

  /** Zeroizes and forgets every entry whose id matches (keys of a service taken off the gateway's list). */
  purgeWhere(match: (id: string) => boolean): number {
    let n = 0;
    for (const [id, e] of this.entries) if (match(id)) { this.drop(id, e); n++; }
    return n;
  }

  private drop(id: string, e: Entry): void {
    e.key.fill(0);
    this.entries.delete(id);
  }
}
