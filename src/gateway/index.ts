// The Krypton Gateway (issue 11; DESIGN.md §1): runs next to the applications, makes L4
// data keys locally, has the Core wrap them under the service's L3 (batched over a pooled
// mutual-TLS link, core-link.ts), caches unwrapped L4s briefly (cache.ts) and does envelope
// encryption itself (envelope.ts). It holds nothing above L4: it imports client, crypto,
// ttlv and kmip only (test/architecture.test.ts).
//
// Data-key API (HTTP/JSON on localhost or a Unix socket, bearer token per application):
//   POST /v1/datakey         {service, keySpec: "AES_256"|"AES_128", context?} → {plaintext, wrapped, l3Version}
//   POST /v1/datakey/unwrap  {service, wrapped, context?}                      → {plaintext}
//   POST /v1/datakey/rewrap  {service, wrapped, context?}                      → {wrapped, l3Version}
//   POST /v1/encrypt         {service, plaintext, context?}                    → {ciphertext, l3Version}
//   POST /v1/decrypt         {service, ciphertext, context?}                   → {plaintext}
// Bulk forms (issue 11 §4: one HTTP round trip and one JSON parse for many keys; at most
// MAX_BULK_ITEMS each, one service and one context per request):
//   POST /v1/datakeys        {service, keySpec?, context?, count}              → {keys: [{plaintext, wrapped}], l3Version}
//   POST /v1/datakeys/unwrap {service, wrapped: [..], context?}                → {results: [{plaintext} | {error}]}
//   POST /v1/encrypt/bulk    {service, plaintexts: [..], context?}             → {ciphertexts: [..], l3Version}
// Bytes travel in base64; `context` is a string (UTF-8) or an object of strings (canonical
// JSON, keys sorted), bound as associated data. KMIP front: kmip-front.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import { L4Cache } from './cache.ts';
import { CoreLink, type LinkState } from './core-link.ts';
import { EnvelopeSealer, GatewayError, l3VersionOf, openEnvelope, parseEnvelope, wrappedKeyDefect } from './envelope.ts';
import { applicationOf } from './tokens.ts';
import { BINARY_FORMAT_V1, BINARY_MEDIA_TYPE, BINARY_RESPONSE_HEADER_BYTES, BinaryBodyError, RESULT_OK, buildBinaryResponse, buildDataKeysResponse, parseBinaryRequest, type BinaryRequest, type BinaryResult } from './binary.ts';
import { startKmipFront, type KmipFront, type KmipFrontOptions } from './kmip-front.ts';
import type { KmipClientOptions } from '../client/index.ts';

export { GatewayError } from './envelope.ts';

/** A service id as governance spells it (src/store/governance.ts ID_PATTERN). */
const SERVICE_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Largest request body: a bulk request of 1 KiB envelopes needs about 1.4 MiB; stops memory floods. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Entries of one bulk request at most: bounds the work and the answer of one HTTP request. */
export const MAX_BULK_ITEMS = 1000;
/** Largest context, as the Core's MAX_CONTEXT_BYTES (src/operations/common/service-l3.ts). */
export const MAX_CONTEXT_BYTES = 4096;

export type Listen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface GatewayOptions {
  core: Omit<KmipClientOptions, 'timeoutMs'>;
  tenant: string;
  /** The gateway's own service (its certificate's): what a KMIP request of a foreign application certificate acts for. */
  service: string;
  /**
   * Services served here (a local filter). Undefined: every service the Core lets this
   * gateway act for — the Core's list (the identity's alsoServices) always decides.
   */
  services?: string[];
  listen: Listen;
  /** SHA-256(token) → application name (tokens.ts). */
  tokens: ReadonlyMap<string, string>;
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  poolSize?: number;
  maxBatchItems?: number;
  /** Wraps of one (service, context) per bulk-wrap item at the Core (1: one item per wrap). */
  maxKeysPerItem?: number;
  flushDelayMs?: number;
  probeIntervalMs?: number;
  requestTimeoutMs?: number;
  /** Envelope encryption: one L4 seals at most this many messages (nonce budget, envelope.ts)… */
  l4MaxMessages?: number;
  /** …and for at most this long. */
  l4MaxAgeMs?: number;
  kmipFront?: Omit<KmipFrontOptions, 'link' | 'logger' | 'tenant' | 'services'>;
  logger: Logger;
}

