import type pg from 'pg';

/**
 * One schema's catalogue as a flat map from an object key (`column dir.dir_hash`,
 * `policy scan.tenant_isolation`, `grant scan to strata_api`…) to its definition as
 * text. Two schemas built by the same migrations describe to equal maps, so drift is
 * the set of keys and values that differ.
 */
export type SchemaDescription = Map<string, string>;

/** Placeholders that stand in for the names that differ between tenant schemas by design. */
export const SCHEMA_PLACEHOLDER = '<schema>';
export const TENANT_PLACEHOLDER = '<tenant id>';

/**
 * Describe the tables, columns (type, nullability, default, identity, position),
 * indexes, constraints, policies, RLS flags, owners, grants, sequences, functions,
 * triggers, types and the migration ledger of one schema.
 *
 * The caller must hold an open transaction: the schema becomes the transaction's
 * `search_path`, so PostgreSQL prints the schema's own objects unqualified. The schema
 * name and the tenant id are then replaced by placeholders wherever they still appear
 * (a pinned function `search_path`, a partition's tenant CHECK).
 *
 * NOTE: partitions (`relispartition`) and everything on them are left out. They are
 * made per scan at run time, not by migrations, so their number differs per tenant.
 */
export async function describeSchema(client: pg.ClientBase, schemaName: string, tenantId: string): Promise<SchemaDescription> {
  const { rows: found } = await client.query<{ oid: number }>('SELECT oid FROM pg_namespace WHERE nspname = $1', [schemaName]);
  if (!found[0]) return new Map();
  const namespace = found[0].oid;
  await client.query("SELECT set_config('search_path', $1, true)", [client.escapeIdentifier(schemaName)]);

  const entries: [string, string][] = [];
  for (const describe of DESCRIBERS) entries.push(...(await describe(client, namespace)));

  const normalize = placeholderReplacer(schemaName, tenantId);
  return new Map(entries.map(([key, value]) => [normalize(key), normalize(value)]));
}

type Describer = (client: pg.ClientBase, namespace: number) => Promise<[string, string][]>;

/** Relations of the schema that migrations make: every kind except partitions and indexes. */
const RELATIONS = `
  SELECT c.oid, c.relname, c.relkind FROM pg_class c
   WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition`;

const KIND_NAMES: Record<string, string> = { r: 'table', p: 'partitioned table', v: 'view', m: 'materialized view', S: 'sequence', f: 'foreign table' };

async function describeSchemaItself(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ owner: string; grants: string | null }>(
    `SELECT pg_get_userbyid(n.nspowner) AS owner,
            (SELECT string_agg(g, '; ' ORDER BY g) FROM (
               SELECT format('%s: %s', grantee, string_agg(privilege, ',' ORDER BY privilege)) AS g
                 FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
                              a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS privilege
                         FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a) acl
                GROUP BY grantee) grouped) AS grants
       FROM pg_namespace n WHERE n.oid = $1`,
    [namespace],
  );
  const row = rows[0]!;
  return [
    ['schema owner', row.owner],
    ['schema grants', row.grants ?? ''],
  ];
}

async function describeRelations(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{
    relname: string;
    relkind: string;
    owner: string;
    rls: boolean;
    force_rls: boolean;
    options: string | null;
    persistence: string;
    partition_key: string | null;
    view_definition: string | null;
    sequence: string | null;
  }>(
    `SELECT r.relname, r.relkind, pg_get_userbyid(c.relowner) AS owner, c.relrowsecurity AS rls,
            c.relforcerowsecurity AS force_rls, array_to_string(c.reloptions, ',') AS options,
            c.relpersistence AS persistence, pg_get_partkeydef(c.oid) AS partition_key,
            CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS view_definition,
            (SELECT format('%s start %s increment %s min %s max %s cache %s%s', format_type(s.seqtypid, NULL), s.seqstart,
                           s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END)
               FROM pg_sequence s WHERE s.seqrelid = c.oid) AS sequence
       FROM (${RELATIONS}) r JOIN pg_class c ON c.oid = r.oid`,
    [namespace],
  );

  return rows.map((row) => {
    const parts = [KIND_NAMES[row.relkind] ?? row.relkind, `owner ${row.owner}`];
    if (row.relkind !== 'S' && row.relkind !== 'v') parts.push(`rls ${row.rls ? 'on' : 'off'}`, `force rls ${row.force_rls ? 'on' : 'off'}`);
    if (row.persistence !== 'p') parts.push(row.persistence === 'u' ? 'unlogged' : 'temporary');
    if (row.options) parts.push(`options ${row.options}`);
    if (row.partition_key) parts.push(`partition by ${row.partition_key}`);
    if (row.sequence) parts.push(row.sequence);
    if (row.view_definition) parts.push(`as ${row.view_definition.trim()}`);
    return [`relation ${row.relname}`, parts.join(', ')];
  });
}

