// `openkcm core --region R --cmk https://host:port` — a regional Krypton Core (issue 10): the
// KMIP listener, the hierarchy engine and the regional vault, governed by its CMK. No admin
// API, no governance of its own. Every bad input stops with one line and exit 2.
import { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseHostPort, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_CERTS_DIR, DEFAULT_DATA_DIR, TLS_PROFILE_NAMES, type TlsProfileName } from '../config/index.ts';
import { TlsProfileError } from '../server/tls-profile.ts';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../log/index.ts';
import { devPkiFiles } from '../server/devpki.ts';
import { startServer, type RunningServer } from '../server/listener.ts';
import { openCoreRuntime, MIN_LEASE_MS, type CoreRuntime, type CoreVault, type FailMode } from '../server/core.ts';
import { LinkError } from '../link/client.ts';
import { openPostgresStore, StoreConnectionError } from '../store/postgres.ts';
import { StoreSchemaError } from '../store/sqlite.ts';
import { LinkProtocolError } from '../link/replica.ts';
import { DEFAULT_LEASE_MS } from '../link/protocol.ts';
import { closeOnSignals, EXIT_USAGE } from './lifecycle.ts';
import type { OpenKcmMetrics } from '../server/metrics.ts';
import type { RunningMetricsServer } from '../server/metrics-http.ts';

export { EXIT_USAGE };

interface CoreFlags {
  region?: string;
  cmk?: string;
  certs?: string;
  cert?: string;
  key?: string;
  ca?: string;
  listen?: string;
  data?: string;
  databaseUrl?: string;
  node?: string;
  leaseMs?: string;
  failMode?: string;
  logLevel?: string;
  httpsListen?: string;
  tlsProfile?: string;
  metricsListen?: string;
  metricsTls?: string;
  metricsClientCert?: string;
}

export interface CoreConfig {
  region: string;
  node: string;
  cmkUrl: string;
  /** The link certificate (role core, this region) and the CA of the CMK. */
  link: { certFile: string; keyFile: string; caFile: string };
  /** The KMIP listener's certificate (the layout `openkcm serve` uses: ca.crt, server.crt, server.key) and TLS profile. */
  kmip: { caFile: string; certFile: string; keyFile: string; profile: TlsProfileName };
  listen: { host: string; port: number };
  /** KMIP over HTTPS (issue 13 §3), as `openkcm serve`'s https.listen; undefined = off. */
  httpsListen: { host: string; port: number } | undefined;
  dataDir: string;
  databaseUrl: string | undefined;
  leaseMs: number;
  failMode: FailMode;
  logLevel: LogLevel;
  /**
   * `/metrics`, `/healthz`, `/readyz` (issue 14 §2), as `openkcm serve`'s metrics.*: listen
   * undefined = off; tls = HTTPS with the KMIP listener's certificate; clientCertificate =
   * with tls, a client certificate of the KMIP CA is required.
   */
  metrics: { listen: { host: string; port: number } | undefined; tls: boolean; clientCertificate: boolean };
}

export class CoreUsageError extends Error {
  override readonly name = 'CoreUsageError';
}

const REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Flags, then env (OPENKCM_*), then defaults; throws CoreUsageError naming the flag to fix. */
export function coreConfig(flags: CoreFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): CoreConfig {
  const pick = (flag: string | undefined, name: string): string | undefined => flag ?? env[name];
  const region = pick(flags.region, 'OPENKCM_REGION');
  if (region === undefined) throw new CoreUsageError('--region is required (the region this core serves, e.g. --region eu-central)');
  if (!REGION.test(region)) throw new CoreUsageError(`--region ${JSON.stringify(region)}: expected lower-case letters, digits and '-', e.g. eu-central`);
  const cmkUrl = pick(flags.cmk, 'OPENKCM_CMK');
  if (cmkUrl === undefined) throw new CoreUsageError('--cmk is required (https://host:port of the CMK admin listener, e.g. --cmk https://127.0.0.1:5697)');
  let u: URL;
  try {
    u = new URL(cmkUrl);
  } catch {
    throw new CoreUsageError(`--cmk ${JSON.stringify(cmkUrl)} is not a URL; expected https://host:port`);
  }
  if (u.protocol !== 'https:') throw new CoreUsageError(`--cmk ${cmkUrl}: the link is mutual TLS; expected https://host:port`);
  const certs = resolve(cwd, pick(flags.certs, 'OPENKCM_CERTS') ?? DEFAULT_CERTS_DIR);
  const files = devPkiFiles(certs);
  const link = {
    certFile: resolve(cwd, pick(flags.cert, 'OPENKCM_CORE_CERT') ?? join(certs, 'core.crt')),
    keyFile: resolve(cwd, pick(flags.key, 'OPENKCM_CORE_KEY') ?? join(certs, 'core.key')),
    caFile: resolve(cwd, pick(flags.ca, 'OPENKCM_CMK_CA') ?? files.caCert),
  };
  const profileRaw = pick(flags.tlsProfile, 'OPENKCM_TLS_PROFILE') ?? 'none';
  if (!(TLS_PROFILE_NAMES as readonly string[]).includes(profileRaw)) {
    throw new CoreUsageError(`--tls-profile ${JSON.stringify(profileRaw)}: expected one of ${TLS_PROFILE_NAMES.join(', ')}`);
  }
  const kmip = { caFile: files.caCert, certFile: files.serverCert, keyFile: files.serverKey, profile: profileRaw as TlsProfileName };
  for (const [what, f, fix] of [
    ['link certificate', link.certFile, '--cert (issue one with: kmipctl cert issue --role core --region ' + region + ')'],
    ['link private key', link.keyFile, '--key'],
    ['CA certificate of the CMK', link.caFile, '--ca'],
    ['KMIP server certificate', kmip.certFile, `--certs (a directory with ca.crt, server.crt, server.key)`],
    ['KMIP server private key', kmip.keyFile, '--certs'],
  ] as const) {
    if (!existsSync(f)) throw new CoreUsageError(`the ${what} ${f} does not exist; give it with ${fix}`);
  }
  // The link certificate names its region and node (SAN URI openkcm://core/region/<r>/node/<n>,
  // src/link/protocol.ts): one of another region is refused here, before the CMK is asked.
  const bound = coreCertificateBinding(link.certFile);
  if (bound !== undefined && bound.region !== region) {
    throw new CoreUsageError(`the link certificate ${link.certFile} is bound to region ${bound.region}, not ${region}: issue one with kmipctl cert issue --role core --region ${region}`);
  }
  const listenRaw = pick(flags.listen, 'OPENKCM_LISTEN') ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`;
  const listen = parseHostPort(listenRaw);
  if (listen === undefined) throw new CoreUsageError(`--listen ${JSON.stringify(listenRaw)} is not HOST:PORT with a port from 0 to 65535`);
  const httpsRaw = pick(flags.httpsListen, 'OPENKCM_HTTPS_LISTEN');
  const httpsListen = httpsRaw === undefined ? undefined : parseHostPort(httpsRaw);
  if (httpsRaw !== undefined && httpsListen === undefined) throw new CoreUsageError(`--https-listen ${JSON.stringify(httpsRaw)} is not HOST:PORT with a port from 0 to 65535`);
  if (httpsListen !== undefined && httpsListen.port !== 0 && httpsListen.port === listen.port) {
    throw new CoreUsageError(`--https-listen: port ${httpsListen.port} is already the KMIP (TTLV) port; KMIP over HTTPS needs its own`);
  }
  const metrics = metricsConfig(flags, env, listen, httpsListen);
  const databaseUrl = pick(flags.databaseUrl, 'OPENKCM_DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new CoreUsageError(`--database-url must be a postgres:// URL (e.g. postgres://openkcm@db.example:5432/vault), not ${JSON.stringify(databaseUrl.replace(/:[^:@/]*@/, ':***@'))}`);
  }
  const leaseRaw = pick(flags.leaseMs, 'OPENKCM_LEASE_MS');
  const leaseMs = leaseRaw === undefined ? DEFAULT_LEASE_MS : Number(leaseRaw);
  if (!Number.isInteger(leaseMs) || leaseMs < MIN_LEASE_MS || leaseMs > 3_600_000) {
    throw new CoreUsageError(`--lease-ms ${JSON.stringify(leaseRaw)}: expected milliseconds from ${MIN_LEASE_MS} to 3600000 (default ${DEFAULT_LEASE_MS})`);
  }
  const failMode = (pick(flags.failMode, 'OPENKCM_FAIL_MODE') ?? 'closed') as FailMode;
  if (failMode !== 'closed' && failMode !== 'open') throw new CoreUsageError(`--fail-mode ${JSON.stringify(failMode)}: expected closed (seal when the CMK is unreachable past the lease) or open`);
  const logLevel = (pick(flags.logLevel, 'OPENKCM_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new CoreUsageError(`--log-level ${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);
  const node = pick(flags.node, 'OPENKCM_NODE') ?? bound?.node ?? hostname();
  if (bound !== undefined && node !== bound.node) {
    throw new CoreUsageError(`--node ${node}: the link certificate ${link.certFile} is bound to node ${bound.node}; drop --node or issue a certificate for node ${node}`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(node)) throw new CoreUsageError(`--node ${JSON.stringify(node)}: expected letters, digits, '.', '_' and '-' (at most 63)`);
  return {
    region, node, cmkUrl: u.origin, link, kmip, listen, httpsListen,
    dataDir: resolve(cwd, pick(flags.data, 'OPENKCM_DATA') ?? DEFAULT_DATA_DIR),
    databaseUrl, leaseMs, failMode, logLevel, metrics,
  };
}

/** true/false the way serve's config reads metrics.tls and metrics.clientCertificate (true, false, 1, 0). */
function boolFlag(raw: string | undefined, flag: string, dflt: boolean): boolean {
  if (raw === undefined) return dflt;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new CoreUsageError(`${flag} ${JSON.stringify(raw)}: expected true or false`);
}

function metricsConfig(flags: CoreFlags, env: NodeJS.ProcessEnv, kmip: { port: number }, https: { port: number } | undefined): CoreConfig['metrics'] {
  const raw = flags.metricsListen ?? env.OPENKCM_METRICS_LISTEN;
  const listen = raw === undefined ? undefined : parseHostPort(raw);
  if (raw !== undefined && listen === undefined) throw new CoreUsageError(`--metrics-listen ${JSON.stringify(raw)} is not HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:9464)`);
  // Two listeners on one port: the second would fail to bind with a less helpful message.
  if (listen !== undefined && listen.port !== 0 && (listen.port === kmip.port || listen.port === https?.port)) {
    throw new CoreUsageError(`--metrics-listen: port ${listen.port} is the ${listen.port === kmip.port ? 'KMIP (TTLV)' : 'KMIP over HTTPS'} port; /metrics needs its own (e.g. 9464)`);
  }
  return {
    listen,
    tls: boolFlag(flags.metricsTls ?? env.OPENKCM_METRICS_TLS, '--metrics-tls', true),
    clientCertificate: boolFlag(flags.metricsClientCert ?? env.OPENKCM_METRICS_CLIENT_CERT, '--metrics-client-cert', true),
  };
}

const CORE_URI = /^openkcm:\/\/core\/region\/([^/]+)\/node\/([^/]+)$/;

/** Region and node of a core certificate (its SAN URI), or undefined when it carries none. */
export function coreCertificateBinding(certFile: string): { region: string; node: string } | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certFile));
  } catch (e) {
    throw new CoreUsageError(`the link certificate ${certFile} is not a PEM certificate (${(e as Error).message}); give the file kmipctl cert issue --role core wrote`);
  }
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (!part.startsWith('URI:')) continue;
    const m = CORE_URI.exec(part.slice(4));
    if (m) return { region: decodeURIComponent(m[1]!), node: decodeURIComponent(m[2]!) };
  }
  return undefined;
}

