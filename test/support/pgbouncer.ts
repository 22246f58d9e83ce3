import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findFreePort } from '../../scripts/bench/apiProcess.ts';

/** A PgBouncer user: its name and what `auth_file` holds for it (a SCRAM secret or a password). */
export interface BouncerUser {
  name: string;
  secret: string;
}

export interface BouncerOptions {
  /** The PostgreSQL server behind it, as a connection string; its host and port are used. */
  serverUrl: string;
  /** The database PgBouncer serves, under the same name. */
  database: string;
  users: BouncerUser[];
  /** Server connections per user and database (`default_pool_size`). */
  poolSize: number;
}

export interface Bouncer {
  port: number;
  pid: number;
  /** A connection string through PgBouncer for one of its users. */
  url(user: string, password: string): string;
  /** Stop PgBouncer by its PID and remove its files. */
  stop(): Promise<void>;
}

/** Where Debian's package installs the binary; /usr/sbin is often missing from a non-root PATH. */
const CANDIDATES = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin'];

/** Return the path of the `pgbouncer` binary, or undefined when it is not installed. */
export async function findPgBouncer(): Promise<string | undefined> {
  for (const folder of CANDIDATES) {
    const candidate = path.join(folder, 'pgbouncer');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch (error) {
      // Not in this folder (or not executable there): try the next one.
      if (!['ENOENT', 'EACCES', 'ENOTDIR'].includes((error as { code?: string }).code ?? '')) throw error;
    }
  }
  return undefined;
}

/**
 * Start PgBouncer in transaction pooling mode on 127.0.0.1 at a free port, in the
 * foreground, logging to stderr. PgBouncer refuses to run as root, so as root it drops
 * to the user `nobody` (`-u`); its files are made readable for that user.
 */
export async function startPgBouncer(binary: string, options: BouncerOptions): Promise<Bouncer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-pgbouncer-'));
  await chmod(dir, 0o755);
  const port = await findFreePort();
  const server = new URL(options.serverUrl);

  const userlist = options.users.map((user) => `"${user.name}" "${user.secret.replaceAll('"', '""')}"`).join('\n');
  await writeFile(path.join(dir, 'userlist.txt'), `${userlist}\n`, { mode: 0o644 });
  await writeFile(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${options.database} = host=${server.hostname} port=${server.port || 5432} dbname=${options.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 500',
      // Server connections stay open for the whole test, so they can be inspected afterwards.
      'server_idle_timeout = 3600',
      'server_lifetime = 7200',
      'query_wait_timeout = 120',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );

  const args = process.getuid?.() === 0 ? ['-u', 'nobody', path.join(dir, 'pgbouncer.ini')] : [path.join(dir, 'pgbouncer.ini')];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (log += text));

  const bouncer: Bouncer = {
    port,
    pid: child.pid!,
    url: (user, password) => {
      const url = new URL(`postgresql://127.0.0.1:${port}/${options.database}`);
      url.username = user;
      url.password = password;
      return url.toString();
    },
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await waitUntilAccepting(child, port, () => log);
  } catch (error) {
    await bouncer.stop();
    throw error;
  }
  return bouncer;
}

/** Wait until PgBouncer responds on its port with a PostgreSQL-protocol message. */
async function waitUntilAccepting(child: ChildProcess, port: number, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}:\n${log()}`);

    const probe = new pg.Client({ connectionString: `postgresql://nobody-probe:x@127.0.0.1:${port}/none`, connectionTimeoutMillis: 1000 });
    try {
      await probe.connect();
      await probe.end();
      return;
    } catch (error) {
      // ECONNREFUSED: not listening yet. Any other error, such as this probe's failed login, means it is up.
      if ((error as { code?: string }).code !== 'ECONNREFUSED') return;
    }
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on 127.0.0.1:${port} within 15 s:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