export const GATEWAY_DEFAULTS = {
  cacheTtlMs: 60_000,
  cacheMaxEntries: 100_000,
  poolSize: 2,
  maxBatchItems: 256,
  maxKeysPerItem: 1024,
  flushDelayMs: 1,
  probeIntervalMs: 200,
  requestTimeoutMs: 10_000,
  l4MaxMessages: 1 << 20,
  l4MaxAgeMs: 60_000,
} as const;

interface CurrentL4 {
  key: Buffer;
  wrapped: Buffer;
  /** Header and associated data of this L4 and context, built once (envelope.ts). */
  sealer: EnvelopeSealer;
  uses: number;
  created: number;
}

export interface RunningGateway {
  /** TCP port or Unix socket path of the data-key API. */
  address: string | number;
  kmipFront?: KmipFront;
  link: CoreLink;
  cache: L4Cache;
  close(): Promise<void>;
}

function contextBytes(ctx: unknown): Buffer {
  if (ctx === undefined || ctx === null) return Buffer.alloc(0);
  let b: Buffer;
  if (typeof ctx === 'string') b = Buffer.from(ctx, 'utf8');
  else if (typeof ctx === 'object' && !Array.isArray(ctx) && Object.values(ctx).every((v) => typeof v === 'string')) {
    const sorted = Object.keys(ctx).sort().map((k) => [k, (ctx as Record<string, string>)[k]]);
    b = Buffer.from(JSON.stringify(sorted), 'utf8');
  } else throw new GatewayError(400, 'context must be a string or an object of strings');
  if (b.length > MAX_CONTEXT_BYTES) throw new GatewayError(400, `context is ${b.length} bytes; at most ${MAX_CONTEXT_BYTES}`);
  return b;
}

