// Replays OASIS KMIP test-vector files (spec/kmip-vectors/README.md) against OpenKCM.
//
// One file = one stateful scenario: its RequestMessage / ResponseMessage pairs are sent in
// order against a fresh server (by default an in-process runtime with an in-memory store, so
// the fixed names of one case never collide with another's), placeholders are bound from the
// server's answers (placeholders.ts) and every answer is compared with the vector's
// (compare.ts). Each request is also pushed through the XML and JSON encodings and must come
// back to the same bytes, so the three encodings of the profiles stay exercised.
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { decode } from '../src/ttlv/decode.ts';
import { encode } from '../src/ttlv/encode.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import type { TtlvItem } from '../src/ttlv/types.ts';
import { tagLabel } from '../src/ttlv/decode.ts';
import { renderValue, compareResponse, formatMismatch, RandomnessTracker } from './compare.ts';
import { Bindings, substitute } from './placeholders.ts';
import { KmipClient } from '../src/client/index.ts';
import { openRuntime } from '../src/server/runtime.ts';
import { startServer } from '../src/server/listener.ts';
import { KMIP_HTTP_PATH, MEDIA_TYPE, type HttpEncoding } from '../src/server/http-kmip.ts';
import { tlsProfileOptions, type TlsProfile } from '../src/server/tls-profile.ts';
import { fromXml as fromXmlText, toXml as toXmlText } from '../src/ttlv/xml.ts';
import { fromJson as fromJsonText, toJson as toJsonText } from '../src/ttlv/json.ts';
import { Agent, request as httpsRequest } from 'node:https';
import pino from 'pino';
import { devPkiFiles, generateDevPki } from '../certs/devpki.ts';

// ---------------------------------------------------------------------------------------
// The pieces other modules provide, loaded lazily so the runner (and its tests) build
// while they are written. Their shapes are the ones agreed in the issues.

export interface Formats {
  fromXml(text: string): TtlvItem[];
  toXml(items: TtlvItem[] | TtlvItem, opts?: { root?: string; indent?: string | number }): string;
  fromJson(text: string): TtlvItem | TtlvItem[];
  toJson(item: TtlvItem | TtlvItem[]): string;
}

let xmlPromise: Promise<Pick<Formats, 'fromXml' | 'toXml'>> | undefined;
let jsonPromise: Promise<Pick<Formats, 'fromJson' | 'toJson'>> | undefined;
/** src/ttlv/xml.ts (needed to read the vectors at all). */
export function loadXml(): Promise<Pick<Formats, 'fromXml' | 'toXml'>> {
  const path = '../src/ttlv/xml.ts';
  xmlPromise ??= import(path) as Promise<Pick<Formats, 'fromXml' | 'toXml'>>;
  return xmlPromise;
}
/** src/ttlv/json.ts (needed for the JSON round trip of each request). */
export function loadJson(): Promise<Pick<Formats, 'fromJson' | 'toJson'>> {
  const path = '../src/ttlv/json.ts';
  jsonPromise ??= import(path) as Promise<Pick<Formats, 'fromJson' | 'toJson'>>;
  return jsonPromise;
}
export async function loadFormats(): Promise<Formats> {
  const [x, j] = await Promise.all([loadXml(), loadJson()]);
  return { fromXml: x.fromXml, toXml: x.toXml, fromJson: j.fromJson, toJson: j.toJson };
}

