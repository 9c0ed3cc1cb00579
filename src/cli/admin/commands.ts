// The kmipctl admin and key commands as declared to commander: names, arguments, options and
// descriptions, and nothing of what they do. Each family's actions live in their own file
// (tenant.ts, cert.ts, key-run.ts, …), imported by the action when a command runs, together
// with common.ts (the admin API client, node:https). `kmipctl --help` and `kmipctl <group>
// --help` load this file and options.ts only (issue 14 §1: `kmipctl --help` under 150 ms;
// test/cli/lazy-help.test.ts keeps it so).
import type { Command } from 'commander';
import type { Action } from './common.ts';
import { withConnectionOptions } from './options.ts';

/** Loads a command's action (its module, on first use). */
type LoadAction = () => Promise<Action>;

/** Adds a leaf command with the connection options; its action is loaded when it runs. */
function leaf(parent: Command, spec: string, description: string, load: LoadAction, configure: (cmd: Command) => Command = (c) => c): Command {
  const cmd = configure(withConnectionOptions(parent.command(spec).description(description)));
  cmd.action(async (...a: unknown[]) => {
    const [{ runAction }, action] = await Promise.all([import('./common.ts'), load()]);
    await runAction(action, a);
  });
  return cmd;
}

/** The actions of one module (its ACTIONS), each loaded by name when its command runs. */
const actionsOf = <M extends { [K in keyof M]: Action }>(load: () => Promise<{ ACTIONS: M }>) =>
  (name: keyof M & string): LoadAction => async () => (await load()).ACTIONS[name];

const status = actionsOf(() => import('./status.ts'));
const tenant = actionsOf(() => import('./tenant.ts'));
const service = actionsOf(() => import('./service.ts'));
const identity = actionsOf(() => import('./identity.ts'));
const cert = actionsOf(() => import('./cert.ts'));
const role = actionsOf(() => import('./role.ts'));
const grant = actionsOf(() => import('./grant.ts'));
const l1 = actionsOf(() => import('./l1.ts'));
const audit = actionsOf(() => import('./audit.ts'));
const key = actionsOf(() => import('./key-run.ts'));

/** A repeatable option's values, in order. */
const collect = (v: string, prev: string[] = []) => [...prev, v];

interface Group {
  name: string;
  description: string;
  leaves(g: Command): void;
}

