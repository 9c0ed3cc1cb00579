// `kmipctl ttlv decode` / `kmipctl ttlv encode` (issue 2 §6): read a KMIP message as binary
// TTLV (raw, or a hex dump pasted from a packet capture), KMIP XML or KMIP JSON, and write it
// in any of those forms or as an indented tree an operator can read.
//
// The conversion functions below are pure (bytes/text in, bytes/text out, TtlvError on bad
// input); only the command actions touch files, stdin, stdout and the exit code. The
// commands themselves are declared in ttlv-commands.ts, which loads this file (and the
// codec with its tables) only when one of them runs: `kmipctl --help` does not parse them.
import { readFileSync } from 'node:fs';
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { TtlvError } from '../ttlv/errors.ts';
import { fromXml, toXml } from '../ttlv/xml.ts';
import { fromJson, toJson } from '../ttlv/json.ts';
import { domainInContext, formatScalar, hexTag, siblingAttributeName, tagName } from '../ttlv/names.ts';
import type { TtlvItem } from '../ttlv/types.ts';

import { UsageError, type InputFormat, type Io, type OutputFormat } from './ttlv-commands.ts';

export { INPUT_FORMATS, OUTPUT_FORMATS, UsageError, type InputFormat, type OutputFormat } from './ttlv-commands.ts';

// ---------------------------------------------------------------------------------------
// Input

/**
 * Guesses the input format. XML starts with `<`, JSON with `{` or `[` (after white space
 * or a BOM); a hex dump is printable text made of hex digits, offsets and separators;
 * anything else is raw binary. Binary TTLV cannot be mistaken for text: its 4th byte is a
 * type code 0x01–0x0B, a control character.
 */
export function detectFormat(data: Buffer): InputFormat {
  let i = 0;
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < data.length && (data[i] === 0x20 || data[i] === 0x09 || data[i] === 0x0a || data[i] === 0x0d)) i++;
  const first = data[i];
  for (let j = i; j < data.length; j++) {
    const c = data[j]!;
    const printable = (c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d;
    // XML and JSON may carry UTF-8 text; a hex dump is plain ASCII.
    if (!printable && (c < 0x80 || (first !== 0x3c && first !== 0x7b && first !== 0x5b))) return 'binary';
  }
  if (first === 0x3c) return 'xml';
  if (first === 0x7b || first === 0x5b) return 'json';
  return 'hex';
}

const isHexToken = (t: string) => /^(?:[0-9a-fA-F]{2})+$/.test(t);

/**
 * Hex text → bytes. Accepts plain hex with any white space, `0x` prefixes and `,` `:` `|`
 * separators ("42 00 78 01", "0x42,0x00", "42:00:78"), and the offset-prefixed dumps of
 * xxd, `hexdump -C`, od -A x -t x1 and Wireshark's "Copy as Hex Dump" (offset column first,
 * ASCII column last). A dump is recognised by its first token being offset 0.
 * Errors are TtlvError('SYNTAX') with the character offset of the bad text.
 */
export function parseHexDump(text: string): Buffer {
  const lines = text.split('\n');
  const firstToken = /^\s*(\S+)/.exec(text)?.[1] ?? '';
  const isDump = /^(?:0x)?0{4,8}:?$/i.test(firstToken) && lines.filter((l) => l.trim()).length > 0 &&
    lines.every((l) => !l.trim() || /^\s*(?:0x)?[0-9a-fA-F]{4,8}:?(?:\s|$)/.test(l));
  return isDump ? parseOffsetDump(lines) : parsePlainHex(text);
}

