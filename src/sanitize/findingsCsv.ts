import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';

const COLUMNS = ['finding_id', 'kind', 'share_name', 'tier_id', 'tier_state', 'object_key', 'full_path', 'size_bytes', 'tier2_size_bytes', 'last_used_unix'] as const;

/** Findings read per query while exporting, so a run with millions of findings is never held in memory at once. */
const PAGE = 10_000;

/** Format one CSV field: quoted when it contains a comma, quote, CR or LF (RFC 4180); empty for NULL. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Write a run's findings to `file` as UTF-8 CSV with a header line, in finding order.
 * Returns how many findings were written.
 * NOTE: fields are written as stored. A spreadsheet may treat a path starting with
 * `=`, `+`, `-` or `@` as a formula when it opens the file.
 */
export async function exportFindingsCsv(pool: pg.Pool, tenant: TenantRef, runId: number, file: string): Promise<number> {
  const out = createWriteStream(file, { mode: 0o600 });
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };

  let written = 0;
  let after = 0;
  try {
    await write(`${COLUMNS.join(',')}\n`);
    for (;;) {
      const { rows } = await withTenant(pool, tenant, Roles.sanitizer, (client) =>
        client.query(
          `SELECT ${COLUMNS.join(', ')} FROM sanitize_finding WHERE run_id = $1 AND finding_id > $2 ORDER BY finding_id LIMIT ${PAGE}`,
          [runId, after],
        ),
      );
      if (rows.length === 0) break;
      for (const row of rows) await write(`${COLUMNS.map((column) => csvField(row[column])).join(',')}\n`);
      written += rows.length;
      after = Number(rows[rows.length - 1].finding_id);
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return written;
}