/** A server the runner talks to: raw request bytes in, raw response bytes out. */
export interface Transport {
  send(request: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}
export type TransportFactory = (file: string) => Promise<Transport>;

/** The identity in-process replays run under (single-tenant defaults of `openkcm serve`). */
export const CONFORMANCE_IDENTITY = {
  subject: 'CN=openkcm-conformance',
  sans: [] as string[],
  fingerprint: '0'.repeat(64),
  tenant: 'default',
  service: 'default',
};

/** Default transport: a fresh in-process runtime (in-memory store) per file. */
export const inProcessTransport: TransportFactory = async () => {
  const runtime = await openRuntime({ logger: pino({ level: process.env.CONFORMANCE_LOG_LEVEL ?? 'silent' }) });
  return {
    send: (buf) => runtime.engine.handleBytes(buf, CONFORMANCE_IDENTITY),
    close: async () => {
      await runtime.close();
    },
  };
};

/**
 * The CA and client files of a certificates directory laid out as the dev PKI's
 * (certs/devpki.ts: ca.crt, client.crt, client.key); a missing file is named in the error.
 */
async function clientTls(certsDir: string): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  const files = devPkiFiles(certsDir);
  const read = async (what: string, p: string) => {
    try {
      return await readFile(p);
    } catch (e) {
      throw new Error(`cannot read the ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return { ca: await read('CA certificate', files.caCert), cert: await read('client certificate', files.clientCert), key: await read('client key', files.clientKey) };
}

/**
 * `--target host:port --certs DIR`: a running server over mutual TLS, one connection per
 * file. DIR holds the CA and client files under the dev PKI's names (certs/devpki.ts:
 * ca.crt, client.crt, client.key).
 */
export function remoteTransport(host: string, port: number, certsDir: string): TransportFactory {
  return async () => {
    const client = await KmipClient.connect({ host, port, ...(await clientTls(certsDir)) });
    return {
      send: (buf) => client.sendBytes(buf),
      close: () => client.close(),
    };
  };
}

// ---------------------------------------------------------------------------------------
// Transports by case. The message-encoding cases go over KMIP over HTTPS (KMIP Profiles 2.1
// §5.3), each in its encoding: MSGENC-HTTPS as TTLV bodies (application/octet-stream),
// MSGENC-XML as KMIP XML (text/xml, §5.4), MSGENC-JSON as KMIP JSON (application/json, §5.5);
// the Suite B cases over TLS restricted to their profile (RFC 6460, src/server/tls-profile.ts)
// on both ends; every other case over binary TTLV.

export type CaseTransport = 'ttlv' | 'https-ttlv' | 'https-xml' | 'https-json' | 'suiteb-128' | 'suiteb-192';

const FAMILY_TRANSPORT: Readonly<Record<string, CaseTransport>> = {
  'MSGENC-HTTPS': 'https-ttlv',
  'MSGENC-XML': 'https-xml',
  'MSGENC-JSON': 'https-json',
  SUITEB_128: 'suiteb-128',
  SUITEB_192: 'suiteb-192',
};

/** Which transport a vector file exercises (by its family). */
export function transportOfCase(file: string): CaseTransport {
  return FAMILY_TRANSPORT[familyOf(file)] ?? 'ttlv';
}

export interface CaseTransports {
  ttlv: TransportFactory;
  https(encoding: HttpEncoding): TransportFactory;
  suiteB(profile: 'suiteb-128' | 'suiteb-192'): TransportFactory;
}

/** One transport factory that picks, per file, the transport its case exercises. */
export function byCase(t: CaseTransports): TransportFactory {
  return (file) => {
    const k = transportOfCase(file);
    switch (k) {
      case 'ttlv': return t.ttlv(file);
      case 'https-ttlv': return t.https('ttlv')(file);
      case 'https-xml': return t.https('xml')(file);
      case 'https-json': return t.https('json')(file);
      default: return t.suiteB(k)(file);
    }
  };
}

/** TTLV bytes → the body of the encoding. */
function toBody(encoding: HttpEncoding, bytes: Buffer): Buffer {
  if (encoding === 'ttlv') return bytes;
  const tree = decode(bytes);
  return Buffer.from(encoding === 'xml' ? toXmlText(tree, { root: false }) : toJsonText(tree), 'utf8');
}

/** An answer body → TTLV bytes; an answer that is not one message of the encoding is an error. */
function fromBody(encoding: HttpEncoding, body: Buffer): Buffer {
  if (encoding === 'ttlv') return body;
  const text = body.toString('utf8');
  const items = encoding === 'xml' ? fromXmlText(text) : [fromJsonText(text)].flat();
  if (items.length !== 1) throw new Error(`the ${encoding.toUpperCase()} answer holds ${items.length} top-level items, not one message`);
  return encode(items[0]!);
}

/**
 * One `POST /kmip` over a kept-alive mutual-TLS agent: the request's TTLV bytes sent in
 * `encoding`, the answer (which must be 200 in the same Content-Type) returned as TTLV bytes.
 */
export function postKmip(agent: Agent, host: string, port: number, bytes: Buffer, encoding: HttpEncoding = 'ttlv', timeoutMs = 30_000): Promise<Buffer> {
  const body = toBody(encoding, bytes);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host, port, path: KMIP_HTTP_PATH, method: 'POST', agent, servername: host === '127.0.0.1' || host === '::1' ? 'localhost' : host,
      headers: { 'Content-Type': MEDIA_TYPE[encoding], 'Content-Length': body.length },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const out = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${out.toString('utf8').trim()}`));
        else if (res.headers['content-type'] !== MEDIA_TYPE[encoding]) reject(new Error(`answer of Content-Type ${res.headers['content-type']}, expected ${MEDIA_TYPE[encoding]}`));
        else {
          try {
            resolve(fromBody(encoding, out));
          } catch (e) {
            reject(new Error(`the answer is not KMIP ${encoding.toUpperCase()}: ${(e as Error).message}`));
          }
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no HTTPS answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const pkis = new Map<string, ReturnType<typeof generateDevPki>>();
/** One generated dev PKI per key algorithm for the whole run. */
const pkiOf = (algorithm: 'ec-p256' | 'ec-p384') => {
  let p = pkis.get(algorithm);
  if (!p) pkis.set(algorithm, (p = generateDevPki({ algorithm })));
  return p;
};

/** A fresh runtime (in-memory store) behind a real listener on 127.0.0.1 (port 0). */
async function inProcessListener(protocol: 'ttlv' | 'https', profile: TlsProfile) {
  const pki = await pkiOf(profile === 'suiteb-192' ? 'ec-p384' : 'ec-p256');
  const runtime = await openRuntime({ logger: pino({ level: process.env.CONFORMANCE_LOG_LEVEL ?? 'silent' }) });
  try {
    const server = await startServer({ listen: { host: '127.0.0.1', port: 0 }, protocol, tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem, profile } }, runtime);
    return { pki, runtime, server, port: server.address().port };
  } catch (e) {
    await runtime.close();
    throw e;
  }
}

/**
 * In-process KMIP over HTTPS in one encoding: a fresh runtime per file behind a real HTTPS
 * listener with a generated development PKI, the client Node's https over mutual TLS. The
 * bytes the vector sends cross a real TLS socket and HTTP framing, converted to the encoding.
 */
export function inProcessHttps(encoding: HttpEncoding): TransportFactory {
  return async () => {
    const l = await inProcessListener('https', 'none');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: l.pki.ca.certPem, cert: l.pki.client.certPem, key: l.pki.client.keyPem });
    return {
      send: (buf) => postKmip(agent, '127.0.0.1', l.port, buf, encoding),
      close: async () => {
        agent.destroy();
        await l.server.close(1_000);
        await l.runtime.close();
      },
    };
  };
}
/** The MSGENC-HTTPS transport (TTLV bodies). */
export const inProcessHttpsTransport: TransportFactory = inProcessHttps('ttlv');