function parsePlainHex(text: string): Buffer {
  const bytes: number[] = [];
  for (const m of text.matchAll(/[^\s,:|;]+/g)) {
    const token = m[0];
    const prefixed = /^0[xX]/.test(token) && token.length > 2;
    const digits = prefixed ? token.slice(2) : token;
    const bad = /[^0-9a-fA-F]/.exec(digits);
    if (bad) {
      throw new TtlvError('SYNTAX', `not a hex digit: ${JSON.stringify(bad[0])} in ${JSON.stringify(token)}`, m.index! + (prefixed ? 2 : 0) + bad.index, '');
    }
    if (digits.length % 2 !== 0) {
      throw new TtlvError('SYNTAX', `odd number of hex digits in ${JSON.stringify(token)} (each byte is two digits)`, m.index!, '');
    }
    for (let i = 0; i < digits.length; i += 2) bytes.push(parseInt(digits.slice(i, i + 2), 16));
  }
  return Buffer.from(bytes);
}

function parseOffsetDump(lines: string[]): Buffer {
  interface Row { offset: number; tokens: string[]; start: number }
  const rows: Row[] = [];
  let pos = 0;
  for (const raw of lines) {
    const lineStart = pos;
    pos += raw.length + 1;
    // `hexdump -C` puts the ASCII column between bars; drop it before tokenising.
    const line = raw.replace(/\|.*\|\s*$/, '');
    const m = /^\s*(?:0x)?([0-9a-fA-F]{4,8}):?/.exec(line);
    if (!m) continue;
    rows.push({ offset: parseInt(m[1]!, 16), tokens: line.slice(m[0].length).trim().split(/\s+/).filter(Boolean), start: lineStart });
  }
  const out: number[] = [];
  let width = 16;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    if (row.offset !== out.length) {
      // A trailing offset-only line (xxd -r style, od's final line) just states the total.
      if (row.tokens.length === 0 && row.offset <= out.length) continue;
      throw new TtlvError('SYNTAX', `dump line says offset 0x${row.offset.toString(16)} but ${out.length} bytes were read before it`, row.start, '');
    }
    const next = rows[r + 1];
    // The next line's offset says how many bytes this line holds; that keeps an ASCII
    // column such as "cafe" from being read as bytes. The last line holds at most `width`.
    const want = next && next.tokens.length > 0 ? next.offset - row.offset : undefined;
    let got = 0;
    for (const t of row.tokens) {
      if ((want !== undefined && got >= want) || (want === undefined && got >= width) || !isHexToken(t) || t.length > 8) break;
      for (let i = 0; i < t.length; i += 2) out.push(parseInt(t.slice(i, i + 2), 16));
      got += t.length / 2;
    }
    if (want !== undefined && got !== want) {
      throw new TtlvError('SYNTAX', `dump line at offset 0x${row.offset.toString(16)} holds ${got} bytes, the next line's offset implies ${want}`, row.start, '');
    }
    if (r === 0 && want !== undefined) width = want;
  }
  return Buffer.from(out);
}

/**
 * Binary input → items. A capture may hold several messages back to back, so the buffer is
 * cut at each top-level item's length and each piece decoded; error offsets are made
 * absolute (relative to the whole input), so they point into what the operator pasted.
 */
export function decodeStream(data: Buffer): TtlvItem[] {
  if (data.length === 0) throw new TtlvError('TRUNCATED', 'no input bytes', 0, '');
  const items: TtlvItem[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < 8) {
      throw new TtlvError(off === 0 ? 'TRUNCATED' : 'TRAILING_BYTES', `${data.length - off} bytes after the last complete message, too few for an item header`, off, '');
    }
    const len = data.readUInt32BE(off + 4);
    // Every valid item occupies 8 + Length rounded up to a multiple of 8 (s.10.1); an invalid
    // Length is reported by decode() on the piece cut here.
    const end = Math.min(data.length, off + 8 + len + ((8 - (len % 8)) % 8));
    try {
      items.push(decode(data.subarray(off, end), { copyByteStrings: true }));
    } catch (e) {
      if (e instanceof TtlvError && off > 0) throw new TtlvError(e.code, e.detail, e.offset + off, e.path);
      throw e;
    }
    off = end;
  }
  return items;
}

