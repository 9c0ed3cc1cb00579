// The `kmipctl ttlv` commands as declared to commander (issue 2 §6). Their work is in
// ttlv.ts, imported when a command runs: the codec, the XML/JSON encodings and the spec's
// name tables are most of what kmipctl would otherwise parse at every start (issue 14 §1:
// `kmipctl --help` under 150 ms).
// commander's types only: kmipctl.ts loads commander itself (through require(), see there),
// and options are made with the command's createOption().
import type { Command } from 'commander';

export const INPUT_FORMATS = ['hex', 'binary', 'xml', 'json'] as const;
export const OUTPUT_FORMATS = ['tree', 'xml', 'json', 'hex', 'binary'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A mistake in how the command was called (exit code 2), as opposed to bad input data (1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Where a command reads and writes (tests pass their own; default: files, stdin, stdout, stderr). */
export interface Io {
  readInput(file: string | undefined): Promise<Buffer>;
  write(data: Buffer): void;
  error(text: string): void;
  setExitCode(code: number): void;
}

/** Adds `ttlv decode` and `ttlv encode` to the kmipctl program. */
export function registerTtlvCommands(program: Command, io?: Io): Command {
  const ttlv = program.command('ttlv').description('convert KMIP messages between binary TTLV, hex dumps, KMIP XML and KMIP JSON');

  const decode = ttlv
    .command('decode')
    .description('read a message (binary, hex dump, XML or JSON) and print it, by default as an indented tree')
    .argument('[file]', 'input file; stdin when absent or "-"');
  decode
    .addOption(decode.createOption('--from <format>', 'input format (detected when absent)').choices([...INPUT_FORMATS]))
    .addOption(decode.createOption('--to <format>', 'output format').choices([...OUTPUT_FORMATS]).default('tree'))
    .addHelpText('after', `
Examples:
  echo '42 00 2A 02 00 00 00 04 00 00 01 00 00 00 00 00' | kmipctl ttlv decode
  kmipctl ttlv decode capture.hex --to xml
  kmipctl ttlv decode request.bin --to json`)
    .action(async (file: string | undefined, opts: { from?: InputFormat; to?: OutputFormat }) => (await import('./ttlv.ts')).runConvert('decode', file, opts, io ?? (await import('./ttlv.ts')).processIo));

  const encode = ttlv
    .command('encode')
    .description('read a message as KMIP XML or JSON and write it as binary TTLV or hex')
    .argument('[file]', 'input file; stdin when absent or "-"');
  encode
    .addOption(encode.createOption('--from <format>', 'input format (detected when absent)').choices(['xml', 'json']))
    .addOption(encode.createOption('--to <format>', 'output format').choices(['binary', 'hex']).default('binary'))
    .addHelpText('after', `
Examples:
  kmipctl ttlv encode request.xml > request.bin
  kmipctl ttlv encode request.json --to hex`)
    .action(async (file: string | undefined, opts: { from?: InputFormat; to?: OutputFormat }) => (await import('./ttlv.ts')).runConvert('encode', file, opts, io ?? (await import('./ttlv.ts')).processIo));

  return ttlv;
}
