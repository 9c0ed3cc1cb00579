// Reading the Prometheus text of /metrics in tests (test/server/metrics.test.ts, test/deploy/grafana.test.ts).

/** Families the issue lists, as the exposition names them (README "Metrics and health"). */
export const REQUIRED_FAMILIES = [
  'openkcm_kmip_requests_total', 'openkcm_kmip_request_duration_seconds', 'openkcm_kmip_connections_open',
  'openkcm_tls_handshake_failures_total', 'openkcm_kmip_batch_items', 'openkcm_tenants', 'openkcm_l1_calls_total',
  'openkcm_l1_call_duration_seconds', 'openkcm_audit_queue_depth', 'openkcm_audit_commit_duration_seconds',
  'openkcm_audit_exporter_lag_records', 'openkcm_store_commit_duration_seconds', 'process_cpu_seconds_total',
  'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
];

/** Sample values of one family, by their label text (`{a="b",…}` or '' without labels). */
export function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}