async function describeColumns(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ relname: string; attname: string; definition: string }>(
    `SELECT r.relname, a.attname,
            concat_ws(' ',
              '#' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
              format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
              CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                   THEN 'collate ' || (SELECT collname FROM pg_collation WHERE oid = a.attcollation) END,
              CASE a.attidentity WHEN 'a' THEN 'generated always as identity' WHEN 'd' THEN 'generated by default as identity' END,
              CASE WHEN a.attgenerated = 's' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
                   WHEN d.adbin IS NOT NULL THEN 'default ' || pg_get_expr(d.adbin, d.adrelid) END,
              CASE WHEN a.attacl IS NOT NULL THEN 'grants ' || array_to_string(a.attacl, ',') END) AS definition
       FROM (${RELATIONS}) r
       JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE r.relkind <> 'S'`,
    [namespace],
  );
  return rows.map((row) => [`column ${row.relname}.${row.attname}`, row.definition]);
}

async function describeIndexes(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ relname: string; definition: string }>(
    `SELECT i.relname, pg_get_indexdef(i.oid) AS definition
       FROM (${RELATIONS}) r
       JOIN pg_index x ON x.indrelid = r.oid
       JOIN pg_class i ON i.oid = x.indexrelid`,
    [namespace],
  );
  return rows.map((row) => [`index ${row.relname}`, row.definition]);
}

async function describeConstraints(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ relname: string; conname: string; definition: string }>(
    `SELECT r.relname, k.conname,
            pg_get_constraintdef(k.oid) || CASE WHEN k.convalidated THEN '' ELSE ' (not validated)' END AS definition
       FROM (${RELATIONS}) r
       JOIN pg_constraint k ON k.conrelid = r.oid`,
    [namespace],
  );
  return rows.map((row) => [`constraint ${row.relname}.${row.conname}`, row.definition]);
}

async function describePolicies(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ relname: string; polname: string; definition: string }>(
    `SELECT r.relname, p.polname,
            concat_ws(' ',
              CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
              'for ' || CASE p.polcmd WHEN '*' THEN 'all' WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert'
                                      WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' END,
              'to ' || (SELECT string_agg(CASE WHEN role = 0 THEN 'public' ELSE pg_get_userbyid(role) END, ',' ORDER BY 1)
                          FROM unnest(p.polroles) role),
              'using ' || pg_get_expr(p.polqual, p.polrelid),
              'with check ' || pg_get_expr(p.polwithcheck, p.polrelid)) AS definition
       FROM (${RELATIONS}) r
       JOIN pg_policy p ON p.polrelid = r.oid`,
    [namespace],
  );
  return rows.map((row) => [`policy ${row.relname}.${row.polname}`, row.definition]);
}

/** Table and sequence privileges per grantee; a NULL ACL is expanded to the owner's defaults. */
async function describeGrants(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ relname: string; grantee: string; privileges: string }>(
    `SELECT r.relname, acl.grantee, string_agg(acl.privilege, ',' ORDER BY acl.privilege) AS privileges
       FROM (${RELATIONS}) r
       JOIN pg_class c ON c.oid = r.oid
      CROSS JOIN LATERAL (
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
               a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS privilege
          FROM aclexplode(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a) acl
      GROUP BY r.relname, acl.grantee`,
    [namespace],
  );
  return rows.map((row) => [`grant ${row.relname} to ${row.grantee}`, row.privileges]);
}

