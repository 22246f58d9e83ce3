/**
 * Fixture and measurements for RLS and index use. Folders go into a tenant's real
 * `dir` table. Files go into a table laid out as `file` will be: partitioned by scan,
 * owned by the stager, RLS enabled with the tenant policy, a constant tenant CHECK per
 * partition. Each query is explained as a function role, to which RLS applies, and
 * as a superuser, to which it does not. Used by `npm run bench:rls` and its test.
 */
import type pg from 'pg';
import { Roles } from '../../src/db/roles.ts';
import type { TenantRef } from '../../src/db/tenantContext.ts';
import { TENANT_PREDICATE } from '../../src/db/tenantTables.ts';

/** Characters of `dir_path` kept in the indexed head column: 500 characters of UTF-8 stay under B-tree's 2,704-byte entry limit with the share name. */
export const PATH_HEAD_CHARS = 500;

/** The role the app queries run as: the planner reads folders and files. */
export const APP_ROLE = Roles.planner;

export const SHARE = 'bench';
export const SCAN_ID = 1;
const FILES_PER_DIR = 5;

export interface Fixture {
  files: number;
  dirs: number;
  /** A folder prefix that selects 100 folders (500 files). */
  prefix: string;
  /** One folder's hash and one of its file names, for the exact lookups. */
  dirHash: string;
  name: string;
}

/**
 * File names repeat across folders as real names do: at one million files each name
 * occurs in ten folders, at 100,000 in one.
 */
function fileName(dirId: string, index: string): string {
  return `format('f%s_%s.txt', ${dirId} % 20000, ${index})`;
}

/** Three levels under `\\srv\bench`: a<0..>, b<0..99>, c<0..99>. */
function folderPath(i: string): string {
  return `format('\\\\srv\\bench\\a%s\\b%s\\c%s', ${i} / 10000, (${i} / 100) % 100, ${i} % 100)`;
}

/**
 * Load `files` file rows (five per folder) for the tenant, as a superuser. `dir` gains
 * a stored head of its path with a pattern index for prefix searches; `file_v2` is
 * made in the new layout. Both are analysed afterwards.
 */
export async function loadFixture(client: pg.ClientBase, tenant: TenantRef, files: number): Promise<Fixture> {
  const dirs = Math.ceil(files / FILES_PER_DIR);
  const schema = client.escapeIdentifier(tenant.schemaName);
  await client.query('BEGIN');
  await client.query("SELECT set_config('search_path', $1, true), set_config('app.tenant_id', $2, true)", [schema, tenant.id]);

  // A plain index on dir_path would reject paths over about 2,700 bytes, which Windows
  // allows, so the head column bounds the indexed part. An index on left(dir_path, n)
  // would not do: left() is not leakproof, so RLS would keep the planner from using
  // it. A generated column is a plain column to the planner.
  await client.query(`ALTER TABLE dir ADD COLUMN dir_path_head text GENERATED ALWAYS AS (left(dir_path, ${PATH_HEAD_CHARS})) STORED`);
  await client.query(
    `INSERT INTO dir (share_name, dir_path, dir_hash)
     SELECT $1, p, hashtextextended(p, 0) FROM (SELECT ${folderPath('i')} AS p FROM generate_series(0, $2::int - 1) i) s`,
    [SHARE, dirs],
  );
  await client.query('CREATE INDEX dir_share_path_head ON dir (share_name, dir_path_head text_pattern_ops)');

  await createFileTable(client, tenant);
  await client.query(
    `INSERT INTO ${`file_v2_s${SCAN_ID}`} (tenant_id, scan_id, dir_hash, name, size_bytes, atime_unix, mtime_unix, ctime_unix)
     SELECT $1, ${SCAN_ID}, d.dir_hash, ${fileName('abs(d.dir_hash % 100000000)', 'j')}, 1000 + j, 1600000000, 1600000000, 1600000000
       FROM dir d CROSS JOIN generate_series(0, ${FILES_PER_DIR - 1}) j
      WHERE d.share_name = $2
      LIMIT $3`,
    [tenant.id, SHARE, files],
  );
  await client.query(`CREATE UNIQUE INDEX file_v2_s${SCAN_ID}_dir_name ON file_v2_s${SCAN_ID} (dir_hash, name)`);
  await client.query(`CREATE INDEX file_v2_s${SCAN_ID}_name ON file_v2_s${SCAN_ID} (name)`);
  await client.query('COMMIT');

  await client.query(`ANALYZE ${schema}.dir`);
  await client.query(`ANALYZE ${schema}.file_v2`);

  const probe = await client.query<{ dir_hash: string; name: string }>(
    `SELECT dir_hash::text, ${fileName('abs(dir_hash % 100000000)', '3')} AS name FROM ${schema}.dir
      WHERE share_name = $1 AND dir_path = ${folderPath(String(Math.floor(dirs / 2)))}`,
    [SHARE],
  );
  const prefixFolder = Math.min(1, Math.floor((dirs - 1) / 10000));
  return { files, dirs, prefix: `\\\\srv\\bench\\a${prefixFolder}\\b42\\`, dirHash: probe.rows[0]!.dir_hash, name: probe.rows[0]!.name };
}

