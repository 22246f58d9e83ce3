/**
 * Targeted kill points, watched from the database. Every child process connects with
 * `application_name` set to `faults-<label>`, so pg_stat_activity shows which process
 * is inside which transaction, and pg-boss's job table shows which jobs are active.
 */
import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';

/** Time between two looks at pg_stat_activity; a chunk's COPY of 100 rows lasts a few milliseconds. */
const POLL_INTERVAL_MS = 5;

/**
 * A job active for longer than this is taken to belong to a worker killed earlier,
 * because the ingest jobs of a fault run take well under a second.
 */
const STALE_ACTIVE_SECONDS = 10;

/** A process caught at a kill point, and what it was doing. */
export interface Sighting {
  label: string;
  /** The statement its connection was running, or ran last in the open transaction. */
  query: string;
  /** Active ingest jobs in pg-boss's job table at that moment, for worker sightings. */
  activeJobs?: string;
}

export function applicationName(label: string): string {
  return `faults-${label}`;
}

/**
 * Wait until one of the API processes is streaming a chunk into a COPY, and return it;
 * undefined after `timeoutMs`. The request is then in flight: its transaction is open
 * and the agent has no response yet.
 */
export async function waitForUploadInFlight(pool: pg.Pool, labels: readonly string[], timeoutMs: number): Promise<Sighting | undefined> {
  return poll(timeoutMs, async () => {
    const { rows } = await pool.query<{ application_name: string; query: string }>(
      `SELECT application_name, left(regexp_replace(query, '\\s+', ' ', 'g'), 80) AS query
         FROM pg_stat_activity
        WHERE application_name = ANY($1) AND xact_start IS NOT NULL AND query ILIKE 'COPY %'`,
      [labels.map(applicationName)],
    );
    const row = rows[0];
    return row === undefined ? undefined : { label: labelOf(row.application_name), query: row.query };
  });
}

/**
 * Wait until a worker is inside a job's transaction while pg-boss lists an ingest job as
 * active, and return that worker; undefined after `timeoutMs`. Only a transaction that
 * has run a statement after its BEGIN counts, so the handler is inside its work, and
 * pg-boss's own statements are left out. Jobs started more than `STALE_ACTIVE_SECONDS`
 * ago are left out too, because a killed worker's job stays active until its heartbeat
 * expires.
 */
export async function waitForJobInProgress(pool: pg.Pool, labels: readonly string[], timeoutMs: number): Promise<Sighting | undefined> {
  return poll(timeoutMs, async () => {
    const { rows } = await pool.query<{ application_name: string; query: string; active_jobs: string | null }>(
      `SELECT a.application_name, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 80) AS query, jobs.active_jobs
         FROM pg_stat_activity a,
              LATERAL (SELECT string_agg(j.name || coalesce(' seq ' || (j.data->>'seq'), ''), ', ') AS active_jobs
                         FROM pgboss.job j
                        WHERE j.state = 'active' AND j.name LIKE 'ingest.%'
                          AND j.started_on > now() - make_interval(secs => $2)) AS jobs
        WHERE a.application_name = ANY($1) AND a.xact_start IS NOT NULL
          AND a.query <> 'BEGIN' AND (a.state = 'idle in transaction' OR (a.state = 'active' AND a.query_start > a.xact_start))
          AND a.query NOT LIKE '%pgboss.%'
          AND jobs.active_jobs IS NOT NULL`,
      [labels.map(applicationName), STALE_ACTIVE_SECONDS],
    );
    const row = rows[0];
    return row === undefined ? undefined : { label: labelOf(row.application_name), query: row.query, activeJobs: row.active_jobs ?? '' };
  });
}

async function poll(timeoutMs: number, look: () => Promise<Sighting | undefined>): Promise<Sighting | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const sighting = await look();
      if (sighting !== undefined) return sighting;
    } catch {
      // PostgreSQL is restarting, or pg-boss has not created its schema yet; look again.
    }
    await sleep(POLL_INTERVAL_MS);
  }
  return undefined;
}

function labelOf(application: string): string {
  return application.slice('faults-'.length);
}