async function describeFunctions(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ signature: string; definition: string }>(
    `SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS signature,
            concat_ws(' | ',
              'returns ' || pg_get_function_result(p.oid),
              'owner ' || pg_get_userbyid(p.proowner),
              'language ' || l.lanname,
              CASE WHEN p.prosecdef THEN 'security definer' ELSE 'security invoker' END,
              CASE WHEN p.proleakproof THEN 'leakproof' END,
              'volatility ' || p.provolatile::text,
              'set ' || array_to_string(p.proconfig, ','),
              'grants ' || (SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
                                              || ':' || a.privilege_type, ',' ORDER BY 1)
                              FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a),
              'body ' || p.prosrc) AS definition
       FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.pronamespace = $1`,
    [namespace],
  );
  return rows.map((row) => [`function ${row.signature}`, row.definition]);
}

async function describeTriggers(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ relname: string; tgname: string; definition: string }>(
    `SELECT r.relname, t.tgname, pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' (disabled)' ELSE '' END AS definition
       FROM (${RELATIONS}) r
       JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal`,
    [namespace],
  );
  return rows.map((row) => [`trigger ${row.relname}.${row.tgname}`, row.definition]);
}

/** Types made on their own (enums, domains, composite and range types), not a table's row type. */
async function describeTypes(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows } = await client.query<{ typname: string; definition: string }>(
    `SELECT t.typname,
            concat_ws(' ',
              CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'c' THEN 'composite' WHEN 'r' THEN 'range' ELSE t.typtype::text END,
              'owner ' || pg_get_userbyid(t.typowner),
              CASE WHEN t.typtype = 'd' THEN 'over ' || format_type(t.typbasetype, t.typtypmod) END,
              CASE WHEN t.typtype = 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
                                                 FROM pg_enum e WHERE e.enumtypid = t.oid) END,
              (SELECT string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid)) AS definition
       FROM pg_type t
      WHERE t.typnamespace = $1
        AND t.typtype IN ('e', 'd', 'c', 'r')
        AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')`,
    [namespace],
  );
  return rows.map((row) => [`type ${row.typname}`, row.definition]);
}

/** List the migrations recorded in the schema's own ledger, in the order they ran. */
async function describeLedger(client: pg.ClientBase, namespace: number): Promise<[string, string][]> {
  const { rows: table } = await client.query(
    "SELECT 1 FROM pg_class WHERE relnamespace = $1 AND relname = 'mikro_orm_migrations' AND relkind = 'r'",
    [namespace],
  );
  if (table.length === 0) return [];

  // The search_path is this schema, so the unqualified name is the schema's own ledger.
  const { rows } = await client.query<{ name: string }>('SELECT name FROM mikro_orm_migrations ORDER BY id');
  return rows.map((row, index) => [`migration ${row.name}`, `applied #${index + 1}`]);
}

const DESCRIBERS: Describer[] = [
  describeSchemaItself,
  describeRelations,
  describeColumns,
  describeIndexes,
  describeConstraints,
  describePolicies,
  describeGrants,
  describeFunctions,
  describeTriggers,
  describeTypes,
  describeLedger,
];

/**
 * Replace a schema name (bare or double-quoted, as a whole identifier) and a tenant id
 * with placeholders, so that two tenants' descriptions compare equal.
 */
function placeholderReplacer(schemaName: string, tenantId: string): (text: string) => string {
  // Tenant codes allow only [a-z0-9_], so the schema name needs no regex escaping.
  const schemaPattern = new RegExp(`(?<![A-Za-z0-9_$"])"?${schemaName}"?(?![A-Za-z0-9_$])`, 'g');
  const tenantPattern = new RegExp(tenantId, 'gi');
  return (text) => text.replace(schemaPattern, SCHEMA_PLACEHOLDER).replace(tenantPattern, TENANT_PLACEHOLDER);
}
