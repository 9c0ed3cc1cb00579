// The L1 provider factory (DESIGN.md §2): one typed configuration picks the software,
// pkcs11, aws-kms, kmip, vault-transit, azure-keyvault or gcp-kms provider. The provider modules are imported on
// demand, and they in turn import pkcs11js / @aws-sdk/client-kms / @google-cloud/kms on demand (DESIGN.md §6.9),
// so a server on the software provider loads neither native addon nor SDK, nor the KMIP
// client the kmip provider drives.
import type { AwsKmsL1Options } from './aws-kms.ts';
import type { AzureKeyVaultL1Options } from './azure-keyvault.ts';
import type { KmipL1Options } from './kmip.ts';
import type { VaultTransitL1Options } from './vault-transit.ts';
import type { GcpKmsL1Options } from './gcp-kms.ts';
import type { Pkcs11L1Options, Pkcs11Mechanism } from './pkcs11.ts';
import { L1Error } from './errors.ts';
import { observedL1 } from './observe.ts';
import type { L1Provider } from './types.ts';

export { L1Error } from './errors.ts';
export { observeL1Calls, observedL1, type L1CallObserver, type L1Operation } from './observe.ts';
export type { L1Description, L1Provider, L1Status } from './types.ts';

export interface SoftwareL1Config {
  provider: 'software';
  /** The development key file (created 0600 when absent). */
  keyFile: string;
}

export interface Pkcs11L1Config {
  provider: 'pkcs11';
  library?: string;
  tokenLabel: string;
  /** The PIN by reference only: an environment variable name or a file path. */
  pinEnv?: string;
  pinFile?: string;
  keyLabel?: string;
  /** CKA_ID in hex. */
  keyId?: string;
  mechanism?: Pkcs11Mechanism;
  maxSessions?: number;
}

export interface AwsKmsL1Config {
  provider: 'aws-kms';
  keyId: string;
  region?: string;
  endpoint?: string;
  timeoutMs?: number;
  /** Credentials by reference (environment variable names); default: the SDK's chain. */
  accessKeyIdEnv?: string;
  secretAccessKeyEnv?: string;
  sessionTokenEnv?: string;
}

/** The kmip provider's options (src/hsm/kmip.ts), one field per setting. */
export interface KmipL1Config extends KmipL1Options {
  provider: 'kmip';
}

/** The vault-transit provider's options (src/hsm/vault-transit.ts); `env` is the caller's, not config. */
export interface VaultTransitL1Config extends Omit<VaultTransitL1Options, 'env'> {
  provider: 'vault-transit';
}

/** The azure-keyvault provider's options (src/hsm/azure-keyvault.ts); `env` is the caller's, not config. */
export interface AzureKeyVaultL1Config extends Omit<AzureKeyVaultL1Options, 'env'> {
  provider: 'azure-keyvault';
}

/** The gcp-kms provider's options (src/hsm/gcp-kms.ts); `env` is the caller's, not config. */
export interface GcpKmsL1Config extends Omit<GcpKmsL1Options, 'env'> {
  provider: 'gcp-kms';
}

export type L1Config = SoftwareL1Config | Pkcs11L1Config | AwsKmsL1Config | KmipL1Config | VaultTransitL1Config | AzureKeyVaultL1Config | GcpKmsL1Config;

/** Every provider name, in the order error messages list them. */
export const L1_PROVIDERS = ['software', 'pkcs11', 'aws-kms', 'kmip', 'vault-transit', 'azure-keyvault', 'gcp-kms'] as const;

