// The metrics listener of the server programs (issue 14 §2), started the same way by
// `openkcm serve` (one process, or the primary of several workers), `openkcm core`,
// `openkcm cmk` and `openkcm gateway`. Loaded only when metrics.listen is set, so that
// prom-client costs nothing to a server without it nor to `--help`.
import type { Logger } from 'pino';
import type { OpenKcmConfig } from '../config/index.ts';
import type { MetricsComponent, OpenKcmMetrics } from '../server/metrics.ts';
import type { Readiness, RunningMetricsServer } from '../server/metrics-http.ts';

/** A process's metric families, with every L1 provider call of the process reported into them. */
export async function openMetrics(component: MetricsComponent): Promise<OpenKcmMetrics> {
  const { OpenKcmMetrics } = await import('../server/metrics.ts');
  const { observeL1Calls } = await import('../hsm/observe.ts');
  const metrics = new OpenKcmMetrics({ component });
  observeL1Calls((provider, operation, outcome, seconds) => metrics.l1Call(provider, operation, outcome, seconds));
  return metrics;
}

/**
 * A worker of `serve --workers N`: its registry answers the primary's aggregation requests
 * (prom-client's AggregatorRegistry listens on the worker's IPC channel once constructed).
 */
export async function answerClusterScrapes(metrics: OpenKcmMetrics): Promise<void> {
  const { AggregatorRegistry } = await import('prom-client');
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
}

/** The listener of config.metrics (listen must be set), TLS as configured. */
export async function startMetricsListener(
  config: Pick<OpenKcmConfig, 'metrics' | 'tls'>, log: Logger,
  metrics: () => Promise<{ contentType: string; body: string }>, readiness: () => Promise<Readiness>,
): Promise<RunningMetricsServer> {
  const { startMetricsServer } = await import('../server/metrics-http.ts');
  const listen = config.metrics.listen;
  if (listen === undefined) throw new Error('metrics.listen is not set');
  return startMetricsServer({
    listen, logger: log, metrics, readiness,
    ...(config.metrics.tls ? { tls: { ...config.tls, clientCertificate: config.metrics.clientCertificate } } : {}),
  });
}

/** The banner line of a metrics listener. */
export function metricsBanner(m: RunningMetricsServer): string {
  const a = m.address();
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `Metrics: ${m.scheme}://${host}:${a.port}/metrics (health: /healthz, /readyz)\n\n`;
}
