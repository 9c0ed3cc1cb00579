// deploy/grafana/openkcm-dashboard.json (issue 14 §2 "a Grafana dashboard built from those
// metrics"): parsed as JSON, every panel query's metric names are taken out of the PromQL
// and each must be a family the server really exposes — read from the exposition text of a
// real OpenKcmMetrics registry (src/server/metrics.ts, process metrics included), histogram
// series (_bucket, _sum, _count) mapped to their family. And every family the issue asks
// for is on at least one panel.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { OpenKcmMetrics } from '../../src/server/metrics.ts';
import { REQUIRED_FAMILIES } from '../helpers/metrics.ts';

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/openkcm-dashboard.json', import.meta.url), 'utf8')) as {
  title: string; uid: string; panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
};

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'le', 'inf', 'nan']);

/** Metric names in a PromQL expression: identifiers outside strings, label matchers, groupings and ranges, not called as functions. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const out: string[] = [];
  for (const m of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] !== undefined) continue; // a function
    if (PROMQL_WORDS.has(m[1]!.toLowerCase())) continue;
    out.push(m[1]!);
  }
  return out;
}

/** Families and their types from a real registry's exposition. */
async function exposedFamilies(): Promise<Map<string, string>> {
  const text = await new OpenKcmMetrics({ component: 'serve' }).text();
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

function familyOf(name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && (families.get(m[1]!) === 'histogram' || families.get(m[1]!) === 'summary')) return m[1]!;
  return undefined;
}

describe('Grafana dashboard', () => {
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('is a dashboard with queries', () => {
    expect(dashboard.title).toBe('OpenKCM');
    expect(exprs.length).toBeGreaterThan(15);
    for (const e of exprs) expect(metricNames(e.expr).length, `${e.panel}: ${e.expr}`).toBeGreaterThan(0);
  });

  it('the PromQL scanner finds metric names and only them', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, operation) (rate(a_b_bucket{x=~"$i",result!="S"}[$__rate_interval])))')).toEqual(['a_b_bucket']);
    expect(metricNames('sum(rate(x_sum[5m])) / sum(rate(x_count[5m]))')).toEqual(['x_sum', 'x_count']);
    expect(metricNames('max by (state) (openkcm_tenants{instance=~"$instance"})')).toEqual(['openkcm_tenants']);
  });

  it('every expression names metric families the server exposes', async () => {
    const families = await exposedFamilies();
    const unknown = exprs.flatMap((e) => metricNames(e.expr).filter((n) => familyOf(n, families) === undefined).map((n) => `${e.panel}: ${n}`));
    expect(unknown).toEqual([]);
    // The instance variable reads a family that exists too.
    const v = dashboard.templating.list.find((x) => x.name === 'instance')!;
    for (const n of metricNames(v.definition!.replace(/^label_values\(/, '').replace(/,.*$/, ''))) expect(familyOf(n, families), n).toBeDefined();
  });

  it('every family the issue asks for is on a panel', async () => {
    const families = await exposedFamilies();
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr).map((n) => familyOf(n, families))));
    const missing = REQUIRED_FAMILIES.filter((f) => f !== 'nodejs_eventloop_lag_seconds' && !used.has(f));
    expect(missing).toEqual([]);
  });
});