/** `file` in the new layout: the stager owns it, RLS is enabled but not forced, each partition pins the tenant. */
async function createFileTable(client: pg.ClientBase, tenant: TenantRef): Promise<void> {
  await client.query(`
    CREATE TABLE file_v2 (
      tenant_id uuid NOT NULL DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid,
      scan_id bigint NOT NULL,
      dir_hash bigint NOT NULL,
      name text NOT NULL,
      size_bytes bigint NOT NULL,
      atime_unix bigint NOT NULL,
      mtime_unix bigint NOT NULL,
      ctime_unix bigint NOT NULL
    ) PARTITION BY LIST (scan_id)`);
  await client.query(`CREATE TABLE file_v2_s${SCAN_ID} PARTITION OF file_v2 FOR VALUES IN (${SCAN_ID})`);
  await client.query(`ALTER TABLE file_v2_s${SCAN_ID} ADD CONSTRAINT tenant_is_owner CHECK (tenant_id = ${client.escapeLiteral(tenant.id)})`);
  await client.query('ALTER TABLE file_v2 ENABLE ROW LEVEL SECURITY');
  await client.query(`CREATE POLICY tenant_isolation ON file_v2 USING (${TENANT_PREDICATE})`);
  await client.query(`ALTER TABLE file_v2 OWNER TO ${Roles.stager}`);
  await client.query(`ALTER TABLE file_v2_s${SCAN_ID} OWNER TO ${Roles.stager}`);
  await client.query(`GRANT SELECT ON file_v2 TO ${APP_ROLE}`);
}

export interface BenchQuery {
  label: string;
  sql: string;
  params: unknown[];
  /** True for the forms Strata should use; false for forms shown as the pitfall. */
  recommended: boolean;
}

/** Escape `%`, `_` and the escape character itself for a LIKE prefix (backslash, PostgreSQL's default escape). */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}