export function readItems(data: Buffer, format: InputFormat): TtlvItem[] {
  switch (format) {
    case 'binary':
      return decodeStream(data);
    case 'hex':
      return decodeStream(parseHexDump(data.toString('latin1')));
    case 'xml':
      return fromXml(stripBom(data.toString('utf8')));
    case 'json': {
      const v = fromJson(stripBom(data.toString('utf8')));
      return Array.isArray(v) ? v : [v];
    }
  }
}

const stripBom = (s: string) => (s.charCodeAt(0) === 0xfeff ? s.slice(1) : s);

// ---------------------------------------------------------------------------------------
// Output

/** Bytes as hex text, 16 per line in two groups of 8: readable, and read back by parseHexDump. */
export function formatHex(bytes: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = [...bytes.subarray(i, i + 16)].map((b) => b.toString(16).toUpperCase().padStart(2, '0'));
    lines.push(row.length > 8 ? `${row.slice(0, 8).join(' ')}  ${row.slice(8).join(' ')}` : row.join(' '));
  }
  return lines.join('\n');
}

const TREE_BYTES_SHOWN = 64;

/**
 * An indented, human-readable dump: one line per item with its tag name (hex tag when it
 * has none), type and value; enumerations and masks by name, byte strings in hex (long
 * ones cut after 64 bytes, with the full length given), date-times in ISO 8601.
 */
export function formatTree(items: TtlvItem[]): string {
  const out: string[] = [];
  const walk = (item: TtlvItem, siblings: readonly TtlvItem[], depth: number) => {
    const pad = '  '.repeat(depth);
    const known = tagName(item.tag) !== hexTag(item.tag);
    const name = known ? tagName(item.tag) : `${hexTag(item.tag)} (extension tag)`;
    if (item.type === 'Structure') {
      out.push(`${pad}${name}  Structure${item.value.length === 0 ? '  (empty)' : ''}`);
      for (const c of item.value) walk(c, item.value, depth + 1);
      return;
    }
    out.push(`${pad}${name}  ${item.type}  ${treeValue(item, siblings)}`);
  };
  items.forEach((item, i) => {
    if (items.length > 1) out.push(`# message ${i + 1} of ${items.length}`);
    walk(item, items, 0);
  });
  return out.join('\n');
}

function treeValue(item: Exclude<TtlvItem, { type: 'Structure' }>, siblings: readonly TtlvItem[]): string {
  const domain = domainInContext(item.tag, siblingAttributeName(siblings));
  switch (item.type) {
    case 'TextString':
      return JSON.stringify(item.value);
    case 'ByteString': {
      const v = item.value;
      const shown = v.subarray(0, TREE_BYTES_SHOWN).toString('hex').toUpperCase();
      return v.length > TREE_BYTES_SHOWN ? `${shown}… (${v.length} bytes)` : `${shown || '(empty)'}${v.length ? ` (${v.length} bytes)` : ''}`;
    }
    case 'Enumeration': {
      const text = formatScalar(item, domain, { maskSeparator: ' | ', bigIntegerPrefix: '0x' });
      return text.startsWith('0x') ? text : `${text} (0x${item.value.toString(16).toUpperCase().padStart(8, '0')})`;
    }
    case 'Integer':
      if (domain?.kind === 'mask') return `${formatScalar(item, domain, { maskSeparator: ' | ', bigIntegerPrefix: '0x' })} (0x${(item.value >>> 0).toString(16).toUpperCase()})`;
      return String(item.value);
    case 'BigInteger':
      return `${item.value} (0x${formatScalar(item, domain, { maskSeparator: ' ', bigIntegerPrefix: '' }).toUpperCase()})`;
    case 'DateTime':
    case 'DateTimeExtended':
      return `${formatScalar(item, domain, { maskSeparator: ' ', bigIntegerPrefix: '' })} (${item.value})`;
    case 'Interval':
      return `${item.value} s`;
    default:
      return formatScalar(item, domain, { maskSeparator: ' ', bigIntegerPrefix: '' });
  }
}