const GROUPS: readonly Group[] = [
  {
    name: 'tenant',
    description: 'tenants: create, list, show, seal, unseal, kill switch, L2 rotation',
    leaves: (g) => {
      leaf(g, 'create <tenant>', 'create a tenant, optionally pinned to regions (served only by the cores of those regions)', tenant('create'), (c) => c.option('--region <region>', 'a region whose cores serve the tenant (repeat for several)', collect)
        .option('--names <policy>', 'unique (default, KMIP/OASIS) or duplicates-allowed (several objects may share one Name)'));
      leaf(g, 'set-names <tenant> <policy>', "set whether a Name identifies one object of the tenant: unique or duplicates-allowed", tenant('setNames'));
      leaf(g, 'list', 'list tenants', tenant('list'));
      leaf(g, 'show <tenant>', 'show a tenant: state, services, L1 pointer, seal status', tenant('show'));
      leaf(g, 'seal <tenant>', "seal a tenant: its L2/L3 keys are zeroized in memory and its requests refused until unseal", tenant('seal'), (c) => c.option('--reason <text>', 'why (kept in the audit trail)'));
      leaf(g, 'unseal <tenant>', "unseal a tenant (asks its L1 to unwrap the tenant's L2)", tenant('unseal'));
      leaf(g, 'kill <tenant>', 'KILL SWITCH: remove the L1 pointer and seal the tenant at once; only `l1 set` brings it back', tenant('kill'), (c) => c.option('--reason <text>', 'why (kept in the audit trail)'));
      leaf(g, 'rotate-l2 <tenant>', "rotate the tenant's L2 key under its L1 (every L3 key is re-wrapped under the new L2)", tenant('rotateL2'));
    },
  },
  {
    name: 'service',
    description: 'services of a tenant; L3 key rotation and re-wrap',
    leaves: (g) => {
      leaf(g, 'create <tenant> <service>', 'create a service in a tenant', service('create'));
      leaf(g, 'list <tenant>', 'list the services of a tenant', service('list'));
      leaf(g, 'rotate <tenant> <service>', "rotate the service's L3 key (new objects use the new version; old ones stay readable)", service('rotate'));
      leaf(g, 'rewrap <tenant> [service]', "re-wrap stored objects under their service's current L3 key (the whole tenant when no service is given)", service('rewrap'));
    },
  },
  {
    name: 'identity',
    description: 'client certificate identities: (tenant, service, role) by fingerprint, subject or SAN URI',
    leaves: (g) => {
      leaf(g, 'add', 'map a client certificate to a tenant, service and role', identity('add'), (c) => c
        .requiredOption('--tenant <tenant>', 'tenant').requiredOption('--service <service>', 'service').requiredOption('--role <role>', 'role (admin, app, read-only, auditor or a custom one)')
        .option('--fingerprint <sha256>', 'SHA-256 fingerprint of the certificate (hex, colons allowed)')
        .option('--cert-file <pem>', 'compute the fingerprint from this certificate file')
        .option('--subject <pattern>', "subject pattern, e.g. 'CN=app-*, O=Acme'")
        .option('--san-uri <uri>', 'a SAN URI the certificate carries')
        .option('--also-services <list>', 'role gateway: the other services it may act for, comma-separated'));
      leaf(g, 'list', 'list identities', identity('list'), (c) => c.option('--tenant <tenant>', 'only this tenant'));
      leaf(g, 'set-services <id> [services]', "replace a gateway identity's other services in place (comma-separated; --none: its own service only)", identity('setServices'), (c) => c.option('--none', 'no other service: the gateway acts for its own service only'));
      leaf(g, 'remove <id>', 'remove an identity (to refuse a certificate but keep the record, use cert revoke)', identity('remove'));
    },
  },
  {
    name: 'cert',
    description: "client certificates signed by OpenKCM's CA",
    leaves: (g) => {
      leaf(g, 'issue', 'issue a client certificate for (tenant, service, role) — or for a core node of a region (--role core --region R) — register it, and write key + certificate', cert('issue'), (c) => c
        .option('--tenant <tenant>', 'tenant').option('--service <service>', 'service').option('--role <role>', 'role (core: a core node certificate, with --region)')
        .option('--also-services <list>', 'with --role gateway: the other services of the tenant it may act for, comma-separated')
        .option('--region <region>', 'with --role core: the region the node serves')
        .option('--name <node>', 'with --role core: the node name (default: generated)')
        .option('--out <dir>', 'directory for <tenant>.<service>.key/.crt and openkcm-ca.crt (default: current directory)')
        .option('--days <n>', 'lifetime in days (default 365, at most 825)')
        .option('--cn <name>', 'subject common name (default <service>.<tenant>)')
        .option('--algorithm <alg>', 'ec-p256 (default) or rsa-2048')
        .option('--force', 'overwrite existing files'));
      leaf(g, 'revoke', 'revoke a certificate: its identity is kept, marked revoked, and refused from now on', cert('revoke'), (c) => c
        .option('--serial <hex>', 'certificate serial number')
        .option('--fingerprint <sha256>', 'SHA-256 fingerprint')
        .option('--id <identity>', 'identity id')
        .option('--cert-file <pem>', 'the certificate file itself'));
    },
  },
  {
    name: 'role',
    description: 'roles: named sets of allowed KMIP operations',
    leaves: (g) => {
      leaf(g, 'create <role>', 'create a role', role('create'), (c) => c
        .requiredOption('--operations <ops>', 'comma-separated KMIP operation names (Create,Get,Encrypt…) or *')
        .option('--object-types <types>', 'limit to these object types (SymmetricKey,PrivateKey…)')
        .option('--object-groups <groups>', 'limit to objects in these object groups'));
      leaf(g, 'list', 'list roles', role('list'));
      leaf(g, 'show <role>', 'show a role', role('show'));
    },
  },
  {
    name: 'grant',
    description: "grants between services of a tenant (the owner's objects, the other's operations)",
    leaves: (g) => {
      leaf(g, 'add <tenant>', 'let service --to run --operations on the objects of service --from', grant('add'), (c) => c.requiredOption('--from <service>', 'the service owning the objects').requiredOption('--to <service>', 'the service given access')
        .requiredOption('--operations <ops>', 'comma-separated KMIP operation names or *'));
      leaf(g, 'list <tenant>', 'list the grants of a tenant', grant('list'));
      leaf(g, 'remove <tenant>', 'remove the grant from --from to --to', grant('remove'), (c) => c.requiredOption('--from <service>', 'owner service').requiredOption('--to <service>', 'service given access'));
    },
  },
  {
    name: 'l1',
    description: "the tenant's L1 pointer (its root key in an HSM or KMS); removing it is the kill switch",
    leaves: (g) => {
      leaf(g, 'set <tenant>', 'point the tenant at an L1 that answers "active" (also brings back a killed tenant)', l1('set'), (c) => c.requiredOption('--provider <provider>', 'software, pkcs11, aws-kms, kmip, vault-transit, azure-keyvault or gcp-kms')
        .option('--config <json>', 'provider configuration as JSON (references only: pinEnv, pinFile, *Env names, *File paths)')
        .option('--set <key=value>', 'one configuration field (repeatable)', collect));
      leaf(g, 'show <tenant>', "show the tenant's L1 pointer and seal status", l1('show'));
      leaf(g, 'remove <tenant>', 'remove the L1 pointer: the kill switch (the tenant is sealed at once)', l1('remove'));
      leaf(g, 'check <tenant>', "ask the tenant's L1 (or a candidate given with --provider) for its status", l1('check'), (c) => c.option('--provider <provider>', 'check a candidate instead of the stored pointer')
        .option('--config <json>', 'candidate configuration as JSON').option('--set <key=value>', 'one configuration field (repeatable)', collect));
    },
  },
  {
    name: 'audit',
    description: 'the hash-chained audit log',
    leaves: (g) => {
      leaf(g, 'tail', 'the newest audit records', audit('tail'), (c) => c.option('-n <count>', 'how many (default 20)'));
      leaf(g, 'verify', 'recompute the hash chain; names the first modified, deleted or reordered record', audit('verify'), (c) => c
        .option('--database-url <url>', "check the chain in a core's PostgreSQL vault (the region's chain) instead of asking the admin API")
        .option('--database <file>', 'check the chain in a SQLite database file (a core\'s vault, or a server\'s) instead of asking the admin API'));
      leaf(g, 'export', 'write audit records as JSON lines (all, or after --after SEQ)', audit('export'), (c) => c.option('--after <seq>', 'only records after this seq').option('--out <file>', 'write to a file instead of stdout'));
    },
  },
  {
    name: 'key',
    description: 'KMIP operations on keys over mutual TLS (the KMIP port, --kmip)',
    leaves: (g) => {
      leaf(g, 'create', 'create a symmetric key (KMIP Create)', key('create'), (c) => c.option('--algorithm <alg>', 'AES (default), TripleDES, HMACSHA256…').option('--length <bits>', 'key length in bits (default 256)')
        .option('--usage <masks>', 'usage mask names, comma-separated (default Encrypt,Decrypt)')
        .option('--name <name>', 'Name attribute (repeatable)', collect).option('--activate', 'activate it right away (needed before Encrypt)'));
      leaf(g, 'get <uid>', 'get a key (KMIP Get); the key material only with --material', key('get'), (c) => c.option('--material', 'also print the key material (hex)'));
      leaf(g, 'locate', 'find objects (KMIP Locate), newest first', key('locate'), (c) => c.option('--name <name>', 'with this Name').option('--type <objectType>', 'of this object type (SymmetricKey, PrivateKey…)').option('--max <n>', 'at most n'));
      leaf(g, 'encrypt <uid>', 'encrypt with a key (KMIP Encrypt, AES-GCM by default)', key('encrypt'), (c) => c.option('--data <hex>', 'plaintext in hex').option('--in <file>', 'plaintext from a file')
        .option('--mode <mode>', 'block cipher mode (default GCM)').option('--iv <hex>', 'IV/nonce (default: the server picks one)'));
      leaf(g, 'decrypt <uid>', 'decrypt with a key (KMIP Decrypt)', key('decrypt'), (c) => c.option('--data <hex>', 'ciphertext in hex').option('--in <file>', 'ciphertext from a file')
        .option('--mode <mode>', 'block cipher mode (default GCM)').option('--iv <hex>', 'IV/nonce').option('--tag <hex>', 'authentication tag (GCM)')
        .option('--raw', 'write the plaintext bytes instead of hex'));
      leaf(g, 'revoke <uid>', 'revoke a key (KMIP Revoke)', key('revoke'), (c) => c.option('--reason <code>', 'Unspecified (default), KeyCompromise, Superseded, CessationOfOperation…').option('--message <text>', 'revocation message'));
      leaf(g, 'destroy <uid>', 'destroy a key (KMIP Destroy; an active key must be revoked first)', key('destroy'));
    },
  },
];

/**
 * Adds every admin and key command to the program. `declareLeaves(group)` false leaves a
 * group's commands out (its name and description stay, for the program's help): kmipctl.ts
 * declares only the groups its command line names, as commander builds every command it is
 * given before it parses, and the ~50 leaves with their connection options cost more than
 * the rest of `kmipctl --help`.
 */
export function registerAdminCommands(program: Command, declareLeaves: (group: string) => boolean = () => true): void {
  leaf(program, 'status', 'server status: who you are, tenants and their seal state, audit head', status('status'));
  for (const group of GROUPS) {
    const g = program.command(group.name).description(group.description);
    if (declareLeaves(group.name)) group.leaves(g);
  }
}