type FieldType = 'string' | 'integer';
const FIELDS: Record<L1Config['provider'], Record<string, { type: FieldType; required?: boolean }>> = {
  software: { keyFile: { type: 'string', required: true } },
  pkcs11: {
    library: { type: 'string' },
    tokenLabel: { type: 'string', required: true },
    pinEnv: { type: 'string' },
    pinFile: { type: 'string' },
    keyLabel: { type: 'string' },
    keyId: { type: 'string' },
    mechanism: { type: 'string' },
    maxSessions: { type: 'integer' },
  },
  'aws-kms': {
    keyId: { type: 'string', required: true },
    region: { type: 'string' },
    endpoint: { type: 'string' },
    timeoutMs: { type: 'integer' },
    accessKeyIdEnv: { type: 'string' },
    secretAccessKeyEnv: { type: 'string' },
    sessionTokenEnv: { type: 'string' },
  },
  kmip: {
    host: { type: 'string', required: true },
    port: { type: 'integer' },
    keyUid: { type: 'string' },
    keyName: { type: 'string' },
    caFile: { type: 'string', required: true },
    certFile: { type: 'string', required: true },
    clientKeyFile: { type: 'string', required: true },
    servername: { type: 'string' },
    timeoutMs: { type: 'integer' },
  },
  'vault-transit': {
    address: { type: 'string', required: true },
    keyName: { type: 'string', required: true },
    mount: { type: 'string' },
    namespace: { type: 'string' },
    tokenEnv: { type: 'string' },
    tokenFile: { type: 'string' },
    roleIdEnv: { type: 'string' },
    roleIdFile: { type: 'string' },
    secretIdEnv: { type: 'string' },
    secretIdFile: { type: 'string' },
    approleMount: { type: 'string' },
    caFile: { type: 'string' },
    timeoutMs: { type: 'integer' },
  },
  'azure-keyvault': {
    vaultUrl: { type: 'string', required: true },
    keyName: { type: 'string', required: true },
    keyVersion: { type: 'string' },
    credentialType: { type: 'string', required: true },
    tenantId: { type: 'string' },
    clientId: { type: 'string' },
    clientSecretEnv: { type: 'string' },
    clientCertificateFile: { type: 'string' },
    federatedTokenFile: { type: 'string' },
    authorityHost: { type: 'string' },
    caFile: { type: 'string' },
    timeoutMs: { type: 'integer' },
  },
  'gcp-kms': {
    keyName: { type: 'string', required: true },
    endpoint: { type: 'string' },
    timeoutMs: { type: 'integer' },
    credentialsFile: { type: 'string' },
    credentialsEnv: { type: 'string' },
  },
};

/** Fields that would hold a secret in clear; the config names where the secret is instead. */
const SECRET_VALUE_FIELDS: Record<string, string> = {
  pin: 'a PIN value is not accepted in configuration; name an environment variable (pinEnv) or a file (pinFile)',
  userPin: 'a PIN value is not accepted in configuration; name an environment variable (pinEnv) or a file (pinFile)',
  soPin: 'a PIN value is not accepted in configuration; name an environment variable (pinEnv) or a file (pinFile)',
  password: 'a secret value is not accepted in configuration; name an environment variable or a file',
  accessKeyId: "credential values are not accepted in configuration; use the SDK's default chain or name environment variables (accessKeyIdEnv, secretAccessKeyEnv)",
  secretAccessKey: "credential values are not accepted in configuration; use the SDK's default chain or name environment variables (accessKeyIdEnv, secretAccessKeyEnv)",
  sessionToken: "credential values are not accepted in configuration; use the SDK's default chain or name environment variables (sessionTokenEnv)",
  credentials: "credential values are not accepted in configuration; use the SDK's default chain or name environment variables (accessKeyIdEnv, secretAccessKeyEnv)",
  key: 'key material is not accepted in configuration; the software provider reads it from keyFile',
  token: 'a token value is not accepted in configuration; name an environment variable (tokenEnv) or a file (tokenFile)',
  roleId: 'AppRole credentials are not accepted in configuration; name environment variables or files (roleIdEnv/roleIdFile, secretIdEnv/secretIdFile)',
  secretId: 'AppRole credentials are not accepted in configuration; name environment variables or files (roleIdEnv/roleIdFile, secretIdEnv/secretIdFile)',
  clientKey: 'a private key is not accepted in configuration; name its PEM file (clientKeyFile)',
  clientSecret: 'a client secret is not accepted in configuration; name an environment variable (clientSecretEnv), a certificate file (clientCertificateFile), or use a managed or workload identity',
  clientCertificate: 'a certificate with its private key is not accepted in configuration; name its PEM file (clientCertificateFile)',
  federatedToken: 'a federated token is not accepted in configuration; name its file (federatedTokenFile)',
};
/** The same, worded for gcp-kms, whose credentials are a JSON document named by reference. */
const GCP_CREDENTIAL_FIELDS = ['credentials', 'privateKey', 'private_key', 'apiKey', 'accessToken'];
const GCP_CREDENTIAL_WHY = 'credential values are not accepted in configuration; name a credentials file (credentialsFile) or an environment variable (credentialsEnv), or use Application Default Credentials';

