// `kmipctl ttlv decode|encode`: the pure conversion helpers directly, then the real program
// from its sources (test/helpers/cli.ts) in a child process (exit codes, stdout, stderr).
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from '../../src/ttlv/decode.ts';
import { encode } from '../../src/ttlv/encode.ts';
import { TtlvError } from '../../src/ttlv/errors.ts';
import { Tag } from '../../src/ttlv/generated/tags.ts';
import { decodeStream, detectFormat, formatHex, formatTree, parseHexDump } from '../../src/cli/ttlv.ts';
import { KMIPCTL } from '../helpers/cli.ts';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const BIN = KMIPCTL;

// NOTES.md §1, "Whole request: Discover Versions", exactly as printed there.
const DISCOVER_VERSIONS_DUMP = `
  42 00 78 01 00 00 00 60
    42 00 77 01 00 00 00 38
      42 00 69 01 00 00 00 20
        42 00 6A 02 00 00 00 04 00 00 00 02 00 00 00 00
        42 00 6B 02 00 00 00 04 00 00 00 01 00 00 00 00
      42 00 0D 02 00 00 00 04 00 00 00 01 00 00 00 00
    42 00 0F 01 00 00 00 18
      42 00 5C 05 00 00 00 04 00 00 00 1E 00 00 00 00
      42 00 79 01 00 00 00 00
`;
const DV_BYTES = Buffer.from(DISCOVER_VERSIONS_DUMP.replace(/\s+/g, ''), 'hex');

// A Create request with attributes of several kinds (enumeration, integer, mask, text).
const CREATE = encode({
  tag: Tag.RequestMessage, type: 'Structure', value: [
    { tag: Tag.RequestHeader, type: 'Structure', value: [
      { tag: Tag.ProtocolVersion, type: 'Structure', value: [
        { tag: Tag.ProtocolVersionMajor, type: 'Integer', value: 2 },
        { tag: Tag.ProtocolVersionMinor, type: 'Integer', value: 1 },
      ] },
      { tag: Tag.BatchCount, type: 'Integer', value: 1 },
    ] },
    { tag: Tag.BatchItem, type: 'Structure', value: [
      { tag: Tag.Operation, type: 'Enumeration', value: 1 },
      { tag: Tag.RequestPayload, type: 'Structure', value: [
        { tag: Tag.ObjectType, type: 'Enumeration', value: 2 },
        { tag: Tag.Attributes, type: 'Structure', value: [
          { tag: Tag.CryptographicAlgorithm, type: 'Enumeration', value: 3 },
          { tag: Tag.CryptographicLength, type: 'Integer', value: 256 },
          { tag: Tag.CryptographicUsageMask, type: 'Integer', value: 12 },
          { tag: Tag.ActivationDate, type: 'DateTime', value: 1607904000n },
          { tag: 0x540001, type: 'ByteString', value: Buffer.from('c0ffee', 'hex') },
          { tag: Tag.Name, type: 'Structure', value: [
            { tag: Tag.NameValue, type: 'TextString', value: 'Schlüssel-1' },
            { tag: Tag.NameType, type: 'Enumeration', value: 1 },
          ] },
        ] },
      ] },
    ] },
  ],
});

interface Result { code: number | null; stdout: Buffer; stderr: string }