function base64Field(body: Record<string, unknown>, name: string): Buffer {
  const v = body[name];
  if (typeof v !== 'string' || v.length === 0) throw new GatewayError(400, `${name} (base64) is required`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw new GatewayError(400, `${name} is not base64`);
  return Buffer.from(v, 'base64');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new GatewayError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function jsonBody(raw: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(raw.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new GatewayError(400, 'request body must be a JSON object');
  }
}

/** Whether a request's Content-Type names the binary body (binary.ts); anything else is read as JSON. */
const isBinary = (contentType: string | undefined) => contentType !== undefined && contentType.split(';')[0]!.trim().toLowerCase() === BINARY_MEDIA_TYPE;

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const o = { ...GATEWAY_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as GatewayOptions & typeof GATEWAY_DEFAULTS;
  const log = opts.logger;
  const cache = new L4Cache({ maxEntries: o.cacheMaxEntries, ttlMs: o.cacheTtlMs });
  const current = new Map<string, CurrentL4>();
  const forgetCurrent = () => {
    for (const c of current.values()) c.key.fill(0);
    current.clear();
  };
  const link = new CoreLink({
    client: opts.core, tenant: opts.tenant, poolSize: o.poolSize, maxBatchItems: o.maxBatchItems, maxKeysPerItem: o.maxKeysPerItem, flushDelayMs: o.flushDelayMs,
    probeIntervalMs: o.probeIntervalMs, requestTimeoutMs: o.requestTimeoutMs,
    onRefused(reason) {
      // Kill switch at the edge (issue 11 §3): every cached L4 of the tenant goes, now.
      const n = cache.purge();
      forgetCurrent();
      log.warn({ event: 'gateway_purge', tenant: opts.tenant, purged: n, reason }, 'the core refuses this tenant or gateway: cached keys purged');
    },
    onServices(list) {
      // The Core's list changed (kmipctl identity set-services): keys of a service this gateway
      // may no longer act for leave the cache now, and requests for it are refused here.
      const allowed = new Set(list);
      const n = cache.purgeWhere((id) => !allowed.has(id.slice(0, id.indexOf('\u0000'))));
      for (const [slot, c] of current) if (!allowed.has(slot.slice(0, slot.indexOf('\u0000')))) { c.key.fill(0); current.delete(slot); }
      log.info({ event: 'gateway_services', services: list, purged: n }, 'the core\'s service list for this gateway');
    },
  });
  const sweeper = setInterval(() => cache.sweep(), Math.max(250, Math.min(5000, o.cacheTtlMs / 4)));
  sweeper.unref();
  link.start();

  const services = opts.services === undefined ? undefined : new Set(opts.services);
  const serviceOf = (body: Record<string, unknown>): string => checkService(body.service);
  const checkService = (s: unknown): string => {
    if (typeof s !== 'string' || s === '') throw new GatewayError(400, 'service is required');
    if (!SERVICE_ID.test(s)) throw new GatewayError(400, `service ${JSON.stringify(s).slice(0, 80)} is not a service id`);
    // Same line as the Core's refusal (src/operations/common/service-l3.ts), which decides when there is no local list.
    if (services !== undefined && !services.has(s)) throw new GatewayError(403, `service ${s} is not allowed for this gateway`);
    // The Core's own list, from its status watch: a service taken off it is refused at once,
    // cached keys included (without the watch, the Core refuses at the next round trip).
    const core = link.coreServices;
    if (core !== undefined && !core.includes(s)) throw new GatewayError(403, `service ${s} is not allowed for this gateway`);
    return s;
  };
  const assertServing = () => {
    const r = link.refusal();
    if (r !== undefined) throw r;
  };
  // Keyed by the blob's base64 text as the application sends it: a hit needs no decoding. The
  // blob under a key is always the one that text decodes to, opened by the Core (a text that
  // decodes to the same bytes another way is a key of its own, opened on its own).
  const cacheIdOf = (service: string, ctx64: string, wrapped64: string) => `${service}\u0000${ctx64}\u0000${wrapped64}`;
  const cacheId = (service: string, ctx: Buffer, wrapped: Buffer) => cacheIdOf(service, ctx.toString('base64'), wrapped.toString('base64'));

  function keyLength(body: Record<string, unknown>): number {
    const spec = body.keySpec ?? 'AES_256';
    if (spec !== 'AES_256' && spec !== 'AES_128') throw new GatewayError(400, `keySpec must be AES_256 or AES_128, not ${String(spec)}`);
    return spec === 'AES_256' ? 32 : 16;
  }

  /**
   * The envelope L4 of (service, context) for one more message: reused within its budget
   * (answered without a promise, the common case), else a new one wrapped by the Core.
   */
  const envelopeSlot = (service: string, ctx: Buffer) => `${service}\u0000${ctx.toString('base64')}`;
  function envelopeKey(service: string, ctx: Buffer, slot = envelopeSlot(service, ctx)): CurrentL4 | Promise<CurrentL4> {
    const cur = current.get(slot);
    if (cur !== undefined && cur.uses < o.l4MaxMessages && Date.now() - cur.created < o.l4MaxAgeMs) {
      cur.uses++;
      return cur;
    }
    return freshEnvelopeKey(slot, service, ctx);
  }

  async function freshEnvelopeKey(slot: string, service: string, ctx: Buffer): Promise<CurrentL4> {
    const spent = current.get(slot);
    if (spent !== undefined) { spent.key.fill(0); current.delete(slot); }
    const now = Date.now();
    const key = randomBytes(32);
    const wrapped = await link.wrap(service, ctx, key);
    let cur = current.get(slot);
    if (cur !== undefined && cur.uses < o.l4MaxMessages) key.fill(0); else {
      cur = { key, wrapped, sealer: new EnvelopeSealer(key, wrapped, ctx), uses: 0, created: now };
      current.set(slot, cur);
    }
    cur.uses++;
    return cur;
  }

  function bulkList(body: Record<string, unknown>, name: string): string[] {
    const v = body[name];
    if (!Array.isArray(v) || v.length === 0) throw new GatewayError(400, `${name} must be a non-empty list of base64 strings`);
    if (v.length > MAX_BULK_ITEMS) throw new GatewayError(400, `${name} has ${v.length} entries; at most ${MAX_BULK_ITEMS} per request`);
    return v as string[];
  }

  async function unwrapCached(service: string, ctx: Buffer, wrapped: Buffer): Promise<Buffer> {
    const defect = wrappedKeyDefect(wrapped);
    if (defect !== undefined) throw new GatewayError(400, defect);
    const id = cacheId(service, ctx, wrapped);
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    const key = await link.unwrap(service, ctx, wrapped);
    cache.set(id, key);
    return key;
  }

  /**
   * `count` new L4s of (service, context), wrapped by the Core and cached. One CSPRNG call
   * for all of them (the call, not the bytes, is the cost: envelope.ts NonceSource); `keys`
   * are views into `pool`, which the caller zeroizes once answered (the cache holds copies).
   */
  async function makeDataKeys(service: string, ctx: Buffer, length: number, count: number): Promise<{ pool: Buffer; keys: Buffer[]; wrapped: Buffer[]; wrapped64: string[]; l3Version: number }> {
    const pool = randomBytes(length * count);
    const keys: Buffer[] = new Array(count);
    for (let i = 0; i < count; i++) keys[i] = pool.subarray(i * length, (i + 1) * length);
    try {
      const wrapped = await link.wrapMany(service, ctx, keys);
      const ctx64 = ctx.toString('base64');
      // Each wrapped key is encoded to base64 once: the cache id, and the JSON answer.
      const wrapped64 = wrapped.map((w, i) => {
        const w64 = w.toString('base64');
        cache.set(cacheIdOf(service, ctx64, w64), keys[i]!);
        return w64;
      });
      return { pool, keys, wrapped, wrapped64, l3Version: l3VersionOf(wrapped[0]!) };
    } catch (e) {
      pool.fill(0);
      throw e;
    }
  }

  /**
   * One entry of a bulk unwrap that the cache did not answer: checked, sent to the Core,
   * cached; `answer` gets the key (zeroized after), `refuse` the one-line reason of an entry
   * refused on its own (malformed, forged). A refusal of the tenant, the gateway or the
   * service fails the whole request, once.
   */
  async function unwrapEntry(i: number, service: string, ctx: Buffer, blob: () => Buffer, answer: (key: Buffer) => void, refuse: (line: string) => void): Promise<void> {
    try {
      const key = await unwrapCached(service, ctx, blob());
      try { answer(key); } finally { key.fill(0); }
    } catch (e) {
      if (e instanceof GatewayError && (e.status === 503 || e.status === 403)) throw e;
      if (e instanceof GatewayError) { refuse(e.message.startsWith(`wrapped[${i}]`) ? e.message : `wrapped[${i}]: ${e.message}`); return; }
      throw e;
    }
  }

  /** Envelopes of `plaintexts` under the current L4 of (service, context), renewed within its budget as they go. */
  async function sealAll(service: string, ctx: Buffer, plaintexts: readonly Buffer[]): Promise<{ ciphertexts: Buffer[]; l3Version: number }> {
    const ciphertexts: Buffer[] = new Array(plaintexts.length);
    let version = 0;
    const slot = envelopeSlot(service, ctx);
    for (let i = 0; i < plaintexts.length; i++) {
      let cur = envelopeKey(service, ctx, slot);
      if (cur instanceof Promise) cur = await cur;
      version = l3VersionOf(cur.wrapped);
      ciphertexts[i] = cur.sealer.seal(plaintexts[i]!);
    }
    return { ciphertexts, l3Version: version };
  }

  /**
   * The binary answer of POST /v1/encrypt/bulk (binary.ts layout), each envelope sealed
   * straight into one response buffer sized up front: no buffer per envelope, no copy of
   * it into the answer, and the L4 slot's name built once per request, not per envelope.
   * Envelope L4s are always 32 bytes, so every envelope of the request has the same header
   * length even when the L4 is renewed midway (its budget); a Core answer of another length
   * is refused rather than written past.
   */
  async function sealAllBinary(service: string, ctx: Buffer, plaintexts: readonly Buffer[]): Promise<Buffer> {
    const slot = envelopeSlot(service, ctx);
    let cur = envelopeKey(service, ctx, slot);
    if (cur instanceof Promise) cur = await cur;
    const h = cur.sealer.headerBytes;
    let size = BINARY_RESPONSE_HEADER_BYTES;
    for (const p of plaintexts) size += 1 + 4 + cur.sealer.sizeOf(p.length);
    const out = Buffer.allocUnsafe(size);
    out[0] = BINARY_FORMAT_V1;
    out.writeUInt32BE(plaintexts.length, 5);
    let at = BINARY_RESPONSE_HEADER_BYTES;
    for (let i = 0; i < plaintexts.length; i++) {
      if (i > 0) {
        cur = envelopeKey(service, ctx, slot);
        if (cur instanceof Promise) cur = await cur;
        if (cur.sealer.headerBytes !== h) throw new GatewayError(502, `the core answered a wrapped envelope key of ${cur.sealer.headerBytes - 3} bytes, expected ${h - 3}`);
      }
      const p = plaintexts[i]!;
      out[at++] = RESULT_OK;
      at = out.writeUInt32BE(cur.sealer.sizeOf(p.length), at);
      at = cur.sealer.sealInto(out, at, p);
    }
    out.writeUInt32BE(l3VersionOf(cur.wrapped), 1);
    return out;
  }

  /** The bulk endpoints with a binary body (binary.ts): the same work as their JSON forms, without base64 or JSON. */
  const binaryRoutes: Record<string, { kind: 'count' | 'entries'; run(r: BinaryRequest, service: string): Promise<Buffer> }> = {
    '/v1/datakeys': {
      kind: 'count',
      async run(r, service) {
        const made = await makeDataKeys(service, r.context, r.keyLength!, r.count);
        try {
          return buildDataKeysResponse(made.l3Version, made.keys, made.wrapped);
        } finally {
          made.pool.fill(0);
        }
      },
    },
    '/v1/datakeys/unwrap': {
      kind: 'entries',
      async run(r, service) {
        const entries = r.entries!;
        const ctx64 = r.context.toString('base64');
        const results: BinaryResult[] = new Array(entries.length);
        const keys: Buffer[] = [];
        const misses: Array<Promise<void>> = [];
        try {
          for (let i = 0; i < entries.length; i++) {
            const hit = cache.get(cacheIdOf(service, ctx64, entries[i]!.toString('base64')));
            if (hit !== undefined) { keys.push(hit); results[i] = { ok: true, fields: [hit] }; continue; }
            misses.push(unwrapEntry(i, service, r.context, () => entries[i]!, (key) => {
              const k = Buffer.from(key);
              keys.push(k);
              results[i] = { ok: true, fields: [k] };
            }, (reason) => { results[i] = { ok: false, reason }; }));
          }
          if (misses.length > 0) await Promise.all(misses);
          return buildBinaryResponse(0, results);
        } finally {
          for (const k of keys) k.fill(0);
        }
      },
    },
    '/v1/encrypt/bulk': {
      kind: 'entries',
      async run(r, service) {
        return sealAllBinary(service, r.context, r.entries!);
      },
    },
  };

  const routes: Record<string, (body: Record<string, unknown>) => Promise<Record<string, unknown>>> = {
    async '/v1/datakey'(body) {
      const service = serviceOf(body);
      const length = keyLength(body);
      const ctx = contextBytes(body.context);
      assertServing();
      const key = randomBytes(length);
      try {
        const wrapped = await link.wrap(service, ctx, key);
        cache.set(cacheId(service, ctx, wrapped), key);
        return { plaintext: key.toString('base64'), wrapped: wrapped.toString('base64'), l3Version: l3VersionOf(wrapped) };
      } finally {
        key.fill(0);
      }
    },
    async '/v1/datakeys'(body) {
      const service = serviceOf(body);
      const length = keyLength(body);
      const count = body.count;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_BULK_ITEMS) {
        throw new GatewayError(400, `count must be an integer from 1 to ${MAX_BULK_ITEMS}`);
      }
      const ctx = contextBytes(body.context);
      assertServing();
      const made = await makeDataKeys(service, ctx, length, count);
      try {
        return { keys: made.keys.map((k, i) => ({ plaintext: k.toString('base64'), wrapped: made.wrapped64[i]! })), l3Version: made.l3Version };
      } finally {
        made.pool.fill(0);
      }
    },
    async '/v1/datakeys/unwrap'(body) {
      const service = serviceOf(body);
      const list = bulkList(body, 'wrapped');
      const ctx = contextBytes(body.context);
      assertServing();
      // Cached entries are answered here, synchronously, from the text as sent (no decoding,
      // no copy, no promise); only the others are checked, decoded and sent to the Core
      // (profile in bench/README.md "Gateway"). Each entry stands alone: a forged blob is
      // refused in its own slot, the others open.
      const ctx64 = ctx.toString('base64');
      const results: Array<{ plaintext: string } | { error: string } | undefined> = new Array(list.length);
      const misses: Array<Promise<void>> = [];
      for (let i = 0; i < list.length; i++) {
        const w = list[i];
        if (typeof w === 'string') {
          const hit = cache.getBase64(cacheIdOf(service, ctx64, w));
          if (hit !== undefined) { results[i] = { plaintext: hit }; continue; }
        }
        misses.push(unwrapEntry(i, service, ctx, () => {
          if (typeof w !== 'string') throw new GatewayError(400, `wrapped[${i}] is not a base64 string`);
          try { return base64Field({ w }, 'w'); } catch { throw new GatewayError(400, `wrapped[${i}] is not base64`); }
        }, (key) => { results[i] = { plaintext: key.toString('base64') }; }, (line) => { results[i] = { error: line }; }));
      }
      if (misses.length > 0) await Promise.all(misses);
      return { results };
    },
    async '/v1/encrypt/bulk'(body) {
      const service = serviceOf(body);
      const list = bulkList(body, 'plaintexts');
      const plaintexts = list.map((p, i) => {
        if (typeof p !== 'string') throw new GatewayError(400, `plaintexts[${i}] is not a base64 string`);
        try { return base64Field({ p }, 'p'); } catch { throw new GatewayError(400, `plaintexts[${i}] is not base64`); }
      });
      const ctx = contextBytes(body.context);
      assertServing();
      const sealed = await sealAll(service, ctx, plaintexts);
      return { ciphertexts: sealed.ciphertexts.map((c) => c.toString('base64')), l3Version: sealed.l3Version };
    },
    async '/v1/datakey/unwrap'(body) {
      const service = serviceOf(body);
      const ctx = contextBytes(body.context);
      assertServing();
      if (typeof body.wrapped === 'string') {
        const hit = cache.getBase64(cacheIdOf(service, ctx.toString('base64'), body.wrapped));
        if (hit !== undefined) return { plaintext: hit };
      }
      const wrapped = base64Field(body, 'wrapped');
      const key = await unwrapCached(service, ctx, wrapped);
      try {
        return { plaintext: key.toString('base64') };
      } finally {
        key.fill(0);
      }
    },
    async '/v1/datakey/rewrap'(body) {
      const service = serviceOf(body);
      const wrapped = base64Field(body, 'wrapped');
      const ctx = contextBytes(body.context);
      assertServing();
      const defect = wrappedKeyDefect(wrapped);
      if (defect !== undefined) throw new GatewayError(400, defect);
      // Always through the Core: a rewrap proves the blob still opens, and rewraps under the current L3.
      const key = await link.unwrap(service, ctx, wrapped);
      try {
        const next = await link.wrap(service, ctx, key);
        return { wrapped: next.toString('base64'), l3Version: l3VersionOf(next) };
      } finally {
        key.fill(0);
      }
    },
    async '/v1/encrypt'(body) {
      const service = serviceOf(body);
      const plaintext = base64Field(body, 'plaintext');
      const ctx = contextBytes(body.context);
      assertServing();
      const cur = await envelopeKey(service, ctx);
      const ct = cur.sealer.seal(plaintext);
      return { ciphertext: ct.toString('base64'), l3Version: l3VersionOf(cur.wrapped) };
    },
    async '/v1/decrypt'(body) {
      const service = serviceOf(body);
      const env = parseEnvelope(base64Field(body, 'ciphertext'));
      const ctx = contextBytes(body.context);
      assertServing();
      const key = await unwrapCached(service, ctx, env.wrapped);
      try {
        const plain = openEnvelope(key, env, ctx);
        if (plain === undefined) throw new GatewayError(422, 'ciphertext does not open with this context: altered, or made for another context');
        return { plaintext: plain.toString('base64') };
      } finally {
        key.fill(0);
      }
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    const route = req.method === 'POST' ? routes[req.url ?? ''] : undefined;
    if (req.method === 'GET' && req.url === '/v1/status') {
      const st: LinkState = link.state;
      return send(res, 200, { tenant: opts.tenant, service: opts.service, services: opts.services ?? 'as the core allows', core: st.kind, ...('reason' in st ? { reason: st.reason } : {}), statusBy: link.statusBy, ...(link.coreServices ? { coreServices: link.coreServices } : {}), watchAnswers: link.watchAnswers, ...(link.watchNode !== undefined ? { watchNode: link.watchNode } : {}), cachedKeys: cache.size, coreRoundTrips: link.roundTrips, coreItems: link.itemsSent });
    }
    if (route === undefined) return send(res, 404, { error: `no such endpoint: ${req.method} ${req.url}` });
    const app = applicationOf(opts.tokens, req.headers.authorization);
    if (app === undefined) {
      return send(res, 401, { error: 'missing or unknown bearer token: send "Authorization: Bearer <token>" with a token from the gateway token file' });
    }
    const binary = isBinary(req.headers['content-type']);
    const handled: Promise<void> = binary
      ? readBody(req).then(async (raw) => {
        const b = binaryRoutes[req.url ?? ''];
        if (b === undefined) throw new GatewayError(415, `${BINARY_MEDIA_TYPE} bodies are taken by POST ${Object.keys(binaryRoutes).join(', ')}; send this one as application/json`);
        let r: BinaryRequest;
        try {
          r = parseBinaryRequest(raw, b.kind, MAX_BULK_ITEMS, MAX_CONTEXT_BYTES);
        } catch (e) {
          if (e instanceof BinaryBodyError) throw new GatewayError(400, e.message);
          throw e;
        }
        const service = checkService(r.service);
        assertServing();
        const out = await b.run(r, service);
        res.writeHead(200, { 'content-type': BINARY_MEDIA_TYPE, 'content-length': out.length, 'cache-control': 'no-store' });
        res.end(out);
      })
      : readBody(req).then((raw) => route(jsonBody(raw))).then((out) => send(res, 200, out));
    handled
      .catch((e: unknown) => {
        if (e instanceof GatewayError) {
          log.info({ event: 'gateway_refused', app, path: req.url, status: e.status, reason: e.message }, 'request refused');
          return send(res, e.status, { error: e.message });
        }
        const ref = randomBytes(6).toString('hex');
        log.error({ err: e, ref, app, path: req.url }, 'gateway request failed unexpectedly');
        send(res, 500, { error: `internal error (reference ${ref})` });
      });
  });
  server.keepAliveTimeout = 60_000;

  if (opts.listen.kind === 'unix' && existsSync(opts.listen.path)) unlinkSync(opts.listen.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (opts.listen.kind === 'tcp') server.listen(opts.listen.port, opts.listen.host, () => resolve());
    else server.listen(opts.listen.path, () => resolve());
  });
  // Owner and group only: the applications that may ask for keys share the gateway's group.
  if (opts.listen.kind === 'unix') chmodSync(opts.listen.path, 0o660);
  const addr = server.address();
  const address = typeof addr === 'string' ? addr : addr!.port;

  let front: KmipFront | undefined;
  try {
    if (opts.kmipFront !== undefined) front = await startKmipFront({ ...opts.kmipFront, tenant: opts.tenant, services: opts.services, link, logger: log });
  } catch (e) {
    await link.close();
    server.close();
    throw e;
  }

  return {
    address, link, cache, ...(front ? { kmipFront: front } : {}),
    async close() {
      clearInterval(sweeper);
      await front?.close();
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      await link.close();
      cache.purge();
      forgetCurrent();
    },
  };
}