/** What a start failure means for the operator, in one line; undefined = not a usage problem. */
export function explainStartError(e: unknown, cfg: CoreConfig): string | undefined {
  if (e instanceof LinkError) {
    if (e.kind === 'refused') {
      return `${e.message}. The link certificate ${cfg.link.certFile} must be of role core for region ${cfg.region}: issue one with kmipctl cert issue --role core --region ${cfg.region}`;
    }
    return `${e.message}${e.hint ? ` (${e.hint})` : ''}`;
  }
  if (e instanceof LinkProtocolError) return e.message;
  if (e instanceof StoreSchemaError) return `the vault database: ${e.message}`;
  if (e instanceof StoreConnectionError) return `--database-url: ${e.message}`;
  if (e instanceof TlsProfileError) return e.message;
  return undefined;
}

async function openVault(cfg: CoreConfig, logger: Logger): Promise<CoreVault | undefined> {
  if (cfg.databaseUrl === undefined) return undefined;
  // The PostgreSQL vault (issue 10 §4): every node of the region on one database.
  return openPostgresStore(cfg.databaseUrl, { logger });
}

export async function runCore(flags: CoreFlags): Promise<void> {
  let cfg: CoreConfig;
  try {
    cfg = coreConfig(flags);
  } catch (e) {
    if (e instanceof CoreUsageError) {
      process.stderr.write(`openkcm core: ${e.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw e;
  }
  const log: Logger = createLogger({ level: cfg.logLevel });
  let runtime: CoreRuntime | undefined;
  let server: RunningServer | undefined;
  let httpsServer: RunningServer | undefined;
  let metricsServer: RunningMetricsServer | undefined;
  // Counted only when someone can read them (--metrics-listen): nothing is measured otherwise,
  // and prom-client is not even loaded.
  const metricsModule = cfg.metrics.listen !== undefined ? await import('./metrics.ts') : undefined;
  const metrics: OpenKcmMetrics | undefined = metricsModule !== undefined ? await metricsModule.openMetrics('core') : undefined;
  try {
    const vault = await openVault(cfg, log);
    runtime = await openCoreRuntime({
      region: cfg.region, node: cfg.node, dataDir: cfg.dataDir, leaseMs: cfg.leaseMs, failMode: cfg.failMode, logger: log,
      cmk: { url: cfg.cmkUrl, tls: { ca: readFileSync(cfg.link.caFile), cert: readFileSync(cfg.link.certFile), key: readFileSync(cfg.link.keyFile) } },
      ...(vault !== undefined ? { vault } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
    });
    // With metrics, the listeners count connections and handshake failures into them.
    const served = metrics !== undefined ? { engine: runtime.engine, logger: runtime.logger, audit: runtime.audit, metrics } : runtime;
    server = await startServer({ listen: cfg.listen, tls: cfg.kmip }, served);
    // The same runtime behind HTTPS: the same identities, policy, tenant gate and audit.
    if (cfg.httpsListen !== undefined) httpsServer = await startServer({ listen: cfg.httpsListen, tls: cfg.kmip, protocol: 'https' }, served);
    if (metricsModule !== undefined && metrics !== undefined) {
      const { readiness } = await import('../server/health.ts');
      const sources = runtime.readinessSources();
      const m = metrics;
      // The same listener as serve's: config.tls is the KMIP listener's certificate and CA.
      metricsServer = await metricsModule.startMetricsListener({ metrics: cfg.metrics, tls: cfg.kmip }, log,
        async () => ({ contentType: m.contentType, body: await m.text() }), () => readiness(sources));
    }
  } catch (e) {
    await metricsServer?.close().catch(() => undefined);
    await server?.close(0).catch(() => undefined);
    await httpsServer?.close(0).catch(() => undefined);
    await runtime?.close().catch(() => undefined);
    const line = e instanceof CoreUsageError ? e.message : explainStartError(e, cfg);
    if (line !== undefined) {
      process.stderr.write(`openkcm core: ${line}\n`);
      log.flush?.();
      process.exit(EXIT_USAGE);
    }
    log.fatal({ err: e }, 'cannot start');
    process.stderr.write(`openkcm core: cannot start: ${(e as Error).message ?? String(e)}\n`);
    process.exitCode = 1;
    return;
  }
  const a = server.address();
  const profile = cfg.kmip.profile !== 'none' ? `, TLS profile ${cfg.kmip.profile}` : '';
  const h = httpsServer?.address();
  if (metricsServer !== undefined) process.stderr.write((await import('./metrics.ts')).metricsBanner(metricsServer));
  process.stderr.write(`OpenKCM core of region ${cfg.region} (node ${cfg.node}) is listening on ${a.host}:${a.port} (KMIP 1.0-2.1, mutual TLS${profile})${h ? `, KMIP over HTTPS on https://${h.host}:${h.port}/kmip` : ''}; governed by ${cfg.cmkUrl}, lease ${cfg.leaseMs} ms, fail mode ${cfg.failMode}.\n`);
  closeOnSignals(log, async () => {
    await metricsServer?.close();
    await Promise.all([server!.close(), httpsServer?.close()]);
    await runtime!.close();
  });
}

export function coreCommand(): Command {
  return new Command('core')
    .description('run a regional Krypton Core: KMIP listener, key hierarchy and regional vault, governed by a CMK (issue 10)')
    .option('--region <name>', 'the region this core serves (env OPENKCM_REGION)')
    .option('--cmk <url>', 'https://host:port of the CMK admin listener (env OPENKCM_CMK)')
    .option('--certs <dir>', 'directory with ca.crt, server.crt, server.key for the KMIP listener, and core.crt/core.key by default (env OPENKCM_CERTS)')
    .option('--cert <file>', 'link certificate of role core for this region (default <certs>/core.crt)')
    .option('--key <file>', 'its private key (default <certs>/core.key)')
    .option('--ca <file>', 'CA certificate of the CMK (default <certs>/ca.crt)')
    .option('--listen <host:port>', `KMIP address (default ${DEFAULT_HOST}:${DEFAULT_PORT}; env OPENKCM_LISTEN)`)
    .option('--https-listen <host:port>', 'also serve KMIP over HTTPS (POST /kmip) on this address (default off; env OPENKCM_HTTPS_LISTEN)')
    .option('--tls-profile <profile>', 'TLS profile of the KMIP ports: none (default), suiteb-128, suiteb-192 (env OPENKCM_TLS_PROFILE)')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9464 (default off; env OPENKCM_METRICS_LISTEN)')
    .option('--metrics-tls <bool>', 'true: HTTPS with the KMIP listener\'s certificate (default); false: plain HTTP (env OPENKCM_METRICS_TLS)')
    .option('--metrics-client-cert <bool>', 'with --metrics-tls, require a client certificate of the KMIP CA for /metrics: true (default) or false (env OPENKCM_METRICS_CLIENT_CERT)')
    .option('--data <dir>', 'SQLite vault, which holds the audit chain too (default ./data; env OPENKCM_DATA)')
    .option('--database-url <url>', 'PostgreSQL vault shared by the nodes of the region (env OPENKCM_DATABASE_URL)')
    .option('--node <name>', 'this node name (default the host name; env OPENKCM_NODE)')
    .option('--lease-ms <ms>', `seal every tenant after this long without the CMK (default ${DEFAULT_LEASE_MS}; env OPENKCM_LEASE_MS)`)
    // Values are checked by coreConfig, so a bad one is the same one line and exit 2 as any other.
    .option('--fail-mode <mode>', 'closed: seal every tenant past the lease (default); open: keep serving, logged loudly (env OPENKCM_FAIL_MODE)')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (env OPENKCM_LOG_LEVEL)`)
    // An unknown option or a missing value is a usage error too: exit 2, not commander's 1.
    .exitOverride((err) => {
      if (err.exitCode === 0) process.exit(0); // --help
      process.exit(EXIT_USAGE);
    })
    .action(async (flags: CoreFlags) => runCore(flags));
}