/**
 * In-process TTLV over TLS restricted to a Suite B profile on both ends: the server with
 * `tls.profile` and a certificate of the profile's curve, the client offering only the
 * profile's suites, groups and signature schemes.
 */
export function inProcessSuiteB(profile: 'suiteb-128' | 'suiteb-192'): TransportFactory {
  return async () => {
    const l = await inProcessListener('ttlv', profile);
    let client: KmipClient;
    try {
      client = await KmipClient.connect({
        host: '127.0.0.1', port: l.port, servername: 'localhost', ca: l.pki.ca.certPem, cert: l.pki.client.certPem, key: l.pki.client.keyPem,
        tls: tlsProfileOptions(profile),
      });
    } catch (e) {
      await l.server.close(0);
      await l.runtime.close();
      throw e;
    }
    return {
      send: (buf) => client.sendBytes(buf),
      close: async () => {
        await client.close();
        await l.server.close(1_000);
        await l.runtime.close();
      },
    };
  };
}

/** Every case in process, each over the transport it exercises. */
export const inProcessTransports: CaseTransports = { ttlv: inProcessTransport, https: inProcessHttps, suiteB: inProcessSuiteB };

/** `--https-target host:port --certs DIR`: a running server's https.listen, in one encoding. */
export function remoteHttpsTransport(host: string, port: number, certsDir: string, encoding: HttpEncoding = 'ttlv'): TransportFactory {
  return async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ...(await clientTls(certsDir)) });
    return { send: (buf) => postKmip(agent, host, port, buf, encoding), close: async () => agent.destroy() };
  };
}