/**
 * Checks an L1 configuration as read from a file or built by the CLI, naming the first bad
 * field (`l1.<field>: …`). Unknown fields are refused: a typo must not silently fall back
 * to a default. Provider-specific rules (exactly one of pinEnv/pinFile, key id syntax,
 * region names…) are checked again by each provider's open().
 */
export function parseL1Config(raw: unknown): L1Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new L1Error('l1: the L1 configuration must be an object');
  const obj = { ...(raw as Record<string, unknown>) };
  const provider = obj.provider;
  if (!(L1_PROVIDERS as readonly unknown[]).includes(provider)) {
    throw new L1Error(`l1.provider: must be ${L1_PROVIDERS.slice(0, -1).join(', ')} or ${L1_PROVIDERS.at(-1)}, not ${JSON.stringify(provider)}`);
  }
  const p = provider as L1Config['provider'];
  const fields = FIELDS[p];
  // A KMIP Unique Identifier is a Text String, but many servers number their objects ("1",
  // "42") and kmipctl --set types digits as numbers: take the digits as the identifier.
  if (p === 'kmip') {
    for (const f of ['keyUid', 'keyName'] as const) if (typeof obj[f] === 'number' && Number.isInteger(obj[f])) obj[f] = String(obj[f]);
  }
  for (const [name, value] of Object.entries(obj)) {
    if (name === 'provider') continue;
    const why = p === 'gcp-kms' && GCP_CREDENTIAL_FIELDS.includes(name) ? GCP_CREDENTIAL_WHY : SECRET_VALUE_FIELDS[name];
    if (why !== undefined) throw new L1Error(`l1.${name}: ${why}`);
    const spec = fields[name];
    if (spec === undefined) throw new L1Error(`l1.${name}: unknown field for provider ${provider} (known: ${Object.keys(fields).join(', ')})`);
    if (value === undefined) continue;
    if (spec.type === 'string' && (typeof value !== 'string' || value === '')) throw new L1Error(`l1.${name}: must be a non-empty string`);
    if (spec.type === 'integer' && (typeof value !== 'number' || !Number.isInteger(value))) throw new L1Error(`l1.${name}: must be an integer`);
  }
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.required && obj[name] === undefined) throw new L1Error(`l1.${name}: required for provider ${provider}`);
  }
  if (provider === 'pkcs11') {
    if ((obj.pinEnv === undefined) === (obj.pinFile === undefined)) throw new L1Error('l1.pinEnv/pinFile: give exactly one of them (the PIN by reference)');
    if ((obj.keyLabel === undefined) === (obj.keyId === undefined)) throw new L1Error('l1.keyLabel/keyId: give exactly one of them');
    if (obj.mechanism !== undefined && !['auto', 'aes-gcm', 'aes-kwp'].includes(obj.mechanism as string)) {
      throw new L1Error(`l1.mechanism: must be auto, aes-gcm or aes-kwp, not ${JSON.stringify(obj.mechanism)}`);
    }
  }
  if (provider === 'kmip' && (obj.keyUid === undefined) === (obj.keyName === undefined)) {
    throw new L1Error('l1.keyUid/keyName: give exactly one of them (the key on the other KMIP server)');
  }
  if (provider === 'vault-transit') {
    const token = obj.tokenEnv !== undefined || obj.tokenFile !== undefined;
    const approle = obj.roleIdEnv !== undefined || obj.roleIdFile !== undefined || obj.secretIdEnv !== undefined || obj.secretIdFile !== undefined;
    if (token === approle) throw new L1Error('l1.tokenEnv/tokenFile/roleId*: give a token reference (tokenEnv or tokenFile) or AppRole references (roleIdEnv|roleIdFile and secretIdEnv|secretIdFile), not both or neither');
    if (token && obj.tokenEnv !== undefined && obj.tokenFile !== undefined) throw new L1Error('l1.tokenEnv/tokenFile: give exactly one of them');
    if (approle && (obj.roleIdEnv === undefined) === (obj.roleIdFile === undefined)) throw new L1Error('l1.roleIdEnv/roleIdFile: give exactly one of them');
    if (approle && (obj.secretIdEnv === undefined) === (obj.secretIdFile === undefined)) throw new L1Error('l1.secretIdEnv/secretIdFile: give exactly one of them');
  }
  if (provider === 'azure-keyvault' && !['client-secret', 'client-certificate', 'managed-identity', 'workload-identity'].includes(obj.credentialType as string)) {
    throw new L1Error(`l1.credentialType: must be client-secret, client-certificate, managed-identity or workload-identity, not ${JSON.stringify(obj.credentialType)}`);
  }
  // The shape only (a CryptoKey, not a version); gcp-kms.ts checks each id's syntax at open.
  if (provider === 'gcp-kms' && !/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/.test(obj.keyName as string)) {
    throw new L1Error(`l1.keyName: ${JSON.stringify(obj.keyName)} is not a CryptoKey resource name (projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>)`);
  }
  if (provider === 'gcp-kms' && obj.credentialsFile !== undefined && obj.credentialsEnv !== undefined) {
    throw new L1Error('l1.credentialsFile/credentialsEnv: give at most one of them (neither: Application Default Credentials)');
  }
  return { ...obj } as unknown as L1Config;
}

