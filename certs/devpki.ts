// Development PKI generator, command-line entry: `node --import tsx certs/devpki.ts [DIR]`
// writes ca.crt/ca.key, server.crt/server.key, client.crt/client.key into DIR (default:
// this folder) when they are absent. The implementation is src/server/devpki.ts, which
// `openkcm serve` also uses; the generated files are git-ignored.
import { fileURLToPath } from 'node:url';
import { ensureDevPki } from '../src/server/devpki.ts';

export * from '../src/server/devpki.ts';

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? fileURLToPath(new URL('.', import.meta.url));
  const { files, generated } = await ensureDevPki(dir);
  console.log(generated ? `development PKI written to ${files.dir}` : `development PKI already present in ${files.dir}`);
}