// ---------------------------------------------------------------------------------------
// Files, skip list, families.

export type Status = 'pass' | 'fail' | 'skip';
export interface FileResult {
  /** Path relative to the replayed folder, with `/` separators. */
  file: string;
  status: Status;
  detail: string;
  family: string;
  version: string;
  steps: number;
  ms: number;
}

/** Every `.xml` file below `root`, sorted by path for stable output. */
export async function listVectorFiles(root: string): Promise<string[]> {
  const st = await stat(root);
  if (st.isFile()) return [root];
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.toLowerCase().endsWith('.xml')) out.push(p);
    }
  };
  await walk(root);
  return out.sort(naturalCompare);
}

/** Orders BL-M-2 before BL-M-10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export function relativeName(root: string, file: string): string {
  const r = relative(root, file);
  return (r === '' ? basename(file) : r).split(sep).join('/');
}

/** Family = the file-name prefix before the Mandatory/Optional marker: `CS-BC-M-GCM-1-21` → `CS-BC`. */
export function familyOf(file: string): string {
  const name = basename(file).replace(/\.xml$/i, '');
  const m = /^(.*?)-[MO]-/.exec(name);
  return m ? m[1]! : name.replace(/-\d+$/, '');
}

/** The skip list: file name → honest reason. Keys are file names, so any folder layout works. */
export interface SkipList {
  [fileName: string]: string;
}
export async function loadSkipList(path: string): Promise<SkipList> {
  const raw = JSON.parse(await readFile(path, 'utf8')) as { files?: SkipList };
  if (!raw.files || typeof raw.files !== 'object') throw new Error(`${path}: expected {"files": {"<file name>": "<reason>"}}`);
  return raw.files;
}

// ---------------------------------------------------------------------------------------
// One scenario.

export interface ReplayOptions {
  transport: TransportFactory;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** Check the XML and JSON round trips of each request (default true). */
  checkEncodings?: boolean;
  /** Clock for `$NOW` (tests). */
  clock?: () => number;
  /** Case name → case names to replay first on the same server (conformance/chains.json). */
  chains?: Chains;
}

/**
 * Case name (the file name without its version suffix and `.xml`: `SASED-M-3`) → the cases
 * that must run before it. Keyed by case, not by file, so one entry chains the same case in
 * every version's set (SASED-M-3-21 after SASED-M-2-21, SASED-M-3-14 after SASED-M-2-14).
 */
export interface Chains {
  [caseName: string]: string[];
}

/** `SASED-M-3-21.xml` → `SASED-M-3`; a name without a version suffix stays as it is. */
export function caseNameOf(file: string): string {
  return basename(file).replace(/\.xml$/i, '').replace(/-\d\d$/, '');
}

/**
 * The prerequisite file names of one vector file: its case's prerequisites, in the file's own
 * version (`SASED-M-3-14.xml` → `SASED-M-2-14.xml`), to be found in the same folder.
 */
export function prerequisitesOf(file: string, chains: Chains | undefined): string[] {
  const name = basename(file);
  const suffix = /(-\d\d)?\.xml$/i.exec(name)?.[0] ?? '.xml';
  return (chains?.[caseNameOf(name)] ?? []).map((c) => `${c}${suffix}`);
}

export async function loadChains(path: string): Promise<Chains> {
  const raw = JSON.parse(await readFile(path, 'utf8')) as { chains?: Chains };
  const c = raw.chains;
  const bad = (why: string) => new Error(`${path}: ${why}; expected {"chains": {"<case name>": ["<prerequisite case name>", …]}} with case names such as "SASED-M-3" (no version suffix, no .xml)`);
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw bad('no "chains" object');
  for (const [k, v] of Object.entries(c)) {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`"${k}" is not a list of case names`);
    // A file name here would silently chain nothing: refuse it.
    for (const n of [k, ...v]) if (caseNameOf(n) !== n) throw bad(`"${n}" is a file name, not a case name (write "${caseNameOf(n)}")`);
  }
  return c;
}

