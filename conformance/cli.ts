// `npm run conformance -- [folder] [options]`: replays the OASIS KMIP vectors below a folder
// (default: the repository's copy, spec/kmip-vectors).
// See conformance/README.md for the options, the gate and the comparison rules.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import {
  byCase, inProcessTransports, loadChains, remoteHttpsTransport, loadSkipList, markdownReport, naturalCompare, remoteTransport, runFolder, summaryTable,
  type FileResult, type TransportFactory,
} from './runner.ts';

const here = dirname(fileURLToPath(import.meta.url));

interface Gate {
  description: string;
  files: string[];
}

async function readGate(path: string): Promise<Gate | undefined> {
  if (!existsSync(path)) return undefined;
  const g = JSON.parse(await readFile(path, 'utf8')) as Partial<Gate>;
  if (!Array.isArray(g.files) || g.files.some((f) => typeof f !== 'string')) throw new Error(`${path}: expected {"files": ["<path relative to the folder>", …]}`);
  return { description: g.description ?? '', files: g.files };
}

function parseTarget(v: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError('expected host:port');
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

function line(r: FileResult): string {
  const mark = r.status === 'pass' ? 'PASS' : r.status === 'fail' ? 'FAIL' : 'SKIP';
  return `${mark}  ${r.file}  ${r.detail}${r.status !== 'skip' ? `  [${r.ms} ms]` : ''}`;
}

/** The OASIS vectors kept in the repository (spec/kmip-vectors/README.md). */
const DEFAULT_VECTORS = join(here, '..', 'spec', 'kmip-vectors');

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('conformance')
    .description('Replay OASIS KMIP test-vector files (XML) against OpenKCM and compare the responses')
    .argument('[folder]', 'folder of vector files (searched recursively), or one file', DEFAULT_VECTORS)
    .option('--json <file>', 'write {"files":[{file,status,detail}],"summary":{…}} to this file')
    .option('--report <file>', 'write a Markdown pass table (conformance/REPORT.md)')
    .option('--target <host:port>', 'replay against a running server over mutual TLS instead of in-process', parseTarget)
    .option('--https-target <host:port>', 'with --target: the server\'s KMIP over HTTPS address (https.listen), for the MSGENC-HTTPS cases', parseTarget)
    .option('--certs <dir>', 'with --target: directory holding ca.crt, client.crt, client.key (the dev PKI layout)')
    .option('--skip <file>', 'skip list', join(here, 'skip.json'))
    .option('--chains <file>', 'files that continue another file\'s state', join(here, 'chains.json'))
    .option('--gate <file>', 'fail only when a file listed in this gate fails (CI while operations are still landing)')
    .option('--update-gate', 'add every file that passes now to the gate file (the gate only grows)')
    .option('--only <text>', 'replay only files whose path contains this text')
    .option('--no-encodings', 'do not check the XML/JSON round trip of each request')
    .option('--timeout <ms>', 'per-request timeout', (v) => Number(v), 30_000)
    .option('-q, --quiet', 'print failures and the summary only')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    return (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const opts = program.opts<{
    json?: string; report?: string; chains: string; target?: { host: string; port: number }; httpsTarget?: { host: string; port: number }; certs?: string; skip: string; gate?: string;
    updateGate?: boolean; only?: string; encodings: boolean; timeout: number; quiet?: boolean;
  }>();
  const folder = resolve(program.args[0] ?? DEFAULT_VECTORS);
  if (!existsSync(folder)) {
    console.error(`conformance: ${folder} does not exist`);
    return 2;
  }
  if (opts.updateGate && !opts.gate) {
    console.error('conformance: --update-gate needs --gate FILE');
    return 2;
  }
  // The MSGENC cases go over a real HTTPS listener in their encoding, the Suite B cases over
  // TLS restricted to their profile, every other case over TTLV (runner.ts: transportOfCase).
  let transport: TransportFactory = byCase(inProcessTransports);
  if (opts.httpsTarget && !opts.target) {
    console.error('conformance: --https-target goes with --target (the same running server)');
    return 2;
  }
  if (opts.target) {
    if (!opts.certs) {
      console.error('conformance: --target needs --certs DIR (ca.crt, client.crt, client.key)');
      return 2;
    }
    const h = opts.httpsTarget;
    const certs = resolve(opts.certs);
    const ttlv = remoteTransport(opts.target.host, opts.target.port, certs);
    transport = byCase({
      ttlv,
      https: (encoding) => h
        ? remoteHttpsTransport(h.host, h.port, certs, encoding)
        : async () => { throw new Error('this case exercises KMIP over HTTPS: give the server\'s https.listen address with --https-target HOST:PORT'); },
      // A running server's TLS profile is its own configuration: the case runs over --target.
      suiteB: () => ttlv,
    });
    console.log(`replaying against ${opts.target.host}:${opts.target.port} over mutual TLS${h ? ` (MSGENC-HTTPS cases: https://${h.host}:${h.port}/kmip)` : ''} (one shared store: names used by one file stay visible to the next)`);
  }
  const skip = await loadSkipList(opts.skip);
  const chains = await loadChains(opts.chains);
  const gate = opts.gate ? await readGate(opts.gate) : undefined;

  const { files, summary } = await runFolder(folder, {
    transport,
    skip,
    chains,
    timeoutMs: opts.timeout,
    checkEncodings: opts.encodings,
    onResult: (r) => {
      if (!opts.quiet || r.status === 'fail') console.log(line(r));
    },
    ...(opts.only ? { filter: opts.only } : {}),
  });

  console.log('');
  console.log(summaryTable(summary));
  console.log(`\n${summary.pass} pass, ${summary.fail} fail, ${summary.skip} skipped (${summary.total} files)`);

  if (opts.json) {
    const json = {
      files: files.map((f) => ({ file: f.file, status: f.status, detail: f.detail })),
      summary: { total: summary.total, pass: summary.pass, fail: summary.fail, skip: summary.skip, byVersion: summary.byVersion, byFamily: summary.byFamily },
    };
    await writeFile(opts.json, JSON.stringify(json, null, 2) + '\n');
  }
  if (opts.report) await writeFile(opts.report, markdownReport(files, summary));

  const failed = new Set(files.filter((f) => f.status === 'fail').map((f) => f.file));
  if (opts.gate) {
    let gated = gate?.files ?? [];
    const present = new Set(files.map((f) => f.file));
    // A gated file that was not replayed (renamed, or outside --only) cannot be vouched for.
    if (opts.updateGate) {
      const next = new Set(gated.filter((f) => present.has(f) || opts.only));
      for (const f of files) if (f.status === 'pass') next.add(f.file);
      const added = [...next].filter((f) => !gated.includes(f));
      await writeFile(
        opts.gate,
        JSON.stringify(
          {
            description:
              'Vector files (relative to spec/kmip-vectors) that must pass in CI. Regenerate with `npm run conformance -- --gate conformance/gate.json --update-gate` when operations land; files are only ever added.',
            files: [...next].sort(naturalCompare),
          },
          null,
          2,
        ) + '\n',
      );
      console.log(`gate ${opts.gate}: ${next.size} file(s), ${added.length} added`);
      gated = [...next];
    }
    const missing = opts.only ? [] : gated.filter((f) => !present.has(f));
    const broken = gated.filter((f) => failed.has(f));
    for (const f of missing) console.log(`GATE  ${f}: listed in the gate but not found under ${folder}`);
    for (const f of broken) console.log(`GATE  ${f}: gated file failed`);
    if (broken.length || missing.length) {
      console.log(`conformance gate FAILED: ${broken.length} gated file(s) failing, ${missing.length} missing`);
      return 1;
    }
    console.log(`conformance gate passed (${gated.length} gated file(s); ${failed.size} ungated failure(s) tolerated)`);
    return 0;
  }
  // `npm run conformance:report` documents the current state, failures included: writing the
  // report is its success. Every other run without a gate fails on any failing file.
  if (opts.report) return 0;
  return failed.size > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(`conformance: ${(e as Error).stack ?? e}`);
    process.exitCode = 2;
  },
);
