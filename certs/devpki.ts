// Development PKI generator, command-line entry: `node --import tsx certs/devpki.ts [DIR]
// [ec-p256|ec-p384|rsa-2048]` writes ca.crt/ca.key, server.crt/server.key, client.crt/client.key
// into DIR (default: this folder) when they are absent; ec-p384 is for tls.profile suiteb-192. The implementation is src/server/devpki.ts, which
// `openkcm serve` also uses; the generated files are git-ignored.
import { fileURLToPath } from 'node:url';
import { DEV_KEY_ALGORITHMS, ensureDevPki, type DevKeyAlgorithm } from '../src/server/devpki.ts';

export * from '../src/server/devpki.ts';

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? fileURLToPath(new URL('.', import.meta.url));
  const alg = process.argv[3];
  if (alg !== undefined && !(DEV_KEY_ALGORITHMS as readonly string[]).includes(alg)) {
    console.error(`devpki: unknown key algorithm ${alg}; expected ${DEV_KEY_ALGORITHMS.join(', ')}`);
    process.exit(2);
  }
  const { files, generated } = await ensureDevPki(dir, alg !== undefined ? { algorithm: alg as DevKeyAlgorithm } : {});
  console.log(generated ? `development PKI written to ${files.dir}` : `development PKI already present in ${files.dir}`);
}