function run(args: string[], stdin?: string | Buffer): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(stdin ?? '');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'kmipctl-ttlv-'));
const file = (name: string, data: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

// ---------------------------------------------------------------------------

describe('hex dump reader', () => {
  it('reads plain hex with white space, 0x prefixes and separators', () => {
    expect(parseHexDump(DISCOVER_VERSIONS_DUMP).equals(DV_BYTES)).toBe(true);
    expect(parseHexDump('0x42,0x00,0x2A 02:00:00|00 04 0x0000010000000000').toString('hex')).toBe('42002a02000000040000010000000000');
    expect(parseHexDump('42002A02').toString('hex')).toBe('42002a02');
  });

  it('reads xxd, hexdump -C, od and Wireshark dumps (offset and ASCII columns dropped)', () => {
    const bytes = CREATE;
    const rows = (width: number) => Array.from({ length: Math.ceil(bytes.length / width) }, (_, i) => bytes.subarray(i * width, (i + 1) * width));
    const ascii = (b: Buffer) => [...b].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
    const h = (b: Buffer) => [...b].map((c) => c.toString(16).padStart(2, '0'));
    const xxd = rows(16).map((r, i) => {
      const groups = h(r).join('').match(/.{1,4}/g)!.join(' ');
      return `${(i * 16).toString(16).padStart(8, '0')}: ${groups.padEnd(39)}  ${ascii(r)}`;
    }).join('\n');
    const hexdumpC = rows(16).map((r, i) => {
      const hx = h(r);
      return `${(i * 16).toString(16).padStart(8, '0')}  ${hx.slice(0, 8).join(' ')}  ${hx.slice(8).join(' ')}  |${ascii(r)}|`;
    }).join('\n') + `\n${bytes.length.toString(16).padStart(8, '0')}\n`;
    const wireshark = rows(16).map((r, i) => `${(i * 16).toString(16).padStart(4, '0')}   ${h(r).join(' ')}   ${ascii(r)}`).join('\n');
    const od = rows(16).map((r, i) => `${(i * 16).toString(16).padStart(6, '0')} ${h(r).join(' ')}`).join('\n') + `\n${bytes.length.toString(16).padStart(6, '0')}\n`;
    for (const [name, dump] of Object.entries({ xxd, hexdumpC, wireshark, od })) {
      expect(parseHexDump(dump).toString('hex'), name).toBe(bytes.toString('hex'));
    }
  });

  it('does not read an ASCII column that looks like hex as bytes', () => {
    // 16 bytes whose printable rendering is "cafe" + dots: the line holds exactly 16 bytes.
    const line1 = '00000000  63 61 66 65 00 00 00 00 00 00 00 00 00 00 00 00  cafe............';
    const line2 = '00000010  42 00 2a 02                                      B.*.';
    expect(parseHexDump(`${line1}\n${line2}\n`).length).toBe(20);
  });

  it('refuses bad digits and odd digit counts with the character offset', () => {
    const bad = (text: string) => {
      try {
        parseHexDump(text);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(bad('42 00 2g')).toMatchObject({ code: 'SYNTAX', offset: 7 });
    expect(bad('42 00 2')).toMatchObject({ code: 'SYNTAX', offset: 6 });
    expect(bad('42 00 2')).toBeInstanceOf(TtlvError);
  });

  it('formatHex output reads back', () => {
    expect(parseHexDump(formatHex(CREATE)).equals(CREATE)).toBe(true);
  });
});

describe('format detection and stream decoding', () => {
  it('tells binary, hex, XML and JSON apart', () => {
    expect(detectFormat(DV_BYTES)).toBe('binary');
    expect(detectFormat(Buffer.from(DISCOVER_VERSIONS_DUMP))).toBe('hex');
    expect(detectFormat(Buffer.from('\ufeff  <RequestMessage/>'))).toBe('xml');
    expect(detectFormat(Buffer.from('\n{"tag":"BatchCount"}'))).toBe('json');
    expect(detectFormat(Buffer.from('[{"tag":"NameValue","type":"TextString","value":"Schlüssel"}]'))).toBe('json');
  });

  it('decodes several messages back to back and makes error offsets absolute', () => {
    expect(decodeStream(Buffer.concat([DV_BYTES, CREATE])).length).toBe(2);
    const broken = Buffer.concat([DV_BYTES, CREATE]);
    broken[DV_BYTES.length + 8 + 3] = 0x0c; // type byte of the second message's first child
    expect(() => decodeStream(broken)).toThrow(expect.objectContaining({ code: 'BAD_TYPE', offset: DV_BYTES.length + 11 }));
    expect(() => decodeStream(Buffer.concat([DV_BYTES, Buffer.alloc(3)]))).toThrow(expect.objectContaining({ code: 'TRAILING_BYTES', offset: DV_BYTES.length }));
  });

  it('tree view names tags, enumerations and masks, and marks extension tags', () => {
    const tree = formatTree([decode(CREATE)]);
    expect(tree).toContain('    Operation  Enumeration  Create (0x00000001)');
    expect(tree).toContain('CryptographicAlgorithm  Enumeration  AES (0x00000003)');
    expect(tree).toMatch(/CryptographicUsageMask {2}Integer {2}Encrypt \| Decrypt \(0xC\)/);
    expect(tree).toContain('ActivationDate  DateTime  2020-12-14T00:00:00');
    expect(tree).toContain('0x540001 (extension tag)  ByteString  C0FFEE (3 bytes)');
    expect(tree).toContain('NameValue  TextString  "Schlüssel-1"');
  });
});

// Sequential on purpose: each child starts node + tsx, and the CI box has two shared cores.
describe('kmipctl ttlv (child process)', { timeout: 120_000 }, () => {
  it('decodes the NOTES.md hex dump from stdin into a tree', async () => {
    const r = await run(['ttlv', 'decode'], DISCOVER_VERSIONS_DUMP);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe([
      'RequestMessage  Structure',
      '  RequestHeader  Structure',
      '    ProtocolVersion  Structure',
      '      ProtocolVersionMajor  Integer  2',
      '      ProtocolVersionMinor  Integer  1',
      '    BatchCount  Integer  1',
      '  BatchItem  Structure',
      '    Operation  Enumeration  DiscoverVersions (0x0000001E)',
      '    RequestPayload  Structure  (empty)',
      '',
    ].join('\n'));
  });

  it('round-trips hex → XML → binary, and binary → JSON → hex, byte for byte', async () => {
    const hexFile = file('create.hex', formatHex(CREATE));
    const xml = await run(['ttlv', 'decode', hexFile, '--to', 'xml']);
    expect(xml.code).toBe(0);
    expect(xml.stdout.toString()).toContain('<CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>');
    const bin = await run(['ttlv', 'encode', '--to', 'binary'], xml.stdout);
    expect(bin.code).toBe(0);
    expect(bin.stdout.toString('hex')).toBe(CREATE.toString('hex'));

    const json = await run(['ttlv', 'decode', file('create.bin', CREATE), '--from', 'binary', '--to', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout.toString()).tag).toBe('RequestMessage');
    const hex = await run(['ttlv', 'encode', file('create.json', json.stdout), '--to', 'hex']);
    expect(hex.code).toBe(0);
    expect(parseHexDump(hex.stdout.toString()).toString('hex')).toBe(CREATE.toString('hex'));
  });

  it('decodes a raw binary file to hex and back to binary', async () => {
    const hex = await run(['ttlv', 'decode', file('dv.bin', DV_BYTES), '--to', 'hex']);
    expect(hex.code).toBe(0);
    const bin = await run(['ttlv', 'decode', '--to', 'binary'], hex.stdout);
    expect(bin.code).toBe(0);
    expect(bin.stdout.equals(DV_BYTES)).toBe(true);
  });

  it('bad TTLV: exit 1, stderr names the problem, the byte offset and the path', async () => {
    const r = await run(['ttlv', 'decode'], '42 00 78 01 00 00 00 10  42 00 2A 02 00 00 00 08 00 00 01 00 00 00 00 00');
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('Integer length must be 4, got 8');
    expect(r.stderr).toContain('byte offset 8');
    expect(r.stderr).toContain('RequestMessage/CryptographicLength');
  });

  it('bad hex text: exit 1 with the line and column', async () => {
    const r = await run(['ttlv', 'decode', '--from', 'hex'], '42 00 78 01\n00 00 00 zz\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a hex digit: "z".*line 2, column 10/);
  });

  it('bad XML on encode: exit 1 with the line and column', async () => {
    const r = await run(['ttlv', 'encode'], '<RequestMessage>\n  <BatchCount type="Integer" value="one"/>\n</RequestMessage>\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kmipctl ttlv encode: invalid xml: .*"one".*line 2/);
  });

  it('an unsubstituted placeholder cannot be encoded: exit 1', async () => {
    const r = await run(['ttlv', 'encode', '--to', 'hex'], '<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot encode');
    expect(r.stderr).toContain('UNIQUE_IDENTIFIER_0');
  });

  it('encode refuses binary input and points to decode: exit 1', async () => {
    const r = await run(['ttlv', 'encode'], DV_BYTES);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('kmipctl ttlv decode');
  });

  it('usage errors exit 2: bad --to, unknown command, missing file is 1', async () => {
    const badTo = await run(['ttlv', 'decode', '--to', 'yaml'], DISCOVER_VERSIONS_DUMP);
    const unknown = await run(['ttlv', 'frobnicate']);
    const missing = await run(['ttlv', 'decode', join(dir, 'does-not-exist.bin')]);
    expect(badTo.code).toBe(2);
    expect(badTo.stderr).toContain("argument 'yaml' is invalid");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
  });

  it('--help exits 0 and lists the ttlv commands', async () => {
    const r = await run(['ttlv', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/decode[\s\S]*encode/);
  });
});
