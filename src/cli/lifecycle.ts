// Start-up and shutdown steps shared by the server programs (`openkcm serve`, `openkcm cmk`,
// `openkcm core`): configuration errors as one line and exit 2 (never a stack trace), the
// exporters' paths, the development-PKI layout check, and the signal handling. `openkcm cmk`
// loads this module, so it must never import the runtime, the hierarchy engine or an HSM
// provider (test/link/cmk-process.test.ts checks the module list of a running CMK).
import { resolve } from 'node:path';
import { loadConfig, ConfigError, type OpenKcmConfig } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { devPkiFiles, ensureDevPki } from '../server/devpki.ts';
import { AuditConfigError, validateExportConfig, type ExporterConfig } from '../audit/index.ts';
import { resolveSsoSettings, type SsoSettings } from '../server/sso.ts';

/** Exit code of bad input (flag, env, configuration file): the operator has something to fix. */
export const EXIT_USAGE = 2;

/** One line on stderr, prefixed by the program (`openkcm`, `openkcm cmk`), then exit 2. */
export function usageExit(program: string, msg: string): never {
  process.stderr.write(`${program}: ${msg}\n`);
  process.exit(EXIT_USAGE);
}

/** loadConfig, with a ConfigError reported as a usage error of `program`. */
export function loadConfigOrExit(program: string, flags: object): OpenKcmConfig {
  try {
    return loadConfig({ flags: flags as Record<string, unknown>, env: process.env });
  } catch (e) {
    if (e instanceof ConfigError) usageExit(program, e.message);
    throw e;
  }
}

/** Relative paths of an exporter are relative to the config file, like every path in it. */
function withBaseDir(x: ExporterConfig, base: string): ExporterConfig {
  if (x.type === 'file') return { ...x, path: resolve(base, x.path) };
  if (x.tls === undefined) return x;
  const tls = { ...x.tls };
  for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
    const v = tls[k];
    if (v !== undefined) tls[k] = resolve(base, v);
  }
  return { ...x, tls };
}

/**
 * The SIEM exporters (issue 7), checked before anything starts: a typo in audit.exporters is
 * a usage error (exit 2) naming the key, like any other bad setting.
 */
export function exporterConfigsOrExit(program: string, config: OpenKcmConfig): ExporterConfig[] {
  try {
    return validateExportConfig(config.audit.exporters, 'audit.exporters').map((x) => withBaseDir(x, config.audit.exportersBaseDir));
  } catch (e) {
    if (e instanceof AuditConfigError) usageExit(program, `configuration ${config.audit.exportersFrom} ${e.message}`);
    throw e;
  }
}

/** The single sign-on settings with the client secret read from its reference; a missing secret is one line and exit 2. */
export function ssoSettingsOrExit(program: string, config: OpenKcmConfig): SsoSettings | undefined {
  if (config.sso === undefined) return undefined;
  try {
    return resolveSsoSettings(config.sso, process.env);
  } catch (e) {
    return usageExit(program, `configuration: ${(e as Error).message}`);
  }
}

/**
 * The development-PKI file layout under the certificates directory, and whether the TLS
 * settings point at it. Only that layout is ever generated: a deployment that names its own
 * certificates must never get a self-made CA silently.
 */
export function devPkiLayout(config: OpenKcmConfig): { files: ReturnType<typeof devPkiFiles>; usesDefaultFiles: boolean } {
  const files = devPkiFiles(config.certsDir);
  const usesDefaultFiles = config.tls.caFile === files.caCert && config.tls.certFile === files.serverCert
    && config.tls.keyFile === files.serverKey;
  return { files, usesDefaultFiles };
}

/** With the development PKI on and the default layout in use, writes its files when none exist yet (ensureDevPki: a partial set is an error, never overwritten). */
export async function ensureDefaultDevPki(config: OpenKcmConfig, usesDefaultFiles: boolean, log: Logger): Promise<void> {
  if (!(config.devPki && usesDefaultFiles)) return;
  // The Suite B 192-bit profile needs P-384 certificates (RFC 6460 §4); P-256 serves the others.
  const { generated } = await ensureDevPki(config.certsDir, config.tls.profile === 'suiteb-192' ? { algorithm: 'ec-p384' } : {});
  if (generated) log.warn({ event: 'dev_pki_generated', dir: config.certsDir }, 'generated a DEVELOPMENT PKI (CA key on disk): for development only');
}

/**
 * SIGINT/SIGTERM: the first signal runs `close` (the program's components in its order), a
 * failure there sets exit code 1; a second signal while closing forces the exit.
 */
export function closeOnSignals(log: Logger, close: () => Promise<void>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    stopping = true;
    log.info({ signal }, 'shutting down');
    try {
      await close();
    } catch (e) {
      log.error({ err: e }, 'error during shutdown');
      process.exitCode = 1;
    }
    log.flush?.();
  };
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    void stop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
