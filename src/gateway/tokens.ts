// Per-application bearer tokens of the data-key API (issue 11 §2). The token file holds one
// application per line, `<name> <token>`; blank lines and lines starting with '#' are
// ignored. Tokens are kept only as SHA-256 digests and compared by digest, so the
// comparison time says nothing about a token's prefix.
import { createHash } from 'node:crypto';

/** Shorter tokens are guessable; 32 characters of a random token are ≥ 128 bits in base64/hex. */
export const MIN_TOKEN_CHARS = 32;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

const digest = (t: string) => createHash('sha256').update(t).digest('hex');

export function parseTokenFile(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new TokenFileError(`${file} line ${i + 1}: expected "<application-name> <token>"`);
    const [name, token] = parts as [string, string];
    if (!NAME.test(name)) throw new TokenFileError(`${file} line ${i + 1}: application name "${name}" must be letters, digits, '.', '_' or '-'`);
    if (token.length < MIN_TOKEN_CHARS) {
      throw new TokenFileError(`${file} line ${i + 1}: the token of ${name} has ${token.length} characters; use at least ${MIN_TOKEN_CHARS} (e.g. openssl rand -hex 32)`);
    }
    const d = digest(token);
    if (out.has(d)) throw new TokenFileError(`${file} line ${i + 1}: the token of ${name} is used twice`);
    out.set(d, name);
  });
  if (out.size === 0) throw new TokenFileError(`${file} holds no token: add a line "<application-name> <token>"`);
  return out;
}

/** The application a bearer token belongs to, or undefined. */
export function applicationOf(tokens: ReadonlyMap<string, string>, header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m ? tokens.get(digest(m[1]!)) : undefined;
}
