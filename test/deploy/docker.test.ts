// Issue 14 §5: the container recipe (deploy/docker/Dockerfile). hadolint cannot be installed
// here (not in Debian 12 nor on npm; its binary cannot be downloaded) and there is no Docker
// daemon, so: the Dockerfile language server's validator (dockerfile-utils: instructions,
// flags, arguments; shown to catch a broken file), then the promises of the README checked on
// the parsed instructions: multi-stage, Node 20 slim, compiled in the build stage, only the
// compiled program and production dependencies in the image, a numeric non-root user, an
// exec-form entry point, and a build context that holds every COPY source.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TEXT = readFileSync(join(root, 'deploy', 'docker', 'Dockerfile'), 'utf8');

interface Instruction { keyword: string; args: string; line: number }
interface Stage { from: string; name?: string; body: Instruction[] }

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '', start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf !== '' && line.startsWith('#')) return;
    if (buf === '') start = i + 1;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const m = /^(\S+)\s*(.*)$/.exec(buf)!;
      out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start });
      buf = '';
    }
  });
  return out;
}

function stages(ins: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args)!;
      out.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), body: [] });
    } else out.at(-1)?.body.push(i);
  }
  return out;
}

const errors = (text: string) => validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);

describe('deploy/docker/Dockerfile', () => {
  it('has no error or warning from the Dockerfile validator, which catches a broken file (positive control)', () => {
    expect(errors(TEXT)).toEqual([]);
    const broken = TEXT.replace('COPY --from=build /src/dist', 'COPY --frm=build /src/dist').replace(/^USER .*$/m, 'USER');
    expect(errors(broken).join('\n')).toMatch(/Unknown flag: frm[\s\S]*no arguments|no arguments[\s\S]*Unknown flag: frm/);
  });

  it('builds in one stage and runs from another, both Node 20 slim', () => {
    const s = stages(instructions(TEXT));
    expect(s).toHaveLength(2);
    for (const st of s) expect(st.from).toMatch(/^node:20(\.\d+)*-(bookworm-)?slim$/);
    const build = s[0]!;
    expect(build.name).toBe('build');
    expect(build.body.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n')).toMatch(/npm ci[\s\S]*npm prune --omit=dev/);
  });

  it('puts only the compiled program and its production dependencies in the image, as a numeric non-root user', () => {
    const run = stages(instructions(TEXT))[1]!;
    const copies = run.body.filter((i) => i.keyword === 'COPY');
    expect(copies.every((c) => c.args.startsWith('--from=build '))).toBe(true);
    const sources = copies.map((c) => c.args.split(/\s+/)[1]);
    expect(sources.sort()).toEqual(['/src/bin', '/src/console', '/src/dist', '/src/node_modules', '/src/package.json']);
    expect(run.body.some((i) => i.keyword === 'ADD')).toBe(false);
    const users = run.body.filter((i) => i.keyword === 'USER');
    expect(users.at(-1)!.args).toMatch(/^[1-9]\d*(:\d+)?$/);
    const entry = run.body.find((i) => i.keyword === 'ENTRYPOINT')!;
    expect(JSON.parse(entry.args)).toEqual(['node', '/opt/openkcm/bin/openkcm.js']);
    expect(run.body.find((i) => i.keyword === 'EXPOSE')!.args.split(/\s+/)).toEqual(['5696', '5697']);
  });

  it('copies sources that exist in the build context and that .dockerignore lets through', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const build = stages(instructions(TEXT))[0]!;
    const sources = build.body.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.build.json', 'bin', 'src', 'console']));
    for (const src of sources) {
      expect(existsSync(join(root, src)), src).toBe(true);
      expect(ignore.some((p) => p === src || src.startsWith(`${p}/`)), `${src} is excluded by .dockerignore`).toBe(false);
    }
    // What the build needs besides: tsconfig.build.json extends tsconfig.json.
    expect(JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')).extends).toBe('./tsconfig.json');
    expect(sources).toContain('tsconfig.json');
  });
});
