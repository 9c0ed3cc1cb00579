// `openkcm gateway` (issue 11): the Krypton Gateway next to the applications (src/gateway/).
// Every bad input stops with one line saying what is wrong and how to fix it, exit 2.
import { Command, Option } from 'commander';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLogger } from '../log/index.ts';
import { GATEWAY_DEFAULTS, startGateway, type GatewayOptions, type Listen, type RunningGateway } from '../gateway/index.ts';
import { parseTokenFile, TokenFileError } from '../gateway/tokens.ts';

const EXIT_USAGE = 2;
/** A service id as governance spells it (src/store/governance.ts ID_PATTERN). */
const SERVICE_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface GatewayFlags {
  core?: string;
  listen?: string;
  certs?: string;
  cert?: string;
  key?: string;
  ca?: string;
  tokenFile?: string;
  services?: string;
  kmipListen?: string;
  kmipCert?: string;
  kmipKey?: string;
  kmipCa?: string;
  cacheTtl?: string;
  cacheMax?: string;
  pool?: string;
  maxBatch?: string;
  maxKeysPerItem?: string;
  flushDelay?: string;
  probeInterval?: string;
  l4MaxMessages?: string;
  l4MaxAge?: string;
  logLevel?: string;
}

export class GatewayUsageError extends Error {}

