/**
 * The faults of one run: N kills with SIGKILL, taking the kill points in turn, each
 * followed by a restart of the killed process, and one PostgreSQL restart between two
 * kills.
 */
import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { elapsedSeconds, logEvent } from './eventLog.ts';
import { waitForJobInProgress, waitForUploadInFlight, type Sighting } from './faultPoints.ts';
import type { PostgresRestart } from './options.ts';
import type { FaultPostgres } from './postgresServer.ts';
import type { SeededRandom } from './random.ts';
import type { StrataChild } from './strataChild.ts';

export type KillPoint = 'api upload' | 'worker job' | 'api random' | 'worker random';

/** Kill points in the order they are taken; a run of 4 kills or more meets each. */
export const KILL_POINTS: readonly KillPoint[] = ['api upload', 'worker job', 'api random', 'worker random'];

/** Maximum wait for a targeted kill point before a random point is taken instead. */
export const TARGET_TIMEOUT_MS = 15_000;

/** A killed process stays down for a random time up to this before it is started again. */
export const MAX_DOWN_MS = 3_000;

/** Pause before each fault: a random time in this range, in milliseconds. */
const GAP_MS = { min: 500, max: 3_000 } as const;

/** PostgreSQL stays down for a random time in this range, in milliseconds. */
const POSTGRES_DOWN_MS = { min: 1_000, max: 3_000 } as const;

export interface KillRecord {
  index: number;
  atSeconds: number;
  point: KillPoint;
  target: string;
  pid: number | undefined;
  /** The statement the process was running, or the reason a random point was taken. */
  detail: string;
  downMs: number;
}

export interface PostgresRestartRecord {
  mode: PostgresRestart;
  atSeconds: number;
  /** Seconds from the shutdown until PostgreSQL accepted connections again. */
  downSeconds: number;
}

export interface FaultTargets {
  apis: readonly StrataChild[];
  workers: readonly StrataChild[];
  /** The run's own connection pool, for watching kill points. */
  pool: pg.Pool;
  postgres: FaultPostgres;
}

export interface FaultOutcome {
  kills: KillRecord[];
  postgresRestart: PostgresRestartRecord | undefined;
}

/**
 * Run `kills` kills one after another, with one PostgreSQL restart between two of them
 * unless `pgRestart` is `none`. Each fault is added to `outcome` as soon as it happened,
 * so a run that fails part-way still reports the faults before the failure.
 */
export async function runFaults(
  targets: FaultTargets,
  kills: number,
  pgRestart: PostgresRestart,
  random: SeededRandom,
  outcome: FaultOutcome,
): Promise<void> {
  // The restart comes before kill number `restartBefore`, or after the gap alone with no kills.
  const restartBefore = random.integer(1, Math.max(1, kills));

  for (let index = 1; index <= Math.max(kills, 1); index++) {
    if (index === restartBefore && pgRestart !== 'none') {
      await sleep(random.integer(GAP_MS.min, GAP_MS.max));
      outcome.postgresRestart = await restartPostgres(targets.postgres, pgRestart, random);
    }
    if (index > kills) break;

    await sleep(random.integer(GAP_MS.min, GAP_MS.max));
    const point = KILL_POINTS[(index - 1) % KILL_POINTS.length]!;
    await killOnce(targets, index, kills, point, random, outcome.kills);
  }
}

/** Kill one process at `point`, record the kill in `records`, and start the process again. */
async function killOnce(
  targets: FaultTargets,
  index: number,
  total: number,
  point: KillPoint,
  random: SeededRandom,
  records: KillRecord[],
): Promise<void> {
  const { target, detail } = await findTarget(targets, point, random);

  const atSeconds = elapsedSeconds();
  const pid = await target.kill();
  const downMs = random.integer(0, MAX_DOWN_MS);
  records.push({ index, atSeconds, point, target: target.label, pid, detail, downMs });
  logEvent(`kill ${index}/${total}: ${target.label} (pid ${pid}) SIGKILL at ${point}: ${detail}`);

  await sleep(downMs);
  await target.start();
  logEvent(`${target.label} started again with pid ${target.pid} after ${downMs} ms down`);
}

/** Wait for the kill point and return the process to kill, with what it was doing. */
async function findTarget(targets: FaultTargets, point: KillPoint, random: SeededRandom): Promise<{ target: StrataChild; detail: string }> {
  const processes = point.startsWith('api') ? targets.apis : targets.workers;
  const labels = processes.map((child) => child.label);

  let sighting: Sighting | undefined;
  if (point === 'api upload') {
    sighting = await waitForUploadInFlight(targets.pool, labels, TARGET_TIMEOUT_MS);
  } else if (point === 'worker job') {
    sighting = await waitForJobInProgress(targets.pool, labels, TARGET_TIMEOUT_MS);
  } else {
    return { target: random.pick(processes), detail: 'random point' };
  }

  if (sighting === undefined) {
    return { target: random.pick(processes), detail: `not seen within ${TARGET_TIMEOUT_MS / 1000} s, so at a random point instead` };
  }
  const target = processes.find((child) => child.label === sighting.label)!;
  const jobs = sighting.activeJobs === undefined ? '' : ` (active jobs: ${sighting.activeJobs})`;
  return { target, detail: `${sighting.query}${jobs}` };
}

async function restartPostgres(postgres: FaultPostgres, mode: Exclude<PostgresRestart, 'none'>, random: SeededRandom): Promise<PostgresRestartRecord> {
  const atSeconds = elapsedSeconds();
  const downMs = random.integer(POSTGRES_DOWN_MS.min, POSTGRES_DOWN_MS.max);
  logEvent(`PostgreSQL (pid ${postgres.pid}) going down with ${mode} shutdown for ${downMs} ms`);

  await postgres.restart(mode, downMs);
  const downSeconds = Math.round((elapsedSeconds() - atSeconds) * 10) / 10;
  logEvent(`PostgreSQL up again with pid ${postgres.pid} after ${downSeconds} s`);
  return { mode, atSeconds, downSeconds };
}
