// `openkcm cmk` (issue 10 §1): the governance plane alone — admin API, link routes for the
// cores, audit trail and SIEM exporters, on its own SQLite file (cmk.db) or on PostgreSQL
// (--database-url, issue 10 §4). No KMIP listener,
// no hierarchy engine, no L1 provider, ever: this file imports none of them (the module
// list of a running CMK is checked by test/link/cmk-process.test.ts).
import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLogger, type Logger } from '../log/index.ts';
import { loadCa, type CertificateAuthority } from '../server/ca.ts';
import { openCmk, startCmkAdmin, CMK_DATABASE_FILE, type Cmk } from '../server/cmk.ts';
import type { RunningAdminServer } from '../server/admin.ts';
import { CONSOLE_PATH } from '../server/console.ts';
import { startExporters, type Exporters } from '../audit/index.ts';
import { closeOnSignals, devPkiLayout, EXIT_USAGE, ensureDefaultDevPki, exporterConfigsOrExit, loadConfigOrExit, ssoSettingsOrExit, usageExit } from './lifecycle.ts';
import { OidcSso } from '../server/sso.ts';

interface CmkFlags {
  data?: string;
  databaseUrl?: string;
  certs?: string;
  config?: string;
  adminListen?: string;
  logLevel?: string;
  changeRetention?: string;
}

const PROGRAM = 'openkcm cmk';
const usage = (msg: string): never => usageExit(PROGRAM, msg);

async function cmk(flags: CmkFlags): Promise<void> {
  const config = loadConfigOrExit(PROGRAM, flags);
  if (!config.admin.enabled) usage('admin.enabled is false, but the admin API is all a CMK serves: remove the setting (or set it to true)');
  const exporterConfigs = exporterConfigsOrExit(PROGRAM, config);
  const ssoSettings = ssoSettingsOrExit(PROGRAM, config);
  const { files: defaultLayout, usesDefaultFiles } = devPkiLayout(config);
  if (!(config.devPki && usesDefaultFiles)) {
    // Named files must exist: say which one, before anything opens.
    for (const [what, f] of [['tls.caFile', config.tls.caFile], ['tls.certFile', config.tls.certFile], ['tls.keyFile', config.tls.keyFile]] as const) {
      if (!existsSync(f)) usage(`${what}: ${f} does not exist; give the PEM file of the CMK's listener (or use the development PKI)`);
    }
  }
  const log: Logger = createLogger({ level: config.log.level });
  await ensureDefaultDevPki(config, usesDefaultFiles, log);

  let state: Cmk | undefined;
  let admin: RunningAdminServer | undefined;
  let exporters: Exporters | undefined;
  try {
    const bootstrap = config.devPki && usesDefaultFiles && existsSync(defaultLayout.clientCert) ? { bootstrapClientCertFile: defaultLayout.clientCert } : {};
    state = await openCmk({
      dataDir: config.dataDir, logger: log, changeRetention: config.cmk.changeRetention, ...bootstrap,
      // store.url (--database-url, OPENKCM_DATABASE_URL): the CMK on PostgreSQL (issue 10 §4).
      ...(config.store.url !== undefined ? { databaseUrl: config.store.url } : {}),
    });
    if (exporterConfigs.length > 0) {
      exporters = startExporters(state.audit, exporterConfigs);
      log.info({ event: 'audit_exporters_started', exporters: exporterConfigs.map((x) => x.name) }, 'SIEM export started');
    }
    let ca: CertificateAuthority | undefined;
    if (existsSync(config.admin.caKeyFile)) ca = await loadCa(config.tls.caFile, config.admin.caKeyFile);
    else log.warn({ event: 'admin_no_ca', caKeyFile: config.admin.caKeyFile }, 'no CA key: kmipctl cert issue is unavailable');
    const started = Date.now();
    const ex = exporters;
    const db = state.database;
    const where = db.kind === 'sqlite' ? resolve(config.dataDir, CMK_DATABASE_FILE) : db.url;
    admin = await startCmkAdmin(state, {
      listen: config.admin.listen,
      tls: config.tls,
      logger: log,
      ...(ca ? { ca } : {}),
      ...(ex ? { exporters: () => ex.stats() } : {}),
      ...(ssoSettings ? { sso: new OidcSso({ settings: ssoSettings, logger: log }) } : {}),
      info: () => ({ product: 'OpenKCM CMK (governance only)', uptimeSeconds: Math.round((Date.now() - started) / 1000), database: where }),
    });
  } catch (e) {
    // A database that cannot be used (wrong URL, server down, credentials refused, a newer
    // schema) is bad input, as for `openkcm core`: one line naming what to fix, exit 2.
    const name = (e as Error | undefined)?.name;
    const badDatabase = name === 'StoreConnectionError' || name === 'StoreSchemaError' || name === 'AuditSchemaError';
    if (!badDatabase) log.fatal({ err: e }, 'cannot start');
    await admin?.close().catch(() => undefined);
    await exporters?.close().catch(() => undefined);
    await state?.close().catch(() => undefined);
    if (badDatabase) {
      process.stderr.write(`openkcm cmk: --database-url: ${(e as Error).message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`openkcm cmk: cannot start: ${(e as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const a = admin.address();
  process.stderr.write([
    '',
    `OpenKCM CMK (governance only: no KMIP listener, no key material) — database ${state.database.kind === 'sqlite' ? resolve(config.dataDir, CMK_DATABASE_FILE) : `${state.database.url} (PostgreSQL)`}`,
    `Admin API: https://${a.host}:${a.port} (mutual TLS, role admin) — try: npx kmipctl status --server https://${a.host}:${a.port}`,
    `Link for cores: https://${a.host}:${a.port}/v1/link/… (certificates of role core: kmipctl cert issue --role core --region <region>)`,
    `Web console: https://${a.host}:${a.port}${CONSOLE_PATH} (governance views; a CMK shows no keys: they live on the cores)`,
    ...(config.sso ? [`Single sign-on: https://${a.host}:${a.port}/auth/login through ${config.sso.issuer} (bearer tokens accepted on the admin API)`] : []),
    '', '',
  ].join('\n'));

  closeOnSignals(log, async () => {
    state!.link.close();
    await admin!.close();
    await exporters?.close();
    await state!.close();
  });
}

export function registerCmkCommand(program: Command): void {
  program
    .command('cmk')
    .description('run the governance plane only (CMK): admin API, link routes for regional cores, audit trail; no KMIP listener and no key material')
    .option('--data <dir>', `data directory, holds ${CMK_DATABASE_FILE} (default ./data; env OPENKCM_DATA)`)
    .option('--database-url <url>', `PostgreSQL database for governance and the audit trail instead of ${CMK_DATABASE_FILE} (env OPENKCM_DATABASE_URL; config store.url); never a regional vault's database`)
    .option('--certs <dir>', 'certificates directory (default ./certs; env OPENKCM_CERTS)')
    .option('--config <file>', 'JSON configuration file (env OPENKCM_CONFIG)')
    .option('--admin-listen <host:port>', 'admin API and link address (default 127.0.0.1:5697; env OPENKCM_ADMIN_LISTEN)')
    .option('--change-retention <n>', 'changes kept for the cores (default 50000; env OPENKCM_CMK_CHANGE_RETENTION)')
    .addOption(new Option('--log-level <level>', 'log level (env OPENKCM_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (flags: CmkFlags) => cmk(flags));
}
