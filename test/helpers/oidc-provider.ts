// A real OpenID provider for the SSO tests (issue 14 §4): the `oidc-provider` package (an
// OpenID-certified implementation) on a loopback HTTP port, not a mock. Its development
// interactions (a login form that takes any user name, then a consent form) are completed
// with plain HTTP requests and a small cookie jar, exactly as a browser would post them.
//
// People (authorization code flow) and robots (client_credentials with a resource indicator,
// RFC 8707, answering JWT access tokens, RFC 9068) carry a `groups` claim the tests map.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import Provider from 'oidc-provider';

export const CONSOLE_CLIENT = { id: 'openkcm-console', secret: 'console-secret-for-tests' };
/** The resource (RFC 8707) whose tokens carry aud ADMIN_AUDIENCE; OTHER_RESOURCE's carry another audience. */
export const ADMIN_RESOURCE = 'urn:openkcm:admin';
export const ADMIN_AUDIENCE = 'openkcm-admin';
export const OTHER_RESOURCE = 'urn:example:payroll';

export interface SigningKey { kid: string; privateJwk: JWK; privateKey: CryptoKey }

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateJwk, privateKey };
}

export interface TestIdp {
  issuer: string;
  /** Attaches a provider instance (again after a key rotation) with these keys, the first signing. */
  configure(o: { redirectUri: string; keys: SigningKey[] }): void;
  /** A client_credentials token of a robot for a resource. */
  robotToken(robot: string, resource?: string): Promise<string>;
  /** A JWT signed by `key` with arbitrary claims (expired or foreign-issuer tokens, signed by the IdP's real key). */
  sign(key: SigningKey, claims: Record<string, unknown>): Promise<string>;
  /** Drives the login and consent forms for `user` from the authorization URL; answers the callback URL the IdP redirects to. */
  login(authorizationUrl: string, user: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIdp(people: Record<string, string[]>, robots: Record<string, string[]>): Promise<TestIdp> {
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const configure: TestIdp['configure'] = ({ redirectUri, keys }) => {
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: CONSOLE_CLIENT.id, client_secret: CONSOLE_CLIENT.secret, redirect_uris: [redirectUri],
          response_types: ['code'], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_basic',
        },
        ...Object.keys(robots).map((id) => ({
          client_id: id, client_secret: `${id}-secret`, redirect_uris: [], response_types: [], grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'client_secret_basic' as const,
        })),
      ],
      jwks: { keys: keys.map((k) => k.privateJwk) as never },
      cookies: { keys: ['test-cookie-key'] },
      // The default: groups are not in the ID token but in the userinfo answer, as at several IdPs.
      claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
      async findAccount(_ctx, id) {
        return { accountId: id, async claims() { return { sub: id, email: `${id}@example.test`, ...(people[id] ? { groups: people[id] } : {}) }; } };
      },
      features: {
        devInteractions: { enabled: true },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => ADMIN_RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator) => ({
            scope: 'admin', audience: indicator === ADMIN_RESOURCE ? ADMIN_AUDIENCE : 'payroll-api',
            accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      async extraTokenClaims(_ctx, token) {
        const c = (token as { clientId?: string }).clientId;
        return c !== undefined && robots[c] ? { groups: robots[c] } : undefined;
      },
      pkce: { required: () => true },
      ttl: { Session: 600, Grant: 600, Interaction: 600, AuthorizationCode: 60, AccessToken: 300, IdToken: 300, ClientCredentials: 300 },
    });
    handler = provider.callback();
  };

  const jar = new Map<string, string>();
  const fetchWithJar = async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    return res;
  };

  return {
    issuer,
    configure,
    async robotToken(robot, resource = ADMIN_RESOURCE) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${robot}:${robot}-secret`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'admin' }),
      });
      const body = await res.json() as { access_token?: string; error?: string; error_description?: string };
      if (!body.access_token) throw new Error(`token request failed: ${body.error} ${body.error_description}`);
      return body.access_token;
    },
    async sign(key, claims) {
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey);
    },
    async login(authorizationUrl, user) {
      jar.clear();
      let url = authorizationUrl;
      // Follow redirects inside the IdP, answering each form (login, then consent) by POST;
      // stop at the first redirect that leaves the IdP: the callback.
      for (let step = 0; step < 12; step++) {
        const res = await fetchWithJar(url);
        if (res.status >= 300 && res.status < 400) {
          const next = new URL(res.headers.get('location')!, url).toString();
          if (!next.startsWith(issuer)) return next;
          url = next;
          continue;
        }
        const html = await res.text();
        if (res.status !== 200) throw new Error(`IdP answered ${res.status} at ${url}: ${html.slice(0, 300)}`);
        const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
        const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
        if (!action || !prompt) throw new Error(`no interaction form at ${url}`);
        const body = new URLSearchParams(prompt === 'login' ? { prompt, login: user, password: 'any' } : { prompt });
        const posted = await fetchWithJar(new URL(action, url).toString(), {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body,
        });
        if (posted.status < 300 || posted.status >= 400) throw new Error(`the ${prompt} form answered ${posted.status}`);
        url = new URL(posted.headers.get('location')!, url).toString();
        if (!url.startsWith(issuer)) return url;
      }
      throw new Error('the login did not come back to the client');
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