class StepFailure extends Error {}

function versionOf(msg: TtlvItem | undefined): string | undefined {
  if (!msg || msg.type !== 'Structure') return undefined;
  const header = msg.value.find((c) => c.tag === Tag.RequestHeader || c.tag === Tag.ResponseHeader);
  const pv = header?.type === 'Structure' ? header.value.find((c) => c.tag === Tag.ProtocolVersion) : undefined;
  if (!pv || pv.type !== 'Structure') return undefined;
  const major = pv.value.find((c) => c.tag === Tag.ProtocolVersionMajor);
  const minor = pv.value.find((c) => c.tag === Tag.ProtocolVersionMinor);
  return major?.type === 'Integer' && minor?.type === 'Integer' ? `${major.value}.${minor.value}` : undefined;
}

/** Rule 5b of compare.ts: the expected header carries the request's Protocol Version. */
export function withRequestVersion(expected: TtlvItem, request: TtlvItem): TtlvItem {
  const reqHeader = request.type === 'Structure' ? request.value.find((c) => c.tag === Tag.RequestHeader) : undefined;
  const pv = reqHeader?.type === 'Structure' ? reqHeader.value.find((c) => c.tag === Tag.ProtocolVersion) : undefined;
  if (!pv || expected.type !== 'Structure') return expected;
  return {
    ...expected,
    value: expected.value.map((c) =>
      c.tag === Tag.ResponseHeader && c.type === 'Structure'
        ? { ...c, value: c.value.map((h) => (h.tag === Tag.ProtocolVersion ? pv : h)) }
        : c,
    ),
  };
}

function operationsOf(msg: TtlvItem): string {
  if (msg.type !== 'Structure') return '?';
  const ops = msg.value
    .filter((c) => c.tag === Tag.BatchItem && c.type === 'Structure')
    .map((bi) => (bi.type === 'Structure' ? bi.value.find((c) => c.tag === Tag.Operation) : undefined))
    .map((op) => (op ? renderValue(op) : '?'));
  return ops.join('+') || 'no batch item';
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new StepFailure(`${what}: no response within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Splits a vector file into (request, expected response) pairs, refusing a malformed layout. */
export function pairMessages(items: TtlvItem[]): Array<[TtlvItem, TtlvItem]> {
  const msgs = items.filter((i) => i.tag === Tag.RequestMessage || i.tag === Tag.ResponseMessage);
  const stray = items.find((i) => i.tag !== Tag.RequestMessage && i.tag !== Tag.ResponseMessage);
  if (stray) throw new StepFailure(`unexpected top-level element ${tagLabel(stray.tag)} (only RequestMessage/ResponseMessage pairs)`);
  const pairs: Array<[TtlvItem, TtlvItem]> = [];
  for (let i = 0; i < msgs.length; i += 2) {
    const req = msgs[i]!;
    const resp = msgs[i + 1];
    if (req.tag !== Tag.RequestMessage) throw new StepFailure(`message ${i + 1}: a ResponseMessage without a RequestMessage before it`);
    if (!resp || resp.tag !== Tag.ResponseMessage) throw new StepFailure(`message ${i + 1}: a RequestMessage without its ResponseMessage`);
    pairs.push([req, resp]);
  }
  if (pairs.length === 0) throw new StepFailure('no RequestMessage in the file');
  return pairs;
}

/**
 * Checks that a request survives toXml→fromXml and toJson→fromJson with identical bytes
 * (the XML and JSON encodings of the profiles, KMIP Profiles 2.1 §5.4–5.5).
 */
export function checkEncodings(formats: Formats, request: TtlvItem, bytes: Buffer): string | undefined {
  const single = (v: TtlvItem | TtlvItem[]): TtlvItem | undefined => (Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v);
  const viaJson = single(formats.fromJson(formats.toJson(request)));
  if (!viaJson) return 'JSON round trip did not give back exactly one message';
  const jb = encode(viaJson);
  if (!jb.equals(bytes)) return `JSON round trip changed the request bytes (first difference at offset ${firstDifference(jb, bytes)})`;
  const viaXml = single(formats.fromXml(formats.toXml([request])));
  if (!viaXml) return 'XML round trip did not give back exactly one message';
  const xb = encode(viaXml);
  if (!xb.equals(bytes)) return `XML round trip changed the request bytes (first difference at offset ${firstDifference(xb, bytes)})`;
  return undefined;
}

/**
 * Sends one file's requests in order over an open transport and compares each answer.
 * Throws StepFailure at the first difference; returns the number of steps.
 */
async function runScenario(path: string, transport: Transport, tracker: RandomnessTracker, opts: ReplayOptions, onVersion?: (v: string) => void): Promise<number> {
  const xml = await loadXml();
  const pairs = pairMessages(xml.fromXml(await readFile(path, 'utf8')));
  const v = versionOf(pairs[0]![0]);
  if (v) onVersion?.(v);
  const bindings = new Bindings({ clock: opts.clock });
  for (let i = 0; i < pairs.length; i++) {
    const [reqTemplate, expected] = pairs[i]!;
    const label = `step ${i} (${operationsOf(reqTemplate)})`;
    let request: TtlvItem;
    let bytes: Buffer;
    try {
      request = substitute(reqTemplate, bindings);
      bytes = encode(request);
    } catch (e) {
      throw new StepFailure(`${label}: cannot build the request: ${(e as Error).message}`);
    }
    if (opts.checkEncodings !== false) {
      let problem: string | undefined;
      try {
        problem = checkEncodings(await loadFormats(), request, bytes);
      } catch (e) {
        problem = `encoding round trip failed: ${(e as Error).message}`;
      }
      if (problem) throw new StepFailure(`${label}: ${problem}`);
    }
    const answer = await withTimeout(transport.send(bytes), opts.timeoutMs ?? 30_000, label);
    let actual: TtlvItem;
    try {
      actual = decode(answer);
    } catch (e) {
      throw new StepFailure(`${label}: the server's response does not decode: ${(e as Error).message}`);
    }
    const flags = tracker.flagsFor(request, actual);
    const m = compareResponse(withRequestVersion(expected, request), actual, bindings, flags);
    tracker.note(request, actual);
    bindings.observe(actual);
    if (m) throw new StepFailure(`${label}: ${formatMismatch(m)}`);
  }
  return pairs.length;
}

