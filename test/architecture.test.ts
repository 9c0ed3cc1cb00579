// Architecture test: imports under src/ flow one way (DESIGN.md §5, issue 2 §1). Every
// static `import … from`, side-effect `import '…'`, `export … from` and literal dynamic
// `import('…')` in src/**/*.ts is mapped to its module (the first folder under src/) and
// checked against the table below. A failure lists every offending import with file and line.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// The allowed-imports table (DESIGN.md §5).
//
//   module       may import (value or type)                           type-only   npm packages
//   ttlv         —                                                                 yes
//   kmip         ttlv                                                              yes
//   crypto       —                                                                 no: node:* only
//   hsm          crypto, client, kmip, ttlv                                        yes
//   store        kmip, ttlv                                                        yes
//   policy       kmip, ttlv                                                        yes
//   audit        kmip, ttlv, store, crypto                                         yes
//   hierarchy    hsm, store, crypto, kmip, ttlv                                    yes
//   operations   kmip, policy, hierarchy, store, crypto, ttlv, log     hsm         yes
//   client       ttlv, kmip                                                        yes
//   link         store, kmip, ttlv, audit, crypto                      policy      yes
//   gateway      client, crypto, ttlv, kmip                                        yes  (never hierarchy, hsm, store)
//   server       every module except cli                                           yes
//   cli          every module                                                      yes
//   config, log  — (leaves)                                                        yes
//
// `log` may be imported only by operations, server and cli; `config` only by server and cli
// (both follow from the rows above).
//
// One exception, for every module: the spec constant tables — src/ttlv/generated/** and
// the named limits in src/ttlv/limits.ts. The project rule "never retype a tag or
// enumeration number: import them" needs them everywhere, they import nothing of src/
// themselves, so they cannot form a cycle. Nothing else of ttlv is covered by it.
// crypto may also take the TTLV item *types* (`import type`): key-format conversion
// builds Transparent* key structures, and a type import carries no code.
// ---------------------------------------------------------------------------

export type ModuleName =
  | 'ttlv' | 'kmip' | 'crypto' | 'hsm' | 'store' | 'policy' | 'audit' | 'hierarchy'
  | 'operations' | 'client' | 'link' | 'gateway' | 'server' | 'cli' | 'config' | 'log';

interface Rule {
  imports: readonly ModuleName[];
  typeOnly?: readonly ModuleName[];
  /** false: bare specifiers must be node:* builtins. */
  packages: boolean;
}

const ALL: readonly ModuleName[] = ['ttlv', 'kmip', 'crypto', 'hsm', 'store', 'policy', 'audit', 'hierarchy', 'operations', 'client', 'link', 'gateway', 'server', 'cli', 'config', 'log'];

export const ALLOWED: Readonly<Record<ModuleName, Rule>> = {
  ttlv: { imports: [], packages: true },
  kmip: { imports: ['ttlv'], packages: true },
  crypto: { imports: [], typeOnly: ['ttlv'], packages: false },
  // The kmip L1 provider (issue 15) is a KMIP client of the customer's own KMIP server:
  // it drives src/client and builds payloads from kmip/ttlv. client imports only ttlv and
  // kmip, so no cycle back to hsm is possible.
  hsm: { imports: ['crypto', 'client', 'kmip', 'ttlv'], packages: true },
  store: { imports: ['kmip', 'ttlv'], packages: true },
  policy: { imports: ['kmip', 'ttlv'], packages: true },
  audit: { imports: ['kmip', 'ttlv', 'store', 'crypto'], packages: true },
  hierarchy: { imports: ['hsm', 'store', 'crypto', 'kmip', 'ttlv'], packages: true },
  operations: { imports: ['kmip', 'policy', 'hierarchy', 'store', 'crypto', 'ttlv', 'log'], typeOnly: ['hsm'], packages: true },
  client: { imports: ['ttlv', 'kmip'], packages: true },
  // The CMK ⇄ core link (DESIGN.md §5): the wire contract, the CMK's change log and the
  // core's replica of governance; it drives the hierarchy only through what server hands it.
  link: { imports: ['store', 'kmip', 'ttlv', 'audit', 'crypto'], typeOnly: ['policy'], packages: true },
  // The edge holds nothing above L4 (DESIGN.md §1): never hierarchy, hsm or store.
  gateway: { imports: ['client', 'crypto', 'ttlv', 'kmip'], packages: true },
  server: { imports: ALL.filter((m) => m !== 'cli' && m !== 'server'), packages: true },
  cli: { imports: ALL.filter((m) => m !== 'cli'), packages: true },
  config: { imports: [], packages: true },
  log: { imports: [], packages: true },
};

