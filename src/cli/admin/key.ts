// kmipctl key create|get|locate|encrypt|decrypt|revoke|destroy: KMIP 2.1 requests over mutual
// TLS to the KMIP port (src/client KmipClient), for operators who need one operation without
// writing a client. The commands are declared here; what they do is in key-run.ts, loaded
// when one runs, with the KMIP client, the codec and the spec's tables (issue 14 §1:
// `kmipctl --help` parses none of them).
import type { Command } from 'commander';
import { leaf, type CommandContext } from './common.ts';

type KeyAction = (ctx: CommandContext, args: string[], opts: Record<string, unknown>) => Promise<void>;
const run = (name: string): KeyAction => async (ctx, args, opts) => (await import('./key-run.ts')).KEY_ACTIONS[name]!(ctx, args, opts);
const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerKeyCommands(program: Command): void {
  const g = program.command('key').description('KMIP operations on keys over mutual TLS (the KMIP port, --kmip)');

  leaf(g, 'create', 'create a symmetric key (KMIP Create)', run('create'), (c) => c.option('--algorithm <alg>', 'AES (default), TripleDES, HMACSHA256…').option('--length <bits>', 'key length in bits (default 256)')
    .option('--usage <masks>', 'usage mask names, comma-separated (default Encrypt,Decrypt)')
    .option('--name <name>', 'Name attribute (repeatable)', collect).option('--activate', 'activate it right away (needed before Encrypt)'));

  leaf(g, 'get <uid>', 'get a key (KMIP Get); the key material only with --material', run('get'), (c) => c.option('--material', 'also print the key material (hex)'));

  leaf(g, 'locate', 'find objects (KMIP Locate), newest first', run('locate'), (c) => c.option('--name <name>', 'with this Name').option('--type <objectType>', 'of this object type (SymmetricKey, PrivateKey…)').option('--max <n>', 'at most n'));

  leaf(g, 'encrypt <uid>', 'encrypt with a key (KMIP Encrypt, AES-GCM by default)', run('encrypt'), (c) => c.option('--data <hex>', 'plaintext in hex').option('--in <file>', 'plaintext from a file')
    .option('--mode <mode>', 'block cipher mode (default GCM)').option('--iv <hex>', 'IV/nonce (default: the server picks one)'));

  leaf(g, 'decrypt <uid>', 'decrypt with a key (KMIP Decrypt)', run('decrypt'), (c) => c.option('--data <hex>', 'ciphertext in hex').option('--in <file>', 'ciphertext from a file')
    .option('--mode <mode>', 'block cipher mode (default GCM)').option('--iv <hex>', 'IV/nonce').option('--tag <hex>', 'authentication tag (GCM)')
    .option('--raw', 'write the plaintext bytes instead of hex'));

  leaf(g, 'revoke <uid>', 'revoke a key (KMIP Revoke)', run('revoke'), (c) => c.option('--reason <code>', 'Unspecified (default), KeyCompromise, Superseded, CessationOfOperation…').option('--message <text>', 'revocation message'));

  leaf(g, 'destroy <uid>', 'destroy a key (KMIP Destroy; an active key must be revoked first)', run('destroy'));
}