/**
 * Replays one vector file. Never throws: every problem becomes a failed result.
 * Files whose case is listed in `opts.chains` first replay their prerequisites (same folder,
 * same version suffix) against the same server: a few OASIS cases continue the state another
 * case left behind.
 */
export async function replayFile(path: string, rel: string, opts: ReplayOptions): Promise<FileResult> {
  const started = Date.now();
  const base: FileResult = { file: rel, status: 'fail', detail: '', family: familyOf(rel), version: versionFromName(rel) ?? '?', steps: 0, ms: 0 };
  let transport: Transport | undefined;
  try {
    transport = await opts.transport(path);
    const tracker = new RandomnessTracker();
    for (const pre of prerequisitesOf(path, opts.chains)) {
      try {
        await runScenario(join(dirname(path), pre), transport, tracker, opts);
      } catch (e) {
        throw new StepFailure(`prerequisite ${pre} (replayed first on the same server) failed: ${(e as Error).message}`);
      }
    }
    base.steps = await runScenario(path, transport, tracker, opts, (v) => (base.version = v));
    base.status = 'pass';
    base.detail = `${base.steps} step(s)`;
  } catch (e) {
    base.status = 'fail';
    base.detail = e instanceof StepFailure ? e.message : `${(e as Error).name ?? 'Error'}: ${(e as Error).message}`;
  } finally {
    if (transport) await transport.close().catch(() => undefined);
    base.ms = Date.now() - started;
  }
  return base;
}

/** `-21.xml` → 2.1, `-14.xml` → 1.4 (the suffix every OASIS file carries); the request header wins when readable. */
export function versionFromName(file: string): string | undefined {
  const m = /-(\d)(\d)\.xml$/i.exec(file);
  return m ? `${m[1]}.${m[2]}` : undefined;
}

// ---------------------------------------------------------------------------------------
// A folder.

export interface RunOptions extends ReplayOptions {
  skip: SkipList;
  /** Replay only files whose relative path contains this text. */
  filter?: string;
  /** Called after each file (the CLI prints a line). */
  onResult?: (r: FileResult) => void;
}