function hostPort(v: string, flag: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new GatewayUsageError(`${flag} ${v} is not HOST:PORT (e.g. 127.0.0.1:5696)`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

function intFlag(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new GatewayUsageError(`${flag} ${v} must be an integer from ${min} to ${max}`);
  return n;
}

function readPem(file: string, what: string): Buffer {
  if (!existsSync(file)) throw new GatewayUsageError(`${what} ${file} does not exist`);
  return readFileSync(file);
}

/** The gateway's identity from its certificate's SAN URI (openkcm://tenant/T/service/S/role/gateway, src/server/ca.ts). */
export function gatewayIdentity(certPem: Buffer, file: string): { tenant: string; service: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new GatewayUsageError(`${file} is not a PEM certificate`);
  }
  const uris = (cert.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
  for (const u of uris) {
    const m = /^openkcm:\/\/tenant\/([^/]+)\/service\/([^/]+)\/role\/([^/]+)$/.exec(u);
    if (!m) continue;
    if (m[3] !== 'gateway') {
      throw new GatewayUsageError(`${file} is a certificate of role ${m[3]}; issue one with: kmipctl cert issue --role gateway --tenant ${m[1]} --service ${m[2]}`);
    }
    return { tenant: m[1]!, service: m[2]! };
  }
  throw new GatewayUsageError(`${file} carries no OpenKCM identity; issue one with: kmipctl cert issue --role gateway --tenant T --service S`);
}

/** --certs DIR: the kmipctl output directory (<tenant>.<service>.crt/.key and openkcm-ca.crt). */
function certFiles(f: GatewayFlags): { cert: string; key: string; ca: string } {
  if (f.cert !== undefined || f.key !== undefined) {
    if (f.cert === undefined || f.key === undefined || (f.ca === undefined && f.certs === undefined)) {
      throw new GatewayUsageError('--cert, --key and --ca go together (or use --certs DIR, the directory kmipctl cert issue wrote)');
    }
    return { cert: f.cert, key: f.key, ca: f.ca ?? join(f.certs!, 'openkcm-ca.crt') };
  }
  if (f.certs === undefined) throw new GatewayUsageError('--certs DIR (the directory of kmipctl cert issue --role gateway) or --cert/--key/--ca is required');
  const dir = resolve(f.certs);
  if (!existsSync(dir)) throw new GatewayUsageError(`--certs ${dir} does not exist`);
  const crts = readdirSync(dir).filter((n) => n.endsWith('.crt') && n !== 'openkcm-ca.crt');
  if (crts.length !== 1) {
    throw new GatewayUsageError(`--certs ${dir} must hold exactly one <tenant>.<service>.crt besides openkcm-ca.crt (found ${crts.length}); or pass --cert/--key/--ca`);
  }
  const base = crts[0]!.slice(0, -4);
  return { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`), ca: f.ca ?? join(dir, 'openkcm-ca.crt') };
}

export function gatewayOptionsFromFlags(f: GatewayFlags, logger: GatewayOptions['logger']): GatewayOptions {
  if (f.core === undefined) throw new GatewayUsageError('--core HOST:PORT (the KMIP address of openkcm serve or core) is required');
  const core = hostPort(f.core, '--core');
  let listen: Listen;
  const l = f.listen ?? '127.0.0.1:8100';
  if (l.startsWith('unix:')) listen = { kind: 'unix', path: resolve(l.slice(5)) };
  else {
    const hp = hostPort(l, '--listen');
    // Plain HTTP answers plaintext data keys: never beyond this host (issue 11 §2).
    if (!['127.0.0.1', '::1', 'localhost'].includes(hp.host)) {
      throw new GatewayUsageError(`--listen ${l}: the data-key API answers plaintext keys over plain HTTP, so it listens on 127.0.0.1, ::1 or unix:/path only`);
    }
    listen = { kind: 'tcp', ...hp };
  }
  const files = certFiles(f);
  const cert = readPem(files.cert, 'certificate');
  const key = readPem(files.key, 'private key');
  const ca = readPem(files.ca, 'CA certificate');
  const id = gatewayIdentity(cert, files.cert);
  if (f.tokenFile === undefined) throw new GatewayUsageError('--token-file FILE is required: one line "<application-name> <token>" per application (token: openssl rand -hex 32)');
  const tokens = parseTokenFile(readPem(f.tokenFile, 'token file').toString('utf8'), f.tokenFile);
  const opts: GatewayOptions = {
    core: { ...core, ca, cert, key }, tenant: id.tenant, service: id.service, listen, tokens, logger,
  };
  if (f.services !== undefined) {
    // A local list on top of the Core's (which always decides, issue 11 §1): requests for
    // other services are refused here without a round trip.
    const list = [...new Set(f.services.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
    const bad = list.find((s) => !SERVICE_ID.test(s));
    if (list.length === 0 || bad !== undefined) throw new GatewayUsageError(`--services ${f.services}: expected service ids separated by commas${bad !== undefined ? ` ("${bad}" is not one)` : ''}`);
    opts.services = list;
  }
  const set = <K extends keyof GatewayOptions>(k: K, v: GatewayOptions[K] | undefined) => { if (v !== undefined) opts[k] = v; };
  set('cacheTtlMs', intFlag(f.cacheTtl, '--cache-ttl', 1, 3_600_000));
  set('cacheMaxEntries', intFlag(f.cacheMax, '--cache-max', 1, 10_000_000));
  set('poolSize', intFlag(f.pool, '--pool', 1, 64));
  set('maxBatchItems', intFlag(f.maxBatch, '--max-batch', 1, 1000));
  set('maxKeysPerItem', intFlag(f.maxKeysPerItem, '--max-keys-per-item', 1, 1024));
  set('flushDelayMs', intFlag(f.flushDelay, '--flush-delay', 0, 1000));
  set('probeIntervalMs', intFlag(f.probeInterval, '--probe-interval', 10, 250));
  set('l4MaxMessages', intFlag(f.l4MaxMessages, '--l4-max-messages', 1, 2 ** 32));
  set('l4MaxAgeMs', intFlag(f.l4MaxAge, '--l4-max-age', 1, 86_400_000));
  if (f.kmipListen !== undefined) {
    const hp = hostPort(f.kmipListen, '--kmip-listen');
    if (f.kmipCert === undefined || f.kmipKey === undefined) {
      throw new GatewayUsageError('--kmip-listen needs --kmip-cert and --kmip-key (the server certificate applications see; --kmip-ca defaults to the --ca)');
    }
    opts.kmipFront = {
      ...hp, cert: readPem(f.kmipCert, '--kmip-cert'), key: readPem(f.kmipKey, '--kmip-key'),
      ca: f.kmipCa !== undefined ? readPem(f.kmipCa, '--kmip-ca') : ca,
      acceptForeignCertificates: f.kmipCa !== undefined,
    };
  }
  return opts;
}

async function runGateway(f: GatewayFlags): Promise<void> {
  const level = (f.logLevel ?? process.env.OPENKCM_LOG_LEVEL ?? 'info') as (typeof LOG_LEVELS)[number];
  const log = createLogger({ name: 'openkcm-gateway', level });
  let gw: RunningGateway;
  let opts: GatewayOptions | undefined;
  try {
    opts = gatewayOptionsFromFlags(f, log);
    gw = await startGateway(opts);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const line = e instanceof GatewayUsageError || e instanceof TokenFileError ? err.message
      : err.code === 'EADDRINUSE' ? `the address is in use (${err.message}); choose another --listen / --kmip-listen`
        : err.code === 'EACCES' ? `cannot listen (${err.message}); choose another address or socket path` : undefined;
    process.stderr.write(`openkcm gateway: ${line ?? `cannot start: ${err.message}`}\n`);
    process.exit(line !== undefined ? EXIT_USAGE : 1);
  }
  const where = typeof gw.address === 'number' ? `http://127.0.0.1:${gw.address}` : `unix:${gw.address}`;
  const services = opts.services !== undefined ? `services ${opts.services.join(', ')}` : `service ${opts.service} and those the core allows it`;
  process.stderr.write(`OpenKCM gateway data-key API on ${where} for tenant ${opts.tenant}, ${services} (core ${f.core}).\n`);
  if (gw.kmipFront) process.stderr.write(`OpenKCM gateway KMIP front listening on port ${gw.kmipFront.port}.\n`);
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'shutting down');
    gw.close().catch((e) => { log.error({ err: e }, 'error during shutdown'); process.exitCode = 1; }).finally(() => log.flush?.());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run a Krypton Gateway next to applications: data keys made locally, wrapped by the core under L3 (issue 11)')
    .option('--core <host:port>', 'KMIP address of the core (openkcm serve or openkcm core)')
    .option('--listen <addr>', 'data-key API: 127.0.0.1:PORT or unix:/path (default 127.0.0.1:8100)')
    .option('--certs <dir>', 'directory written by kmipctl cert issue --role gateway (<tenant>.<service>.crt/.key, openkcm-ca.crt)')
    .option('--cert <file>', "the gateway's certificate (role gateway)")
    .option('--key <file>', 'its private key')
    .option('--ca <file>', "CA certificate of the core (OpenKCM's CA)")
    .option('--token-file <file>', 'application bearer tokens, one "<name> <token>" per line')
    .option('--services <list>', "serve only these services, comma-separated (default: every service the core lets this gateway act for)")
    .option('--kmip-listen <host:port>', 'also serve a KMIP front (TTLV over mutual TLS) forwarding to the core')
    .option('--kmip-cert <file>', 'server certificate of the KMIP front')
    .option('--kmip-key <file>', 'its private key')
    .option('--kmip-ca <file>', 'CA of the application certificates (default --ca)')
    .option('--cache-ttl <ms>', `lifetime of a cached unwrapped key (default ${GATEWAY_DEFAULTS.cacheTtlMs})`)
    .option('--cache-max <n>', `cached keys at most (default ${GATEWAY_DEFAULTS.cacheMaxEntries})`)
    .option('--pool <n>', `connections to the core (default ${GATEWAY_DEFAULTS.poolSize})`)
    .option('--max-batch <n>', `batch items per message to the core (default ${GATEWAY_DEFAULTS.maxBatchItems})`)
    .option('--max-keys-per-item <n>', `data keys of one service and context wrapped by one batch item, 1 to 1024 (default ${GATEWAY_DEFAULTS.maxKeysPerItem}; 1 for a core without bulk wrap)`)
    .option('--flush-delay <ms>', `wait at most this long to fill a batch (default ${GATEWAY_DEFAULTS.flushDelayMs})`)
    .option('--probe-interval <ms>', `reconnection period of the core status watch (status probe of a core without it), 10 to 250 (default ${GATEWAY_DEFAULTS.probeIntervalMs})`)
    .option('--l4-max-messages <n>', `envelopes sealed by one data key at most (default ${GATEWAY_DEFAULTS.l4MaxMessages})`)
    .option('--l4-max-age <ms>', `age of an envelope data key at most (default ${GATEWAY_DEFAULTS.l4MaxAgeMs})`)
    .addOption(new Option('--log-level <level>', 'log level (env OPENKCM_LOG_LEVEL)').choices([...LOG_LEVELS]))
    .action(async (flags: GatewayFlags) => runGateway(flags));
}
