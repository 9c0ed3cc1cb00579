// Issue 14 §1: bin/ runs the compiled dist/, but the tests judge the sources of the
// checkout: a dist/ that is missing or older than src/ must never make a test pass or fail.
// Every test, benchmark and script that spawns the CLI goes through test/helpers/cli.ts
// (scripts/dev-bin/, tsx on src/). This file keeps it so: nothing but the files listed in
// MEANT_FOR_THE_COMPILED_PROGRAM (the check of the fresh-built package, the deployment
// recipes, the start-up benchmark) names bin/'s launchers or dist/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KMIPCTL, OPENKCM } from '../helpers/cli.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** What points at the compiled program: bin/openkcm.js, join(…, 'bin', 'kmipctl.js'), '…/dist/…', 'dist'. */
const COMPILED_REFERENCES: RegExp[] = [
  /(?<![\w-])bin\/(openkcm|kmipctl)\b/,
  /['"`]bin['"`]\s*,\s*['"`](openkcm|kmipctl)/,
  /['"`/.]dist\//,
  /['"`]dist['"`]/,
];

/** Blanks block comments and whole-line or trailing `//` comments (keeping line numbers), not `://` in URLs. */
function withoutComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/(^|[\s;,)}])\/\/.*$/gm, '$1');
}

/** Files that name the compiled program on purpose, and why. */
const MEANT_FOR_THE_COMPILED_PROGRAM: Record<string, string> = {
  'test/build/': 'checks the compiled package, built fresh from the sources',
  'test/deploy/': 'checks the deployment recipes, which run the installed bin/ and dist/',
  'bench/startup.ts': 'measures the start-up of the compiled launchers against tsx on the sources',
  'scripts/build-help.mjs': 'the last step of `npm run build`: renders kmipctl\'s help pages from the compiled program',
};

export function compiledReferences(source: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  withoutComments(source).split('\n').forEach((text, i) => {
    if (COMPILED_REFERENCES.some((re) => re.test(text))) out.push({ line: i + 1, text: text.trim() });
  });
  return out;
}

function listCode(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listCode(p));
    else if (/\.(m|c)?[jt]s$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

describe('tests run the sources, never the compiled dist/ (issue 14 §1)', () => {
  it('the scanner sees a spawn of bin/ or a dist/ path, and not a comment that mentions them', () => {
    expect(compiledReferences(`const BIN = join(root, 'bin', 'openkcm.js');`)).toHaveLength(1);
    expect(compiledReferences(`spawn(process.execPath, ['bin/kmipctl.js', '--help'])`)).toHaveLength(1);
    expect(compiledReferences(`await import('../../dist/cli/openkcm.js')`)).toHaveLength(1);
    expect(compiledReferences(`const out = resolve(root, "dist");`)).toHaveLength(1);
    expect(compiledReferences(`// bin/openkcm.js runs dist/ instead\nconst distance = 3; // not 'dist/'\n/* bin/kmipctl.js */`)).toEqual([]);
    expect(compiledReferences(`const DEV = new URL('../../scripts/dev-bin/openkcm.js', import.meta.url);`)).toEqual([]);
  });

  it('no test, benchmark, conformance or script file names bin/ launchers or dist/, except those meant for the compiled program', () => {
    const files = ['test', 'bench', 'conformance', 'scripts']
      .flatMap((d) => listCode(join(root, d)))
      .map((p) => relative(root, p).split(sep).join('/'))
      .filter((p) => !Object.keys(MEANT_FOR_THE_COMPILED_PROGRAM).some((allowed) => p === allowed || p.startsWith(allowed)));
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap((f) => compiledReferences(readFileSync(join(root, f), 'utf8')).map((r) => `${f}:${r.line}  ${r.text}`));
    expect(found, 'spawn the CLI through test/helpers/cli.ts (OPENKCM, KMIPCTL) instead').toEqual([]);
  });

  it('the launchers the tests spawn load src/ through tsx', () => {
    for (const [launcher, program] of [[OPENKCM, 'openkcm'], [KMIPCTL, 'kmipctl']] as const) {
      const text = readFileSync(launcher, 'utf8');
      expect(text).toContain(`from 'tsx/esm/api'`);
      expect(text).toContain(`import('../../src/cli/${program}.ts')`);
    }
  });
});