/** Paths (relative to src/, posix) any module may import: spec constants only. */
export function isSharedConstants(srcRelative: string): boolean {
  return srcRelative.startsWith('ttlv/generated/') || srcRelative === 'ttlv/limits.ts';
}

/** Project folders that sit above src/ and must never be imported from it. */
const FORBIDDEN_OUTSIDE = ['test', 'bench', 'conformance', 'scripts', 'bin', 'certs'];

// ---------------------------------------------------------------------------
// Scanner
// ---------------------------------------------------------------------------

export interface FoundImport { specifier: string; typeOnly: boolean; line: number; kind: 'static' | 'side-effect' | 'dynamic' }

/**
 * Blanks comments and template-literal bodies (keeping newlines, so line numbers hold) and
 * leaves quoted strings alone, so that commented-out imports and example code in
 * docstrings are not mistaken for imports. Quoted strings end at a newline, which limits
 * the damage a regex literal containing a quote could do to one line.
 */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  const n = src.length;
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  while (i < n) {
    const c = src[i]!, d = src[i + 1];
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += blank(src.slice(i, stop));
      i = stop;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      out += blank(src.slice(i, stop));
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < n && src[j] !== c && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (c === '`') {
      let j = i + 1;
      while (j < n && src[j] !== '`') j += src[j] === '\\' ? 2 : 1;
      out += '`' + blank(src.slice(i + 1, j)) + (j < n ? '`' : '');
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function findImports(source: string): FoundImport[] {
  const code = stripComments(source);
  const lineAt = (idx: number) => code.slice(0, idx).split('\n').length;
  const found: FoundImport[] = [];
  // import X from '…' | import type {…} from '…' | export * from '…' | export { a, type b } from '…'
  const staticRe = /\b(import|export)\s+(type\s+)?([\w$*{}\s,]*?)\s*from\s*(['"])([^'"\n]+)\4/g;
  for (const m of code.matchAll(staticRe)) {
    const clause = m[3]!.trim();
    let typeOnly = m[2] !== undefined;
    // `import { type A, type B } from` imports no value either.
    const braces = /^\{([\s\S]*)\}$/.exec(clause);
    if (!typeOnly && braces) {
      const names = braces[1]!.split(',').map((s) => s.trim()).filter(Boolean);
      typeOnly = names.length > 0 && names.every((s) => s.startsWith('type '));
    }
    found.push({ specifier: m[5]!, typeOnly, line: lineAt(m.index!), kind: 'static' });
  }
  for (const m of code.matchAll(/(?<![\w$.])import\s*(['"])([^'"\n]+)\1/g)) {
    found.push({ specifier: m[2]!, typeOnly: false, line: lineAt(m.index!), kind: 'side-effect' });
  }
  for (const m of code.matchAll(/(?<![\w$.])import\s*\(\s*(['"`])([^'"`\n]+)\1\s*[,)]/g)) {
    found.push({ specifier: m[2]!, typeOnly: false, line: lineAt(m.index!), kind: 'dynamic' });
  }
  return found;
}

// ---------------------------------------------------------------------------
// Checker
// ---------------------------------------------------------------------------

export interface SourceFile { path: string; source: string } // path relative to the repo root, posix

export interface Violation { file: string; line: number; specifier: string; reason: string }

function moduleOf(srcRelative: string): string {
  const first = srcRelative.split('/')[0]!;
  return srcRelative.includes('/') ? first : '(src root)';
}

export function check(files: SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    const from = moduleOf(posix.relative('src', f.path));
    const rule = (ALLOWED as Record<string, Rule | undefined>)[from];
    for (const imp of findImports(f.source)) {
      const v = (reason: string) => out.push({ file: f.path, line: imp.line, specifier: imp.specifier, reason });
      if (!rule) {
        v(`module '${from}' is not in the allowed-imports table (DESIGN.md §5); add it there and to test/architecture.test.ts`);
        continue;
      }
      const spec = imp.specifier;
      if (!spec.startsWith('.') && !spec.startsWith('/')) {
        if (!rule.packages && !spec.startsWith('node:')) v(`'${from}' may import node:* builtins only, not the package '${spec}'`);
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(f.path), spec));
      if (!target.startsWith('src/')) {
        const top = target.split('/')[0]!;
        if (FORBIDDEN_OUTSIDE.includes(top) || top === '..') v(`src/ must not import from ${top === '..' ? 'outside the project' : top + '/'}`);
        continue;
      }
      const rel = target.slice('src/'.length);
      const to = moduleOf(rel);
      if (to === from || isSharedConstants(rel)) continue;
      if (rule.imports.includes(to as ModuleName)) continue;
      if (imp.typeOnly && rule.typeOnly?.includes(to as ModuleName)) continue;
      const allowed = rule.imports.length ? rule.imports.join(', ') : 'nothing of src/';
      const typeNote = rule.typeOnly?.includes(to as ModuleName) ? ` (types only from '${to}': use \`import type\`)` : '';
      v(`'${from}' may not import '${to}'${typeNote}; '${from}' may import: ${allowed}`);
    }
  }
  return out;
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (/\.(m|c)?tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const format = (vs: Violation[]) => vs.map((x) => `  ${x.file}:${x.line}  '${x.specifier}'  — ${x.reason}`).join('\n');

// ---------------------------------------------------------------------------

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('architecture: import direction (DESIGN.md §5)', () => {
  it('every import under src/ follows the allowed-imports table', () => {
    const files = listTs(join(root, 'src')).map((p) => ({
      path: relative(root, p).split(sep).join('/'),
      source: readFileSync(p, 'utf8'),
    }));
    expect(files.length).toBeGreaterThan(10);
    const violations = check(files);
    expect(violations, `imports against DESIGN.md §5:\n${format(violations)}\n`).toEqual([]);
  });

  it('the table names every folder under src/', () => {
    const dirs = readdirSync(join(root, 'src')).filter((d) => statSync(join(root, 'src', d)).isDirectory());
    expect(dirs.filter((d) => !(d in ALLOWED))).toEqual([]);
  });

  it('has no cycle: the allowed graph itself flows one way', () => {
    const state = new Map<string, 'open' | 'done'>();
    const visit = (m: ModuleName, path: string[]): void => {
      if (state.get(m) === 'done') return;
      if (state.get(m) === 'open') throw new Error(`cycle in the table: ${[...path, m].join(' → ')}`);
      state.set(m, 'open');
      for (const t of [...ALLOWED[m].imports, ...(ALLOWED[m].typeOnly ?? [])]) visit(t, [...path, m]);
      state.set(m, 'done');
    };
    for (const m of ALL) visit(m, []);
  });
});

describe('architecture test self-test: violations are caught', () => {
  const one = (path: string, source: string) => check([{ path, source }]);

  it('catches ttlv importing kmip', () => {
    const v = one('src/ttlv/x.ts', `import { structure } from '../kmip/items.ts';\n`);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ file: 'src/ttlv/x.ts', line: 1, specifier: '../kmip/items.ts' });
    expect(v[0]!.reason).toContain("'ttlv' may not import 'kmip'");
  });

  it('catches multi-line, export-from, side-effect and dynamic imports, with line numbers', () => {
    const v = one('src/kmip/x.ts', [
      `import {`,
      `  encode,`,
      `} from '../ttlv/encode.ts';`, // allowed
      `import {`,
      `  openStore,`,
      `} from '../store/sqlite.ts';`, // line 4
      `export * from '../server/executor.ts';`, // line 7
      `import '../cli/kmipctl.ts';`, // line 8
      `const m = await import('../hsm/pkcs11.ts');`, // line 9
    ].join('\n'));
    expect(v.map((x) => [x.line, x.specifier])).toEqual([
      [4, '../store/sqlite.ts'],
      [7, '../server/executor.ts'],
      [8, '../cli/kmipctl.ts'],
      [9, '../hsm/pkcs11.ts'],
    ]);
  });

  it('allows type-only imports only where the table says so', () => {
    expect(one('src/operations/x.ts', `import type { L1Provider } from '../hsm/types.ts';`)).toEqual([]);
    expect(one('src/operations/x.ts', `import { type L1Provider, type L1Status } from '../hsm/types.ts';`)).toEqual([]);
    const value = one('src/operations/x.ts', `import { L1Provider } from '../hsm/types.ts';`);
    expect(value).toHaveLength(1);
    expect(value[0]!.reason).toContain('use `import type`');
    // Mixed value + type specifiers are a value import.
    expect(one('src/operations/x.ts', `import { type L1Provider, makeHsm } from '../hsm/index.ts';`)).toHaveLength(1);
    // A type-only import is still an import everywhere else: hierarchy must not lean on operations.
    expect(one('src/hierarchy/x.ts', `import type { ObjectRepository } from '../operations/types.ts';`)).toHaveLength(1);
  });

  it('enforces leaves and the log/config rule', () => {
    expect(one('src/config/x.ts', `import { decode } from '../ttlv/decode.ts';`)).toHaveLength(1);
    expect(one('src/log/x.ts', `import { loadConfig } from '../config/index.ts';`)).toHaveLength(1);
    expect(one('src/store/x.ts', `import { logger } from '../log/index.ts';`)).toHaveLength(1);
    expect(one('src/hierarchy/x.ts', `import { loadConfig } from '../config/index.ts';`)).toHaveLength(1);
    expect(one('src/operations/x.ts', `import { logger } from '../log/index.ts';`)).toEqual([]);
    expect(one('src/server/x.ts', `import { loadConfig } from '../config/index.ts';\nimport { logger } from '../log/index.ts';`)).toEqual([]);
    expect(one('src/server/x.ts', `import { main } from '../cli/kmipctl.ts';`)).toHaveLength(1);
  });

  it('crypto may import node builtins but no npm package', () => {
    expect(one('src/crypto/x.ts', `import { createCipheriv } from 'node:crypto';`)).toEqual([]);
    expect(one('src/crypto/x.ts', `import forge from 'node-forge';`)).toHaveLength(1);
    expect(one('src/hsm/x.ts', `const p = await import('pkcs11js');`)).toEqual([]);
  });

  it('lets every module read the spec constant tables, and nothing else of ttlv', () => {
    expect(one('src/crypto/x.ts', `import { Tag } from '../ttlv/generated/tags.ts';`)).toEqual([]);
    expect(one('src/config/x.ts', `import { DEFAULT_MAX_MESSAGE_SIZE } from '../ttlv/limits.ts';`)).toEqual([]);
    expect(one('src/crypto/x.ts', `import { decode } from '../ttlv/decode.ts';`)).toHaveLength(1);
  });

  it('refuses imports of test/, bench/, scripts/ … and files outside any module', () => {
    expect(one('src/kmip/x.ts', `import { HOSTILE } from '../../test/ttlv/hostile-catalogue.ts';`)).toHaveLength(1);
    expect(one('src/ttlv/x.ts', `import { generate } from '../../scripts/gen-tables.ts';`)).toHaveLength(1);
    expect(one('src/main.ts', `import { x } from './kmip/items.ts';`)[0]!.reason).toContain('not in the allowed-imports table');
  });

  it('ignores imports inside comments and template literals', () => {
    const src = [
      `// import { x } from '../server/executor.ts';`,
      `/* export * from '../cli/kmipctl.ts'; */`,
      '/** Example:\n * import { decode } from "../ttlv/decode.ts"\n */',
      'const help = `import { a } from \'../cli/x.ts\'`;',
      `const url = 'https://example.org/'; // a string with // inside is not a comment`,
      `import { Tag } from '../ttlv/generated/tags.ts';`,
    ].join('\n');
    expect(findImports(src).map((i) => i.specifier)).toEqual(['../ttlv/generated/tags.ts']);
    expect(one('src/crypto/x.ts', src)).toEqual([]);
  });
});
