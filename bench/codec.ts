// `npm run bench:codec` (issue 2 §7): binary TTLV decode+encode throughput of src/ttlv on
// four typical messages and one carrying a 1 MiB Byte String, then PyKMIP's codec
// (bench/pykmip_codec.py, kmip.core.messages) on the very same bytes, and the ratio.
//
//   npm run bench:codec [-- --seconds 2] [-- --no-pykmip] [-- --json] [-- --dump]
//
// All messages are KMIP 1.4 shaped so that PyKMIP 0.10 (which knows 1.0–2.0) can read
// every one of them; the OpenKCM codec is version-agnostic at this layer. One Node thread,
// so every figure is per core. Not a timed test: figures go to bench/README.md by hand.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from '../src/ttlv/decode.ts';
import { encode } from '../src/ttlv/encode.ts';
import { Tag } from '../src/ttlv/generated/tags.ts';
import {
  BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, NameType, ObjectType, Operation,
  PaddingMethod, ResultStatus,
} from '../src/ttlv/generated/enumerations.ts';
import type { TtlvItem } from '../src/ttlv/types.ts';

const args = process.argv.slice(2);
const SECONDS = Number(args[args.indexOf('--seconds') + 1]) > 0 && args.includes('--seconds') ? Number(args[args.indexOf('--seconds') + 1]) : 1.5;
const WITH_PYKMIP = !args.includes('--no-pykmip');
const AS_JSON = args.includes('--json');

// ---------------------------------------------------------------------------
// The messages

const S = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const I = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const E = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const T = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const B = (tag: number, value: Buffer): TtlvItem => ({ tag, type: 'ByteString', value });

const version14 = S(Tag.ProtocolVersion, [I(Tag.ProtocolVersionMajor, 1), I(Tag.ProtocolVersionMinor, 4)]);
const requestHeader = S(Tag.RequestHeader, [version14, I(Tag.BatchCount, 1)]);
const responseHeader = S(Tag.ResponseHeader, [version14, { tag: Tag.TimeStamp, type: 'DateTime', value: 1607904000n }, I(Tag.BatchCount, 1)]);
const uuid = (i: number) => `${i.toString(16).padStart(8, '0')}-4f1c-4b7e-9a2d-6c0e5b3a7f19`;
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));

