// `openkcm` — the server program (issue 3 §5). The only code that reads argv and env or
// calls process.exit (DESIGN.md §5). `openkcm serve` is also what runs with no
// subcommand and what `npm start` runs.
import { Command, Option } from 'commander';
import cluster from 'node:cluster';
import { relative } from 'node:path';
import type { OpenKcmConfig } from '../config/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { devPkiFiles } from '../server/devpki.ts';
// Type-only: `openkcm cmk` runs in this program too and must never load the runtime (its
// L1 provider and hierarchy engine, issue 10); serve() imports them when it runs.
import type { Runtime } from '../server/runtime.ts';
import type { RunningServer } from '../server/listener.ts';
import type { WorkerLink } from './serve-workers.ts';
import type { OpenKcmMetrics } from '../server/metrics.ts';
import type { RunningMetricsServer } from '../server/metrics-http.ts';
import { registerCmkCommand } from './cmk.ts';
import { callerResolver, startAdminServer, type HierarchyPort, type RunningAdminServer } from '../server/admin.ts';
import { loadCa, type CertificateAuthority } from '../server/ca.ts';
import { CONSOLE_PATH } from '../server/console.ts';
import { vaultKeyMetadata } from '../server/key-metadata.ts';
import { existsSync } from 'node:fs';
import { sqliteAuditTrail, startExporters, type Exporters } from '../audit/index.ts';
import { sqliteGovernance } from '../store/governance-async.ts';
import { closeOnSignals, devPkiLayout, ensureDefaultDevPki, exporterConfigsOrExit, loadConfigOrExit, ssoSettingsOrExit } from './lifecycle.ts';
import { OidcSso, type SsoSettings } from '../server/sso.ts';

interface ServeFlags {
  listen?: string;
  data?: string;
  certs?: string;
  config?: string;
  maxMessageSize?: string;
  idleTimeout?: string;
  maxConnections?: string;
  logLevel?: string;
  adminListen?: string;
  metricsListen?: string;
  l1StatusCheckInterval?: string;
  databaseUrl?: string;
  workers?: string;
  httpsListen?: string;
  tlsProfile?: string;
}

/** The ready-to-paste client instructions, including a PyKMIP `pykmip.conf` section. */
export function connectionHelp(config: OpenKcmConfig, port: number, cwd = process.cwd(), httpsPort?: number | null): string {
  const files = devPkiFiles(config.certsDir);
  const rel = (p: string) => (relative(cwd, p).startsWith('..') ? p : relative(cwd, p) || p);
  const host = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host;
  const profile = config.tls.profile !== 'none' ? `, TLS profile ${config.tls.profile}` : '';
  const https: string[] = [];
  if (config.https.listen !== undefined && httpsPort != null) {
    const h = config.https.listen.host === '0.0.0.0' || config.https.listen.host === '::' ? '127.0.0.1' : config.https.listen.host;
    https.push(
      `KMIP over HTTPS: POST https://${h}:${httpsPort}/kmip (Content-Type application/octet-stream, text/xml or application/json; same certificates):`,
      `  curl --cacert ${rel(config.tls.caFile)} --cert ${rel(files.clientCert)} --key ${rel(files.clientKey)} -H 'Content-Type: application/json' --data-binary @request.json https://${h}:${httpsPort}/kmip`,
      '',
    );
  }
  return [
    '',
    `OpenKCM is listening on ${config.listen.host}:${port} (KMIP 1.0-2.1, TTLV over mutual TLS 1.2/1.3${profile}).`,
    '',
    ...https,
    'Connect with the development client certificate:',
    `  CA:          ${rel(config.tls.caFile)}`,
    `  certificate: ${rel(files.clientCert)}`,
    `  key:         ${rel(files.clientKey)}`,
    '',
    'openssl check:',
    `  openssl s_client -connect ${host}:${port} -CAfile ${rel(config.tls.caFile)} -cert ${rel(files.clientCert)} -key ${rel(files.clientKey)} </dev/null`,
    '',
    'PyKMIP (pykmip.conf):',
    '  [client]',
    `  host=${host}`,
    `  port=${port}`,
    `  certfile=${files.clientCert}`,
    `  keyfile=${files.clientKey}`,
    `  ca_certs=${config.tls.caFile}`,
    '  cert_reqs=CERT_REQUIRED',
    '  ssl_version=PROTOCOL_TLSv1_2',
    '  do_handshake_on_connect=True',
    '  suppress_ragged_eofs=True',
    '',
    '  python3 -c "from kmip.pie.client import ProxyKmipClient as C; c=C(config=\'client\', config_file=\'pykmip.conf\'); c.open(); print(c.create(3, 256)); c.close()"',
    '',
  ].join('\n');
}