export interface Summary {
  total: number;
  pass: number;
  fail: number;
  skip: number;
  /** family → version → counts */
  byFamily: Record<string, Record<string, { pass: number; fail: number; skip: number }>>;
  byVersion: Record<string, { pass: number; fail: number; skip: number }>;
}

export async function runFolder(root: string, opts: RunOptions): Promise<{ files: FileResult[]; summary: Summary }> {
  const files: FileResult[] = [];
  for (const path of await listVectorFiles(root)) {
    const rel = relativeName(root, path);
    if (opts.filter !== undefined && !rel.includes(opts.filter)) continue;
    const reason = opts.skip[basename(path)];
    let r: FileResult;
    if (reason !== undefined) {
      r = { file: rel, status: 'skip', detail: reason, family: familyOf(rel), version: versionFromName(rel) ?? '?', steps: 0, ms: 0 };
    } else {
      r = await replayFile(path, rel, opts);
    }
    files.push(r);
    opts.onResult?.(r);
  }
  return { files, summary: summarize(files) };
}

export function summarize(files: FileResult[]): Summary {
  const s: Summary = { total: files.length, pass: 0, fail: 0, skip: 0, byFamily: {}, byVersion: {} };
  for (const f of files) {
    s[f.status]++;
    const fam = (s.byFamily[f.family] ??= {});
    (fam[f.version] ??= { pass: 0, fail: 0, skip: 0 })[f.status]++;
    (s.byVersion[f.version] ??= { pass: 0, fail: 0, skip: 0 })[f.status]++;
  }
  return s;
}

/** A plain-text table: one row per family, one column per version (pass/total, skips noted). */
export function summaryTable(s: Summary): string {
  const versions = Object.keys(s.byVersion).sort(naturalCompare);
  const families = Object.keys(s.byFamily).sort(naturalCompare);
  const cell = (c: { pass: number; fail: number; skip: number } | undefined) =>
    c ? `${c.pass}/${c.pass + c.fail}${c.skip ? ` +${c.skip} skip` : ''}` : '-';
  const rows = [['family', ...versions], ...families.map((f) => [f, ...versions.map((v) => cell(s.byFamily[f]![v]))]), ['total', ...versions.map((v) => cell(s.byVersion[v]))]];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** conformance/REPORT.md: the pass table of every version replayed, and each file's status. */
export function markdownReport(files: FileResult[], s: Summary, when = new Date()): string {
  const versions = Object.keys(s.byVersion).sort(naturalCompare).reverse();
  const out: string[] = [];
  out.push('# OpenKCM conformance report', '');
  out.push(`Generated by \`npm run conformance:report\` on ${when.toISOString().slice(0, 10)} from the OASIS KMIP test vectors (\`spec/kmip-vectors\`).`);
  out.push('Comparison rules: `conformance/compare.ts`; skipped files and reasons: `conformance/skip.json`.', '');
  out.push(`Overall: **${s.pass} pass, ${s.fail} fail, ${s.skip} skipped** of ${s.total} files.`, '');
  out.push('## Summary by family', '', `| family | ${versions.join(' | ')} |`, `|---|${versions.map(() => '---').join('|')}|`);
  for (const fam of Object.keys(s.byFamily).sort(naturalCompare)) {
    const cells = versions.map((v) => {
      const c = s.byFamily[fam]![v];
      return c ? `${c.pass}/${c.pass + c.fail}${c.skip ? ` (+${c.skip} skipped)` : ''}` : '—';
    });
    out.push(`| ${fam} | ${cells.join(' | ')} |`);
  }
  const tot = versions.map((v) => {
    const c = s.byVersion[v]!;
    return `**${c.pass}/${c.pass + c.fail}**${c.skip ? ` (+${c.skip} skipped)` : ''}`;
  });
  out.push(`| **total** | ${tot.join(' | ')} |`, '');
  for (const v of versions) {
    out.push(`## KMIP ${v}`, '', '| file | result | detail |', '|---|---|---|');
    for (const f of files.filter((x) => x.version === v)) {
      const mark = f.status === 'pass' ? 'pass' : f.status === 'skip' ? 'skipped' : '**fail**';
      out.push(`| ${f.file} | ${mark} | ${f.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