export function writeItems(items: TtlvItem[], format: OutputFormat): Buffer {
  switch (format) {
    case 'binary':
      return Buffer.concat(items.map((i) => encode(i)));
    case 'hex':
      return Buffer.from(items.map((i) => formatHex(encode(i))).join('\n\n') + '\n');
    case 'xml':
      return Buffer.from(toXml(items.length === 1 ? items[0]! : items, { indent: '  ' }).replace(/\n?$/, '\n'));
    case 'json':
      return Buffer.from(toJson(items.length === 1 ? items[0]! : items, { indent: 2 }) + '\n');
    case 'tree':
      return Buffer.from(formatTree(items) + '\n');
  }
}

// ---------------------------------------------------------------------------------------
// Error text

/** Where a TtlvError points, in the words of the input: byte offset, or line and column of text. */
export function describeError(e: TtlvError, format: InputFormat, input: Buffer): string {
  let where: string;
  if (format === 'xml' || format === 'json' || (format === 'hex' && e.code === 'SYNTAX')) {
    const text = stripBom(input.toString(format === 'hex' ? 'latin1' : 'utf8'));
    const before = text.slice(0, e.offset);
    const line = before.split('\n').length;
    const col = e.offset - before.lastIndexOf('\n');
    where = `character offset ${e.offset} (line ${line}, column ${col})`;
  } else {
    where = `byte offset ${e.offset} (0x${e.offset.toString(16).toUpperCase()})${format === 'hex' ? ' of the decoded bytes' : ''}`;
  }
  return `${e.detail} at ${where}${e.path ? ` in ${e.path}` : ''} [${e.code}]`;
}

// ---------------------------------------------------------------------------------------
// Commands

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) throw new UsageError('no input: give a file, or pipe the message to stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const processIo: Io = {
  async readInput(file) {
    if (file === undefined || file === '-') return readStdin();
    try {
      return readFileSync(file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new InputError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    }
  },
  write: (data) => void process.stdout.write(data),
  error: (text) => void process.stderr.write(text + '\n'),
  // Setting exitCode (not calling exit) lets stdout drain first.
  setExitCode: (code) => { process.exitCode = code; },
};

class InputError extends Error {}

export interface ConvertOptions { from?: InputFormat; to?: OutputFormat }

export async function runConvert(command: 'decode' | 'encode', file: string | undefined, opts: ConvertOptions, io: Io): Promise<void> {
  const label = `kmipctl ttlv ${command}`;
  let input: Buffer | undefined;
  let format: InputFormat | undefined;
  try {
    input = await io.readInput(file);
    format = opts.from ?? detectFormat(input);
    if (command === 'encode' && format !== 'xml' && format !== 'json') {
      throw new InputError(`encode reads KMIP XML or JSON, but the input looks like ${format === 'hex' ? 'a hex dump' : 'binary TTLV'}; use \`kmipctl ttlv decode\``);
    }
    const items = readItems(input, format);
    if (items.length === 0) throw new InputError('the input holds no KMIP item');
    io.write(writeItems(items, opts.to ?? (command === 'encode' ? 'binary' : 'tree')));
  } catch (e) {
    if (e instanceof UsageError) {
      io.error(`${label}: ${e.message}`);
      io.setExitCode(2);
    } else if (e instanceof TtlvError) {
      const what = command === 'encode' && format !== undefined && e.code === 'PLACEHOLDER' ? 'cannot encode' : `invalid ${format ?? 'input'}`;
      io.error(`${label}: ${what}: ${describeError(e, format ?? 'binary', input ?? Buffer.alloc(0))}`);
      io.setExitCode(1);
    } else if (e instanceof InputError) {
      io.error(`${label}: ${e.message}`);
      io.setExitCode(1);
    } else {
      throw e;
    }
  }
}