const PROGRAM = 'openkcm';

/** The admin API line of the start banner (one process or the primary of several workers). */
const adminBanner = (host: string, port: number, ssoIssuer?: string): string =>
  `Admin API: https://${host}:${port} (mutual TLS, role admin) — try: npx kmipctl status --server https://${host}:${port}\n`
  // Issue 14 §3: the console is on the same listener, behind the same client certificate.
  + `Web console: https://${host}:${port}${CONSOLE_PATH} (open it in a browser that holds the admin certificate; README "The web console")\n`
  // Issue 14 §4: or behind the IdP's sign-in.
  + (ssoIssuer !== undefined ? `Single sign-on: https://${host}:${port}/auth/login through ${ssoIssuer} (bearer tokens accepted on the admin API; README "Single sign-on")\n` : '')
  + '\n';

async function serve(flags: ServeFlags): Promise<void> {
  const config = loadConfigOrExit(PROGRAM, flags);
  const exporterConfigs = exporterConfigsOrExit(PROGRAM, config);
  const ssoSettings = ssoSettingsOrExit(PROGRAM, config);
  const slot = cluster.isWorker ? (await import('./serve-workers.ts')).workerSlot() : undefined;
  const log: Logger = slot === undefined ? createLogger({ level: config.log.level }) : createLogger({ level: config.log.level }).child({ worker: slot });

  // Only the default file layout is generated (devPkiLayout), once, before any worker runs.
  const { files: defaultLayout, usesDefaultFiles } = devPkiLayout(config);
  if (slot === undefined) await ensureDefaultDevPki(config, usesDefaultFiles, log);

  if (slot === undefined && config.workers > 1) {
    const { runPrimary } = await import('./serve-workers.ts');
    await runPrimary(config, log, async ({ kmipPort, adminPort, metrics, httpsPort }) => {
      process.stderr.write(connectionHelp(config, kmipPort, undefined, httpsPort));
      if (adminPort !== null) {
        const host = config.admin.listen.host;
        process.stderr.write(adminBanner(host, adminPort, config.sso?.issuer));
      }
      if (metrics !== undefined) process.stderr.write((await import('./metrics.ts')).metricsBanner(metrics));
      process.stderr.write(`${config.workers} worker processes serve KMIP (--workers; the admin API and SIEM export run in worker 1).\n\n`);
    });
    return;
  }
  // Worker 1 (the lead) runs the admin API and the SIEM exporters; every worker serves KMIP.
  const lead = slot === undefined || slot === 1;

  let runtime: Runtime | undefined;
  let server: RunningServer | undefined;
  let httpsServer: RunningServer | undefined;
  let admin: RunningAdminServer | undefined;
  let exporters: Exporters | undefined;
  let link: WorkerLink | undefined;
  let stop: (() => Promise<void>) | undefined;
  let metricsServer: RunningMetricsServer | undefined;
  // Counted only when someone can read them (metrics.listen): nothing is measured otherwise.
  const metrics: OpenKcmMetrics | undefined = config.metrics.listen !== undefined ? await (await import('./metrics.ts')).openMetrics('serve') : undefined;
  try {
    // First start on the development PKI: its client certificate becomes the admin of
    // tenant default, service default (bootstrap, issue 7), so `npm start` + PyKMIP and
    // `kmipctl status` work with the files printed below.
    const bootstrap = config.devPki && usesDefaultFiles && existsSync(defaultLayout.clientCert) ? { bootstrapClientCertFile: defaultLayout.clientCert } : {};
    const { openRuntime } = await import('../server/runtime.ts');
    if (slot !== undefined && slot > 1) await (await import('./serve-workers.ts')).waitForLead();
    const { startServer } = await import('../server/listener.ts');
    runtime = await openRuntime({
      dataDir: config.dataDir, l1KeyFile: config.l1.keyFile, l1StatusCheckIntervalMs: config.l1.statusCheckIntervalMs, logger: log, ...bootstrap,
      ...(config.store.url !== undefined ? { databaseUrl: config.store.url } : {}),
      ...(config.audit.durable ? { auditDurable: true } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
    });
    const l1 = runtime.server.l1;
    if (l1.developmentOnly) {
      log.warn({ event: 'development_l1', provider: l1.provider, keyRef: l1.keyRef },
        '*** DEVELOPMENT L1 PROVIDER IN USE: the root key is a local file. Not for production. ***');
    }
    // Before the listener: the first request's record already has somewhere to go. A new
    // exporter starts from its saved cursor, so nothing committed meanwhile is lost.
    if (exporterConfigs.length > 0 && lead) {
      // Other workers commit records too: the exporter looks for them (src/audit/export).
      exporters = startExporters(runtime.audit, exporterConfigs, slot !== undefined ? { foreignCommitPollMs: FOREIGN_COMMIT_POLL_MS } : {});
      log.info({ event: 'audit_exporters_started', exporters: exporterConfigs.map((x) => x.name) }, 'SIEM export started');
      const ex = exporters;
      metrics?.watchExporters(() => ex.stats());
    }
    if (slot !== undefined) {
      const { attachWorker } = await import('./serve-workers.ts');
      const rt = runtime;
      const { readiness } = await import('../server/health.ts');
      const { runtimeReadinessSources } = await import('../server/runtime.ts');
      const sources = runtimeReadinessSources(rt);
      if (metrics !== undefined) await (await import('./metrics.ts')).answerClusterScrapes(metrics);
      link = attachWorker({
        slot, engine: rt.hierarchy.engine, governance: rt.governance, log,
        readiness: () => readiness(sources),
        shutdown: (why) => { log.info({ event: 'worker_shutdown', why }, 'worker stopping'); void stop?.(); },
      });
      // A worker started after a seal (a restart) must not serve what its siblings sealed:
      // the governance state says which tenants are not active.
      for (const t of rt.governance.listTenants()) {
        if (t.state !== 'active' && !rt.hierarchy.engine.isSealed(t.id)) rt.hierarchy.engine.seal(t.id, `tenant is ${t.state} (found at worker start)`);
      }
    }
    const served = metrics !== undefined ? { engine: runtime.engine, logger: runtime.logger, audit: runtime.audit, metrics } : runtime;
    server = await startServer(config, served);
    // KMIP over HTTPS (issue 13 §3): the same runtime, so the same identities, policy and audit.
    if (config.https.listen !== undefined) httpsServer = await startServer({ ...config, listen: config.https.listen, protocol: 'https' }, served);
    if (config.admin.enabled && lead) admin = await startAdmin(config, runtime, server.address().port, log, exporters, link, ssoSettings);
    // One process: its own listener. Workers: the primary's gathers theirs.
    if (metrics !== undefined && slot === undefined) {
      const { readiness } = await import('../server/health.ts');
      const { runtimeReadinessSources } = await import('../server/runtime.ts');
      const sources = runtimeReadinessSources(runtime);
      const m = metrics;
      metricsServer = await (await import('./metrics.ts')).startMetricsListener(config, log, async () => ({ contentType: m.contentType, body: await m.text() }), () => readiness(sources));
    }
  } catch (e) {
    // A vault that cannot be used (wrong URL, server down, credentials refused, database at a
    // newer schema) is bad input: one line saying what to fix, exit 2, no stack trace.
    const name = (e as Error | undefined)?.name;
    // A server certificate that tls.profile cannot use is bad input too (src/server/tls-profile.ts).
    const badVault = name === 'StoreConnectionError' || name === 'StoreSchemaError' || name === 'TlsProfileError';
    if (!badVault) log.fatal({ err: e }, 'cannot start');
    await metricsServer?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await server?.close(0).catch(() => undefined);
    await httpsServer?.close(0).catch(() => undefined);
    await exporters?.close().catch(() => undefined);
    await runtime?.close().catch(() => undefined);
    if (badVault) {
      process.stderr.write(`openkcm: ${(e as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.exitCode = 1;
    }
    // A worker's IPC channel would keep it alive: let go, so the primary sees the exit code.
    if (slot !== undefined) process.disconnect?.();
    return;
  }
  const closeAll = async () => {
    await metricsServer?.close();
    await admin?.close();
    await Promise.all([server!.close(), httpsServer?.close()]);
    // After the listener (its last records are committed), before the runtime (the
    // exporters read the audit log and save their cursors in its database).
    await exporters?.close();
    await runtime!.close();
    for (const p of link?.providers() ?? []) await p.close().catch(() => undefined);
  };
  if (link !== undefined) {
    // A worker: the primary prints the banner once every worker listens.
    let stopping: Promise<void> | undefined;
    stop = () => (stopping ??= closeAll().catch((e: unknown) => {
      log.error({ err: e }, 'error during shutdown');
      process.exitCode = 1;
    }).finally(() => { log.flush?.(); process.disconnect?.(); }));
    // Ctrl-C reaches the whole process group; the primary asks the workers to stop as well.
    process.on('SIGINT', () => void stop?.());
    process.on('SIGTERM', () => void stop?.());
    link.ready({ kmipPort: server.address().port, adminPort: admin?.address().port ?? null, httpsPort: httpsServer?.address().port ?? null });
    return;
  }
  process.stderr.write(connectionHelp(config, server.address().port, undefined, httpsServer?.address().port ?? null));
  if (admin) {
    const a = admin.address();
    process.stderr.write(adminBanner(a.host, a.port, config.sso?.issuer));
  }
  if (metricsServer !== undefined) process.stderr.write((await import('./metrics.ts')).metricsBanner(metricsServer));

  closeOnSignals(log, closeAll);
}

/** How often the lead worker's SIEM exporters look for records other workers committed. */
const FOREIGN_COMMIT_POLL_MS = 200;

/**
 * The admin API next to the KMIP listener, on the same runtime (governance, audit, and the
 * hierarchy engine when the runtime has one). Without the CA key the API runs, but
 * `cert issue` answers that it cannot issue.
 */
async function startAdmin(
  config: OpenKcmConfig, runtime: Runtime, kmipPort: number, log: Logger, exporters?: Exporters, link?: WorkerLink, sso?: SsoSettings,
): Promise<RunningAdminServer> {
  let ca: CertificateAuthority | undefined;
  if (existsSync(config.admin.caKeyFile)) ca = await loadCa(config.tls.caFile, config.admin.caKeyFile);
  else log.warn({ event: 'admin_no_ca', caKeyFile: config.admin.caKeyFile }, 'no CA key: kmipctl cert issue is unavailable');
  // With workers, each act reaches the other workers' engines too (src/server/cluster.ts).
  const hierarchy: HierarchyPort = link !== undefined
    ? (await import('../server/cluster.ts')).broadcastingHierarchy(runtime.hierarchy.engine, (c) => link.publish(c), log)
    : runtime.hierarchy.engine;
  const adminGovernance = sqliteGovernance(runtime.governance);
  const started = Date.now();
  const kmipHost = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host;
  return startAdminServer({
    listen: config.admin.listen,
    tls: config.tls,
    logger: log,
    deps: {
      // The admin API awaits governance and audit (the contract the CMK shares on PostgreSQL);
      // the KMIP path keeps reading the same SQLite store synchronously.
      governance: adminGovernance,
      audit: sqliteAuditTrail(runtime.audit),
      hierarchy,
      ...(ca ? { ca } : {}),
      resolveCaller: callerResolver(adminGovernance),
      ...(sso ? { sso: new OidcSso({ settings: sso, logger: log }) } : {}),
      kmip: { host: kmipHost, port: kmipPort, caFile: config.tls.caFile },
      ...(exporters ? { exporters: () => exporters.stats() } : {}),
      ...(link ? { workers: (tenant: string) => link.collect(tenant) } : {}),
      // The console's keys view: descriptions read from the vault, never a key byte.
      keys: vaultKeyMetadata(runtime.store),
      info: () => ({ product: runtime.server.product, version: runtime.server.version, uptimeSeconds: Math.round((Date.now() - started) / 1000), l1: `${runtime.server.l1.provider} ${runtime.server.l1.keyRef}` }),
    },
  });
}

export function buildProgram(more: readonly Command[] = []): Command {
  const program = new Command('openkcm')
    .description('OpenKCM: KMIP 1.0-2.1 key-management server')
    .showHelpAfterError();
  program
    .command('serve', { isDefault: true })
    .description('run the KMIP server (generates a development PKI into the certs directory when absent)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5696; env OPENKCM_LISTEN)')
    .option('--data <dir>', 'data directory (default ./data; env OPENKCM_DATA)')
    .option('--certs <dir>', 'certificates directory (default ./certs; env OPENKCM_CERTS)')
    .option('--config <file>', 'JSON configuration file (env OPENKCM_CONFIG)')
    .option('--max-message-size <bytes>', 'largest request accepted (env OPENKCM_MAX_MESSAGE_SIZE)')
    .option('--idle-timeout <ms>', 'close connections idle this long (env OPENKCM_IDLE_TIMEOUT_MS)')
    .option('--max-connections <n>', 'concurrent connections (env OPENKCM_MAX_CONNECTIONS)')
    .option('--admin-listen <host:port>', 'admin API address (default 127.0.0.1:5697; env OPENKCM_ADMIN_LISTEN)')
    .option('--metrics-listen <host:port>', '/metrics, /healthz and /readyz address, e.g. 127.0.0.1:9464 (default: not served; env OPENKCM_METRICS_LISTEN)')
    .option('--database-url <url>', 'PostgreSQL vault for objects and hierarchy keys, shared by several servers (env OPENKCM_DATABASE_URL; default: SQLite in --data)')
    .option('--https-listen <host:port>', 'also serve KMIP over HTTPS (POST /kmip) on this address (default off; env OPENKCM_HTTPS_LISTEN)')
    .addOption(new Option('--tls-profile <profile>', 'TLS profile of the KMIP ports (default none; env OPENKCM_TLS_PROFILE)').choices(['none', 'suiteb-128', 'suiteb-192']))
    .option('--workers <n>', 'KMIP worker processes, 1 = one process (default: the number of CPUs; env OPENKCM_WORKERS)')
    .option('--l1-status-check-interval <ms>', 'periodic L1 status check, 1000 to 86400000 ms (default 30000; env OPENKCM_L1_STATUS_CHECK_INTERVAL_MS)')
    .addOption(new Option('--log-level <level>', 'log level (env OPENKCM_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (flags: ServeFlags) => serve(flags));
  // The execution plane alone (issue 10): src/cli/core.ts, handed in (see below).
  for (const c of more) program.addCommand(c);
  // The edge (issue 11) is handed in the same way: src/cli/gateway.ts.
  // The governance plane alone (issue 10): src/cli/cmk.ts.
  registerCmkCommand(program);
  return program;
}

// `openkcm cmk` must never load the execution plane (issue 10: no L1 call, no key material
// in the CMK); src/cli/core.ts imports the hierarchy engine and the L1 providers at its top,
// so it is loaded only when the command is not `cmk`.
const governanceOnly = process.argv[2] === 'cmk';
await buildProgram(governanceOnly ? [] : [(await import('./core.ts')).coreCommand(), (await import('./gateway.ts')).gatewayCommand()]).parseAsync(process.argv);