/** Return the measured queries: folder-prefix searches, exact folder and file lookups, and file-name lookups. */
export function benchQueries(fixture: Fixture): BenchQuery[] {
  const head = `left($2::text, ${PATH_HEAD_CHARS})`;
  return [
    {
      label: 'dir prefix, starts_with',
      sql: `SELECT count(*) FROM dir WHERE share_name = $1 AND starts_with(dir_path_head, ${head}) AND starts_with(dir_path, $2)`,
      params: [SHARE, fixture.prefix],
      recommended: true,
    },
    {
      label: 'dir exact, share + hash',
      sql: 'SELECT dir_hash, dir_path FROM dir WHERE share_name = $1 AND dir_hash = $2',
      params: [SHARE, fixture.dirHash],
      recommended: true,
    },
    {
      label: 'file exact, folder + name',
      sql: 'SELECT size_bytes FROM file_v2 WHERE scan_id = $1 AND dir_hash = $2 AND name = $3',
      params: [SCAN_ID, fixture.dirHash, fixture.name],
      recommended: true,
    },
    {
      label: 'file by name',
      sql: 'SELECT count(*) FROM file_v2 WHERE scan_id = $1 AND name = $2',
      params: [SCAN_ID, fixture.name],
      recommended: true,
    },
    {
      label: 'files under a folder prefix, starts_with',
      sql: `SELECT count(*), sum(f.size_bytes) FROM dir d JOIN file_v2 f ON f.scan_id = $3 AND f.dir_hash = d.dir_hash
             WHERE d.share_name = $1 AND starts_with(d.dir_path_head, ${head}) AND starts_with(d.dir_path, $2)`,
      params: [SHARE, fixture.prefix, SCAN_ID],
      recommended: true,
    },
    {
      label: 'dir prefix, LIKE',
      sql: 'SELECT count(*) FROM dir WHERE share_name = $1 AND dir_path_head LIKE $2',
      params: [SHARE, likePrefix(fixture.prefix)],
      recommended: false,
    },
    {
      label: 'files under a folder prefix, LIKE',
      sql: `SELECT count(*), sum(f.size_bytes) FROM dir d JOIN file_v2 f ON f.scan_id = $3 AND f.dir_hash = d.dir_hash
             WHERE d.share_name = $1 AND d.dir_path_head LIKE $2`,
      params: [SHARE, likePrefix(fixture.prefix), SCAN_ID],
      recommended: false,
    },
  ];
}

export type Runner = 'app' | 'superuser';

export interface Measurement {
  query: BenchQuery;
  runner: Runner;
  /** Plan node types, outermost first. */
  nodes: string[];
  indexScans: number;
  /** Median of the EXPLAIN ANALYZE execution times, in milliseconds. */
  medianMs: number;
  rows: number;
  planText: string;
}

const INDEX_NODES = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']);

interface PlanNode {
  'Node Type': string;
  'Parent Relationship'?: string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
}

/**
 * Lists a plan's nodes, without init plans: the tenant policy reads its setting in one,
 * which the superuser's plan lacks and which runs once per query.
 */
function flatten(node: PlanNode): PlanNode[] {
  const children = (node.Plans ?? []).filter((child) => child['Parent Relationship'] !== 'InitPlan');
  return [node, ...children.flatMap(flatten)];
}

/**
 * Explain `query` in a transaction with the tenant's search_path and app.tenant_id, as
 * the app role (SET LOCAL ROLE) or as the session's superuser. The first of `runs`
 * EXPLAIN ANALYZE runs warms the cache and is not counted.
 */
export async function measure(client: pg.ClientBase, tenant: TenantRef, query: BenchQuery, runner: Runner, runs: number): Promise<Measurement> {
  await client.query('BEGIN');
  try {
    if (runner === 'app') await client.query(`SET LOCAL ROLE ${APP_ROLE}`);
    await client.query("SELECT set_config('search_path', $1, true), set_config('app.tenant_id', $2, true)", [
      client.escapeIdentifier(tenant.schemaName),
      tenant.id,
    ]);

    const text = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${query.sql}`, query.params);
    const timings: number[] = [];
    let root: PlanNode | undefined;
    for (let run = 0; run <= runs; run++) {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${query.sql}`,
        query.params,
      );
      root = rows[0]!['QUERY PLAN'][0].Plan;
      if (run > 0) timings.push(rows[0]!['QUERY PLAN'][0]['Execution Time']);
    }

    const nodes = flatten(root!);
    timings.sort((a, b) => a - b);
    return {
      query,
      runner,
      nodes: nodes.map((node) => node['Node Type']),
      indexScans: nodes.filter((node) => INDEX_NODES.has(node['Node Type'])).length,
      medianMs: timings[Math.floor(timings.length / 2)]!,
      rows: root!['Actual Rows'] ?? 0,
      planText: text.rows.map((row) => row['QUERY PLAN']).join('\n'),
    };
  } finally {
    await client.query('ROLLBACK');
  }
}
