import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { LATEST_SCANS } from './sql/latestScans.ts';

const DAY = 86_400;

/** Age buckets by last access, youngest first: label and upper bound in seconds. */
export const AGE_BUCKETS: readonly { label: string; maxSeconds: number }[] = [
  { label: '< 30 days', maxSeconds: 30 * DAY },
  { label: '30-90 days', maxSeconds: 90 * DAY },
  { label: '90 days-1 year', maxSeconds: 365 * DAY },
  { label: '1-2 years', maxSeconds: 2 * 365 * DAY },
  { label: '2-3 years', maxSeconds: 3 * 365 * DAY },
  { label: '3-5 years', maxSeconds: 5 * 365 * DAY },
  { label: '> 5 years', maxSeconds: Number.MAX_SAFE_INTEGER },
];

export interface AgeBucket {
  label: string;
  files: number;
  bytes: number;
}

/** Files and bytes of the latest OK scans by last-access age, one row per bucket. */
export async function ageHistogram(pool: pg.Pool, tenant: TenantRef, share?: string): Promise<AgeBucket[]> {
  const bounds = AGE_BUCKETS.map((bucket) => bucket.maxSeconds);

  return withTenant(pool, tenant, Roles.planner, async (client) => {
    // width_bucket against the sorted bounds gives each file's bucket index (0-based here).
    const { rows } = await client.query<{ bucket: number; files: number; bytes: number }>(
      `WITH latest AS (${LATEST_SCANS})
       SELECT width_bucket(extract(epoch from now())::bigint - f.atime_unix, $2::bigint[]) AS bucket,
              count(*) AS files, coalesce(sum(f.size_bytes), 0)::bigint AS bytes
         FROM latest l JOIN file f ON f.scan_id = l.scan_id
        GROUP BY 1`,
      [share ?? null, bounds],
    );

    return AGE_BUCKETS.map((bucket, index) => {
      const row = rows.find((candidate) => candidate.bucket === index);
      return { label: bucket.label, files: row?.files ?? 0, bytes: row?.bytes ?? 0 };
    });
  });
}
