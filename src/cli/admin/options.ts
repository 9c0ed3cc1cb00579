// The connection options every kmipctl admin and key command takes, with the environment
// variables and defaults behind them. Apart from connection.ts (which opens the connection
// and loads node:https) so that declaring the commands — all that `kmipctl --help` does —
// loads neither (issue 14 §1: `kmipctl --help` under 150 ms).
import type { Command } from 'commander';

export const DEFAULT_ADMIN_SERVER = 'https://127.0.0.1:5697';
export const DEFAULT_KMIP_SERVER = '127.0.0.1:5696';

export const ENV = { server: 'OPENKCM_ADMIN_SERVER', kmip: 'OPENKCM_ADMIN_KMIP', cert: 'OPENKCM_ADMIN_CERT', key: 'OPENKCM_ADMIN_KEY', ca: 'OPENKCM_ADMIN_CA' } as const;
export const TOKEN_ENV = 'OPENKCM_ADMIN_TOKEN';
export const TOKEN_FILE_ENV = 'OPENKCM_ADMIN_TOKEN_FILE';

export interface ConnectionFlags {
  server?: string;
  kmip?: string;
  cert?: string;
  key?: string;
  ca?: string;
  adminConfig?: string;
  tokenFile?: string;
  json?: boolean;
}

/** Adds the connection options (and --json) to a command. */
export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', `admin API URL (env ${ENV.server}; default ${DEFAULT_ADMIN_SERVER})`)
    .option('--kmip <host:port>', `KMIP endpoint for key commands (env ${ENV.kmip}; default ${DEFAULT_KMIP_SERVER})`)
    .option('--cert <file>', `client certificate, PEM (env ${ENV.cert}; default certs/client.crt)`)
    .option('--key <file>', `client private key, PEM (env ${ENV.key}; default certs/client.key)`)
    .option('--ca <file>', `CA certificate of the server, PEM (env ${ENV.ca}; default certs/ca.crt)`)
    .option('--admin-config <file>', 'JSON file with server, kmip, cert, key, ca (env OPENKCM_ADMIN_CONFIG)')
    .option('--token-file <file>', `a file holding a bearer token of the IdP, used instead of --cert/--key on a server with single sign-on (env ${TOKEN_FILE_ENV}, or the token itself in ${TOKEN_ENV})`)
    .option('--json', 'print the answer as JSON');
}