function encryptRequest(data: Buffer): TtlvItem {
  return S(Tag.RequestMessage, [requestHeader, S(Tag.BatchItem, [
    E(Tag.Operation, Operation.Encrypt),
    S(Tag.RequestPayload, [
      T(Tag.UniqueIdentifier, uuid(1)),
      S(Tag.CryptographicParameters, [
        E(Tag.BlockCipherMode, BlockCipherMode.CBC),
        E(Tag.PaddingMethod, PaddingMethod.PKCS5),
        E(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      ]),
      B(Tag.Data, data),
      B(Tag.IVCounterNonce, pattern(16)),
    ]),
  ])]);
}

const attribute = (name: string, value: TtlvItem): TtlvItem =>
  S(Tag.Attribute, [T(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }]);

const createRequest = S(Tag.RequestMessage, [requestHeader, S(Tag.BatchItem, [
  E(Tag.Operation, Operation.Create),
  S(Tag.RequestPayload, [
    E(Tag.ObjectType, ObjectType.SymmetricKey),
    S(Tag.TemplateAttribute, [
      attribute('Cryptographic Algorithm', E(0, CryptographicAlgorithm.AES)),
      attribute('Cryptographic Length', I(0, 256)),
      attribute('Cryptographic Usage Mask', I(0, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
      attribute('Name', S(0, [T(Tag.NameValue, 'payments-dek-2024'), E(Tag.NameType, NameType.UninterpretedTextString)])),
    ]),
  ]),
])]);

const getResponse = S(Tag.ResponseMessage, [responseHeader, S(Tag.BatchItem, [
  E(Tag.Operation, Operation.Get),
  E(Tag.ResultStatus, ResultStatus.Success),
  S(Tag.ResponsePayload, [
    E(Tag.ObjectType, ObjectType.SymmetricKey),
    T(Tag.UniqueIdentifier, uuid(2)),
    S(Tag.SymmetricKey, [S(Tag.KeyBlock, [
      E(Tag.KeyFormatType, KeyFormatType.Raw),
      S(Tag.KeyValue, [B(Tag.KeyMaterial, pattern(32))]),
      E(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      I(Tag.CryptographicLength, 256),
    ])]),
  ]),
])]);

const locateResponse = S(Tag.ResponseMessage, [responseHeader, S(Tag.BatchItem, [
  E(Tag.Operation, Operation.Locate),
  E(Tag.ResultStatus, ResultStatus.Success),
  S(Tag.ResponsePayload, [I(Tag.LocatedItems, 100), ...Array.from({ length: 100 }, (_, i) => T(Tag.UniqueIdentifier, uuid(i)))]),
])]);

interface Case { name: string; kind: 'request' | 'response'; bytes: Buffer; throughput?: boolean }

const CASES: Case[] = [
  { name: '(a) Encrypt request, 64 B data', kind: 'request', bytes: encode(encryptRequest(pattern(64))) },
  { name: '(b) Create request, 4 attributes', kind: 'request', bytes: encode(createRequest) },
  { name: '(c) Get response, 32 B key', kind: 'response', bytes: encode(getResponse) },
  { name: '(d) Locate response, 100 ids', kind: 'response', bytes: encode(locateResponse) },
  { name: '(e) Encrypt request, 1 MiB data', kind: 'request', bytes: encode(encryptRequest(pattern(1 << 20))), throughput: true },
];

// ---------------------------------------------------------------------------
// Timing

/**
 * Runs `fn` in growing batches until `seconds` of this process's CPU time have passed and
 * returns operations per CPU-second: the per-core rate, which stays meaningful on a shared
 * machine where wall-clock rates drop with every other process competing for the cores.
 * (The wall-clock rate is returned too.)
 */
function measure(fn: () => unknown, seconds: number): { cpu: number; wall: number } {
  for (let i = 0; i < 1000; i++) fn(); // warm-up: let the JIT settle
  let iterations = 0;
  let batch = 1;
  const budget = seconds * 1e6; // µs
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  let used = 0;
  for (;;) {
    for (let i = 0; i < batch; i++) fn();
    iterations += batch;
    const d = process.cpuUsage(cpu0);
    used = d.user + d.system;
    if (used >= budget) break;
    if (used * 10 < budget) batch *= 2;
  }
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  return { cpu: iterations / (used / 1e6), wall: iterations / wall };
}

interface Row {
  name: string;
  bytes: number;
  /** Operations per CPU-second (per core). */
  roundTrip: number;
  decodeOnly: number;
  encodeOnly: number;
  decodeCopy: number;
  /** Round trips per wall-clock second, for comparison with the CPU figure. */
  roundTripWall: number;
  pykmip?: number;
  pykmipNote?: string;
}

function runOurs(c: Case): Row {
  // Byte-for-byte sanity first: a benchmark of a codec that does not round-trip is void.
  if (!encode(decode(c.bytes)).equals(c.bytes)) throw new Error(`${c.name}: decode/encode does not round-trip`);
  const tree = decode(c.bytes);
  const seconds = c.throughput ? Math.max(0.5, SECONDS / 2) : SECONDS;
  let sink = 0;
  const rt = measure(() => { sink ^= encode(decode(c.bytes)).length; }, seconds);
  const decodeOnly = measure(() => { sink ^= decode(c.bytes).tag; }, seconds / 2).cpu;
  const encodeOnly = measure(() => { sink ^= encode(tree).length; }, seconds / 2).cpu;
  const decodeCopy = measure(() => { sink ^= encode(decode(c.bytes, { copyByteStrings: true })).length; }, seconds / 2).cpu;
  if (sink === 0.5) console.log(''); // keeps `sink` alive so no call is optimised away
  return { name: c.name, bytes: c.bytes.length, roundTrip: rt.cpu, decodeOnly, encodeOnly, decodeCopy, roundTripWall: rt.wall };
}

function runPyKmip(rows: Row[]): void {
  const python = '/usr/bin/python3';
  const script = join(dirname(fileURLToPath(import.meta.url)), 'pykmip_codec.py');
  if (!existsSync(python)) {
    for (const r of rows) r.pykmipNote = 'no /usr/bin/python3';
    return;
  }
  const input = JSON.stringify(CASES.map((c) => ({ name: c.name, kind: c.kind, hex: c.bytes.toString('hex'), seconds: SECONDS })));
  const r = spawnSync(python, [script], { input, encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) {
    const why = /No module named 'kmip'/.test(r.stderr) ? 'PyKMIP missing: apt-get install -y python3-pykmip' : `pykmip_codec.py failed: ${r.stderr.trim().split('\n').pop()}`;
    for (const row of rows) row.pykmipNote = why;
    return;
  }
  const results = new Map<string, { ops_per_sec?: number; same_bytes?: boolean; error?: string }>();
  for (const line of r.stdout.trim().split('\n')) {
    const o = JSON.parse(line) as { name: string; ops_per_sec?: number; same_bytes?: boolean; error?: string };
    results.set(o.name, o);
  }
  for (const row of rows) {
    const o = results.get(row.name);
    if (!o) row.pykmipNote = 'no result';
    else if (o.error) row.pykmipNote = `PyKMIP cannot read it: ${o.error}`;
    else {
      row.pykmip = o.ops_per_sec;
      if (!o.same_bytes) row.pykmipNote = 'PyKMIP wrote different bytes back';
    }
  }
}

// ---------------------------------------------------------------------------

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n >= 1 ? n.toFixed(1) : n.toPrecision(2));
const mbps = (ops: number, bytes: number) => `${((ops * bytes) / 1e6).toFixed(0)} MB/s`;

if (args.includes('--dump')) {
  // The benchmark messages as hex, e.g. for `kmipctl ttlv decode` or a profiler driver.
  for (const c of CASES) console.log(`${c.name}\t${c.throughput ? `(${c.bytes.length} bytes)` : c.bytes.toString('hex')}`);
  process.exit(0);
}

const rows = CASES.map(runOurs);
if (WITH_PYKMIP) runPyKmip(rows);

if (AS_JSON) {
  console.log(JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, loadavg: loadavg(), seconds: SECONDS, rows }, null, 2));
} else {
  console.log(`OpenKCM TTLV codec benchmark — node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('operations per CPU-second of one thread (= per core); "rt" = decode + encode of the whole message;');
  console.log('"rt (copy)" decodes with copyByteStrings; "rt wall" is the same rt per wall-clock second on this (shared) machine\n');
  const head = ['message', 'bytes', 'rt ops/s', 'decode', 'encode', 'rt (copy)', 'rt wall', 'PyKMIP rt', 'ratio'];
  const table = rows.map((r, i) => {
    const c = CASES[i]!;
    const cell = (ops: number) => (c.throughput ? `${fmt(ops)} (${mbps(ops, r.bytes)})` : fmt(ops));
    return [
      r.name, String(r.bytes), cell(r.roundTrip), cell(r.decodeOnly), cell(r.encodeOnly), cell(r.decodeCopy), fmt(r.roundTripWall),
      r.pykmip !== undefined ? fmt(r.pykmip) : '—',
      r.pykmip !== undefined ? `${(r.roundTrip / r.pykmip).toFixed(0)}×` : '—',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  for (const t of table) console.log(line(t));
  for (const r of rows) if (r.pykmipNote) console.log(`note: ${r.name}: ${r.pykmipNote}`);
  const a = rows[0]!;
  console.log(`\ntargets: (a) ≥ 1 M rt/s per core: ${a.roundTrip >= 1e6 ? 'met' : 'MISSED'} (${fmt(a.roundTrip)})` +
    (a.pykmip !== undefined ? `; ≥ 50× PyKMIP: ${a.roundTrip / a.pykmip >= 50 ? 'met' : 'MISSED'} (${(a.roundTrip / a.pykmip).toFixed(0)}×)` : ''));
}
