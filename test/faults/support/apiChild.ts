import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../../scripts/bench/apiProcess.ts';
import { StrataChild } from '../../../scripts/faults/strataChild.ts';
import type { Stack } from '../../support/stack.ts';

/** A `strata api` child process on the stack's database, which a test may kill. */
export interface ApiChild {
  api: StrataChild;
  /** Folder of the child's log file. */
  logFolder: string;
  /** Exit statuses of exits the test did not cause. */
  unexpectedExits: string[];
  stop(): Promise<void>;
}

/**
 * Start `strata api` as a child process on a free port. Its connections carry
 * `application`, so the test can find them in pg_stat_activity.
 */
export async function startApiChild(stack: Stack, application: string): Promise<ApiChild> {
  const logFolder = await mkdtemp(path.join(os.tmpdir(), 'strata-test-faults-'));
  const databaseUrl = new URL(stack.db.url);
  databaseUrl.searchParams.set('application_name', application);

  const unexpectedExits: string[] = [];
  const api = new StrataChild(
    { label: 'api', role: 'api', databaseUrl: databaseUrl.toString(), port: await findFreePort(), logFile: path.join(logFolder, 'api.log') },
    (exit) => unexpectedExits.push(exit.exitStatus),
  );
  await api.start();

  return {
    api,
    logFolder,
    unexpectedExits,
    stop: async () => {
      await api.stop();
      await rm(logFolder, { recursive: true, force: true });
    },
  };
}
