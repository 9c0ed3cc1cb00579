// `openkcm` — the server program (issue 3 §5). The only code that reads argv and env or
// calls process.exit (DESIGN.md §5). `openkcm serve` is also what runs with no
// subcommand and what `npm start` runs.
import { Command, Option } from 'commander';
import { relative } from 'node:path';
import type { OpenKcmConfig } from '../config/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { devPkiFiles } from '../server/devpki.ts';
// Type-only: `openkcm cmk` runs in this program too and must never load the runtime (its
// L1 provider and hierarchy engine, issue 10); serve() imports them when it runs.
import type { Runtime } from '../server/runtime.ts';
import type { RunningServer } from '../server/listener.ts';
import { registerCmkCommand } from './cmk.ts';
import { callerResolver, startAdminServer, type HierarchyPort, type RunningAdminServer } from '../server/admin.ts';
import { loadCa, type CertificateAuthority } from '../server/ca.ts';
import { existsSync } from 'node:fs';
import { sqliteAuditTrail, startExporters, type Exporters } from '../audit/index.ts';
import { sqliteGovernance } from '../store/governance-async.ts';
import { closeOnSignals, devPkiLayout, ensureDefaultDevPki, exporterConfigsOrExit, loadConfigOrExit } from './lifecycle.ts';

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
  l1StatusCheckInterval?: string;
  databaseUrl?: string;
}

/** The ready-to-paste client instructions, including a PyKMIP `pykmip.conf` section. */
export function connectionHelp(config: OpenKcmConfig, port: number, cwd = process.cwd()): string {
  const files = devPkiFiles(config.certsDir);
  const rel = (p: string) => (relative(cwd, p).startsWith('..') ? p : relative(cwd, p) || p);
  const host = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host;
  return [
    '',
    `OpenKCM is listening on ${config.listen.host}:${port} (KMIP 1.0-2.1, TTLV over mutual TLS 1.2/1.3).`,
    '',
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

async function serve(flags: ServeFlags): Promise<void> {
  const config = loadConfigOrExit(PROGRAM, flags);
  const exporterConfigs = exporterConfigsOrExit(PROGRAM, config);
  const log: Logger = createLogger({ level: config.log.level });

  // Only the default file layout is generated (devPkiLayout).
  const { files: defaultLayout, usesDefaultFiles } = devPkiLayout(config);
  await ensureDefaultDevPki(config, usesDefaultFiles, log);

  let runtime: Runtime | undefined;
  let server: RunningServer | undefined;
  let admin: RunningAdminServer | undefined;
  let exporters: Exporters | undefined;
  try {
    // First start on the development PKI: its client certificate becomes the admin of
    // tenant default, service default (bootstrap, issue 7), so `npm start` + PyKMIP and
    // `kmipctl status` work with the files printed below.
    const bootstrap = config.devPki && usesDefaultFiles && existsSync(defaultLayout.clientCert) ? { bootstrapClientCertFile: defaultLayout.clientCert } : {};
    const { openRuntime } = await import('../server/runtime.ts');
    const { startServer } = await import('../server/listener.ts');
    runtime = await openRuntime({
      dataDir: config.dataDir, l1KeyFile: config.l1.keyFile, l1StatusCheckIntervalMs: config.l1.statusCheckIntervalMs, logger: log, ...bootstrap,
      ...(config.store.url !== undefined ? { databaseUrl: config.store.url } : {}),
      ...(config.audit.durable ? { auditDurable: true } : {}),
    });
    const l1 = runtime.server.l1;
    if (l1.developmentOnly) {
      log.warn({ event: 'development_l1', provider: l1.provider, keyRef: l1.keyRef },
        '*** DEVELOPMENT L1 PROVIDER IN USE: the root key is a local file. Not for production. ***');
    }
    // Before the listener: the first request's record already has somewhere to go. A new
    // exporter starts from its saved cursor, so nothing committed meanwhile is lost.
    if (exporterConfigs.length > 0) {
      exporters = startExporters(runtime.audit, exporterConfigs);
      log.info({ event: 'audit_exporters_started', exporters: exporterConfigs.map((x) => x.name) }, 'SIEM export started');
    }
    server = await startServer(config, runtime);
    if (config.admin.enabled) admin = await startAdmin(config, runtime, server.address().port, log, exporters);
  } catch (e) {
    // A vault that cannot be used (wrong URL, server down, credentials refused, database at a
    // newer schema) is bad input: one line saying what to fix, exit 2, no stack trace.
    const name = (e as Error | undefined)?.name;
    const badVault = name === 'StoreConnectionError' || name === 'StoreSchemaError';
    if (!badVault) log.fatal({ err: e }, 'cannot start');
    await admin?.close().catch(() => undefined);
    await server?.close(0).catch(() => undefined);
    await exporters?.close().catch(() => undefined);
    await runtime?.close().catch(() => undefined);
    if (badVault) {
      process.stderr.write(`openkcm: ${(e as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    process.exitCode = 1;
    return;
  }
  process.stderr.write(connectionHelp(config, server.address().port));
  if (admin) {
    const a = admin.address();
    process.stderr.write(`Admin API: https://${a.host}:${a.port} (mutual TLS, role admin) — try: npx kmipctl status --server https://${a.host}:${a.port}\n\n`);
  }

  closeOnSignals(log, async () => {
    await admin?.close();
    await server!.close();
    // After the listener (its last records are committed), before the runtime (the
    // exporters read the audit log and save their cursors in its database).
    await exporters?.close();
    await runtime!.close();
  });
}

/**
 * The admin API next to the KMIP listener, on the same runtime (governance, audit, and the
 * hierarchy engine when the runtime has one). Without the CA key the API runs, but
 * `cert issue` answers that it cannot issue.
 */
async function startAdmin(config: OpenKcmConfig, runtime: Runtime, kmipPort: number, log: Logger, exporters?: Exporters): Promise<RunningAdminServer> {
  let ca: CertificateAuthority | undefined;
  if (existsSync(config.admin.caKeyFile)) ca = await loadCa(config.tls.caFile, config.admin.caKeyFile);
  else log.warn({ event: 'admin_no_ca', caKeyFile: config.admin.caKeyFile }, 'no CA key: kmipctl cert issue is unavailable');
  const hierarchy: HierarchyPort = runtime.hierarchy.engine;
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
      kmip: { host: kmipHost, port: kmipPort, caFile: config.tls.caFile },
      ...(exporters ? { exporters: () => exporters.stats() } : {}),
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
    .option('--database-url <url>', 'PostgreSQL vault for objects and hierarchy keys, shared by several servers (env OPENKCM_DATABASE_URL; default: SQLite in --data)')
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