export interface L1OpenDeps {
  /** Where pinEnv and the credential *Env names are looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Validates `cfg` and opens the provider it names. Errors are L1Error with the field or cause
 * named. The provider reports its calls to the process's L1 observer (observe.ts: metrics).
 */
export async function openL1Provider(cfg: L1Config, deps: L1OpenDeps = {}): Promise<L1Provider> {
  return observedL1(await openUnobserved(cfg, deps));
}

async function openUnobserved(cfg: L1Config, deps: L1OpenDeps): Promise<L1Provider> {
  const c = parseL1Config(cfg);
  switch (c.provider) {
    case 'software': {
      const { SoftwareL1Provider } = await import('./software.ts');
      return SoftwareL1Provider.open(c.keyFile);
    }
    case 'pkcs11': {
      const { Pkcs11L1Provider } = await import('./pkcs11.ts');
      const { provider: _p, ...rest } = c;
      const opts: Pkcs11L1Options = { ...rest };
      if (deps.env !== undefined) opts.env = deps.env;
      return Pkcs11L1Provider.open(opts);
    }
    case 'aws-kms': {
      const { AwsKmsL1Provider } = await import('./aws-kms.ts');
      const { provider: _p, ...rest } = c;
      const opts: AwsKmsL1Options = { ...rest };
      if (deps.env !== undefined) opts.env = deps.env;
      return AwsKmsL1Provider.open(opts);
    }
    case 'kmip': {
      const { KmipL1Provider } = await import('./kmip.ts');
      const { provider: _p, ...rest } = c;
      const opts: KmipL1Options = { ...rest };
      return KmipL1Provider.open(opts);
    }
    case 'vault-transit': {
      const { VaultTransitL1Provider } = await import('./vault-transit.ts');
      const { provider: _p, ...rest } = c;
      const opts: VaultTransitL1Options = { ...rest };
      if (deps.env !== undefined) opts.env = deps.env;
      return VaultTransitL1Provider.open(opts);
    }
    case 'azure-keyvault': {
      const { AzureKeyVaultL1Provider } = await import('./azure-keyvault.ts');
      const { provider: _p, ...rest } = c;
      const opts: AzureKeyVaultL1Options = { ...rest };
      if (deps.env !== undefined) opts.env = deps.env;
      return AzureKeyVaultL1Provider.open(opts);
    }
    case 'gcp-kms': {
      const { GcpKmsL1Provider } = await import('./gcp-kms.ts');
      const { provider: _p, ...rest } = c;
      const opts: GcpKmsL1Options = { ...rest };
      if (deps.env !== undefined) opts.env = deps.env;
      return GcpKmsL1Provider.open(opts);
    }
  }
}
