// A real, throw-away PostgreSQL cluster for tests (issue 10 §5: no mocks of PostgreSQL).
//
// startPostgres() runs `initdb` into a fresh temporary directory, starts the server with
// `pg_ctl start -w` on a free TCP port of 127.0.0.1 with its unix socket inside the same
// directory (so nothing of the machine's own PostgreSQL is touched), creates a database and
// returns its URL. stop() shuts the server down and removes the directory; a process exit
// handler does the same if a test run dies before its afterAll hook.
//
// PostgreSQL refuses to run as root. When the tests run as root (CI does), the cluster
// belongs to the `postgres` system user of the Debian package and every server command runs
// through `runuser -u postgres --`; otherwise it runs as the current user.
//
// test/helpers/postgres.ts adds usePostgres() for vitest; the benchmarks (bench:server
// --postgres) start a durable cluster from here.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Where Debian puts the server binaries; PG_BIN overrides (another distribution, a newer version). */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
/** The role the tests connect as: the cluster's superuser, with a password so TCP auth is real. */
export const TEST_PG_USER = 'openkcm';
/** pg_ctl -w waits this long for the server to accept connections: generous for a loaded 2-core machine. */
export const START_TIMEOUT_S = 120;

export interface PostgresCluster {
  /** URL of the database created at start (postgres://openkcm:…@127.0.0.1:PORT/openkcm_test). */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** The data directory (tests that need to look at files). */
  dataDir: string;
  /** Creates another empty database on the cluster and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** URL of `database` on this cluster, with other credentials (tests of auth failures). */
  urlFor(database: string, credentials?: { user?: string; password?: string }): string;
  /** Stops the server (immediate mode) and removes every file; idempotent. */
  stop(): Promise<void>;
}

export function findPostgresBin(): string {
  const fromEnv = process.env['PG_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (existsSync(DEBIAN_PG_ROOT)) {
    const versions = readdirSync(DEBIAN_PG_ROOT)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(DEBIAN_PG_ROOT, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(DEBIAN_PG_ROOT, versions[0]!, 'bin');
  }
  throw new Error(
    `PostgreSQL server binaries not found under ${DEBIAN_PG_ROOT}: run "bash scripts/ensure-system-deps.sh" ` +
      '(installs the Debian postgresql package) or set PG_BIN to the directory holding initdb and pg_ctl',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** The user the server runs as, and how to run a command as that user. */
function serverUser(): { name: string; uid: number; gid: number; wrap: (cmd: string, args: string[]) => [string, string[]] } {
  if (!isRoot()) {
    const me = userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid, wrap: (cmd, args) => [cmd, args] };
  }
  const line = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).trim();
  const [, , uid, gid] = line.split(':');
  if (uid === undefined || gid === undefined) {
    throw new Error('running as root, and there is no "postgres" system user to run PostgreSQL as: install the Debian postgresql package');
  }
  return { name: 'postgres', uid: Number(uid), gid: Number(gid), wrap: (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]] };
}

const live = new Set<() => void>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A worker that dies mid-file skips afterAll: never leave a server or a data directory behind.
  process.once('exit', () => {
    for (const stop of live) stop();
  });
}

export interface StartPostgresOptions {
  /**
   * fsync and synchronous_commit as in production (benchmarks of durable writes). Tests
   * default to fsync off: on a machine shared by many test runs it spares the disk, and no
   * test pulls the power.
   */
  durable?: boolean;
  /** Database created at start. */
  database?: string;
  /** max_connections of the server. */
  maxConnections?: number;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  const user = serverUser();
  const root = mkdtempSync(join(tmpdir(), 'okpg-'));
  const dataDir = join(root, 'data');
  const sockDir = join(root, 'sock');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwFile = join(root, 'pw');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  chownSync(root, user.uid, user.gid);
  chownSync(pwFile, user.uid, user.gid);
  const run = (cmd: string, args: string[]) => {
    const [c, a] = user.wrap(join(bin, cmd), args);
    const r = spawnSync(c, a, { encoding: 'utf8', cwd: root, timeout: (START_TIMEOUT_S + 30) * 1000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim()}`);
    return r.stdout;
  };
  let started = false;
  const cleanup = () => {
    if (started) {
      const [c, a] = user.wrap(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30']);
      spawnSync(c, a, { stdio: 'ignore', timeout: 40_000 });
      started = false;
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    run('initdb', [
      '-D', dataDir, '-U', TEST_PG_USER, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
      '-E', 'UTF8', '--locale=C', '--no-sync',
    ]);
    mkdirSync(sockDir, { mode: 0o700 });
    chownSync(sockDir, user.uid, user.gid);
    const settings = [
      `listen_addresses='127.0.0.1'`,
      `unix_socket_directories='${sockDir}'`,
      `max_connections=${opts.maxConnections ?? 100}`,
      'shared_buffers=32MB',
      opts.durable === true ? 'fsync=on' : 'fsync=off',
      opts.durable === true ? 'synchronous_commit=on' : 'synchronous_commit=off',
      'full_page_writes=' + (opts.durable === true ? 'on' : 'off'),
      `logging_collector=off`,
    ];
    writeFileSync(join(dataDir, 'postgresql.auto.conf'), settings.join('\n') + '\n');
    chownSync(join(dataDir, 'postgresql.auto.conf'), user.uid, user.gid);
    // A port found free can be taken before the server binds it: retry with another.
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        run('pg_ctl', ['start', '-D', dataDir, '-w', '-t', String(START_TIMEOUT_S), '-l', join(root, 'server.log'), '-o', `-p ${port}`]);
        started = true;
        break;
      } catch (e) {
        if (attempt >= 3) throw e;
      }
    }
    live.add(cleanup);
    installExitHook();
    const host = '127.0.0.1';
    const urlFor = (database: string, c: { user?: string; password?: string } = {}) =>
      `postgres://${encodeURIComponent(c.user ?? TEST_PG_USER)}:${encodeURIComponent(c.password ?? password)}@${host}:${port}/${encodeURIComponent(database)}`;
    const createDatabase = async (name: string): Promise<string> => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`test database name ${JSON.stringify(name)}: use lower-case letters, digits and _`);
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return urlFor(name);
    };
    const database = opts.database ?? 'openkcm_test';
    const url = await createDatabase(database);
    return {
      url, host, port, user: TEST_PG_USER, password, dataDir, createDatabase, urlFor,
      async stop() {
        live.delete(cleanup);
        cleanup();
      },
    };
  } catch (e) {
    cleanup();
    throw e;
  }
}

let dbCounter = 0;
/** A fresh database name, unique within the process. */
export function uniqueDatabaseName(prefix = 'db'): string {
  dbCounter += 1;
  return `${prefix}_${process.pid}_${dbCounter}`;
}
