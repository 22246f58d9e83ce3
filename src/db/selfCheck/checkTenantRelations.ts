import { Roles } from '../roles.ts';
import type pg from 'pg';
import {
  SCHEMA_OWNER,
  TENANT_POLICY_NAME,
  TENANT_PREDICATE,
  TENANT_PREDICATE_DEPARSED,
  tableRuleFor,
  type TableRule,
} from '../tenantTables.ts';
import type { Problem } from './problem.ts';

interface PolicyRow {
  name: string;
  cmd: string;
  permissive: boolean;
  qual: string | null;
  with_check: string | null;
}

interface RelationRow {
  schema: string;
  name: string;
  relkind: string;
  owner: string;
  rls_enabled: boolean;
  rls_forced: boolean;
  is_partition: boolean;
  options: string[] | null;
  granted_to_others: boolean;
  has_tenant_check: boolean;
  policies: PolicyRow[];
}

interface SchemaRow {
  schema: string;
  owner: string;
  create_grantees: string[];
  public_usage: boolean;
}

/**
 * Check every schema, table and view in the tenant schemas against the rules in
 * src/db/tenantTables.ts. Two catalogue queries cover all schemas at once, so the
 * check costs about the same for one tenant as for thousands.
 */
export async function checkTenantRelations(db: pg.ClientBase | pg.Pool, schemas: readonly string[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const schema of await readSchemas(db, schemas)) problems.push(...schemaProblems(schema));

  for (const relation of await readRelations(db, schemas)) {
    const subject = `${kindName(relation.relkind)} ${relation.schema}.${relation.name}`;
    if (relation.relkind === 'v') {
      if (!isSecurityInvoker(relation.options)) {
        problems.push({
          check: 'view-not-security-invoker',
          subject,
          message: "runs with its owner's privileges; recreate it WITH (security_invoker = true)",
        });
      }
    } else if (relation.relkind === 'm' || relation.relkind === 'f') {
      problems.push({
        check: 'relation-without-rls',
        subject,
        message: `${kindName(relation.relkind)}s cannot have row-level security; drop it or replace it with a security_invoker view`,
      });
    } else {
      problems.push(...tableProblems(relation, subject));
    }
  }
  return problems;
}

async function readSchemas(db: pg.ClientBase | pg.Pool, schemas: readonly string[]): Promise<SchemaRow[]> {
  const { rows } = await db.query<SchemaRow>(
    `SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner,
            ARRAY(SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END
                    FROM aclexplode(n.nspacl) a
                   WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner
                   ORDER BY 1)::text[] AS create_grantees,
            EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a WHERE a.grantee = 0 AND a.privilege_type = 'USAGE') AS public_usage
       FROM pg_namespace n WHERE n.nspname = ANY ($1::text[]) ORDER BY n.nspname`,
    [schemas],
  );
  return rows;
}

function schemaProblems(schema: SchemaRow): Problem[] {
  const subject = `schema ${schema.schema}`;
  const problems: Problem[] = [];
  if (schema.owner !== SCHEMA_OWNER) {
    problems.push({
      check: 'schema-owner',
      subject,
      message: `belongs to ${schema.owner}, not ${SCHEMA_OWNER}; run ALTER SCHEMA ${schema.schema} OWNER TO ${SCHEMA_OWNER}`,
    });
  }
  // A role that may create objects here can create a table of its own, which RLS does not
  // restrict for it. The stager is the one exception: it makes each scan's partition of
  // `file` (T0005), and only the SECURITY DEFINER functions and the COPY statement use it.
  const creators = schema.create_grantees.filter((role) => role !== Roles.stager);
  if (creators.length > 0) {
    problems.push({
      check: 'schema-create-granted',
      subject,
      message: `grants CREATE to ${creators.join(', ')}; run REVOKE CREATE ON SCHEMA ${schema.schema} FROM ${creators.join(', ')}`,
    });
  }
  // Per-tenant roles (the reporting logins) rely on having USAGE on their own schema only.
  if (schema.public_usage) {
    problems.push({
      check: 'schema-usage-public',
      subject,
      message: `grants USAGE to PUBLIC, so every role may use it; run REVOKE USAGE ON SCHEMA ${schema.schema} FROM PUBLIC`,
    });
  }
  return problems;
}

async function readRelations(db: pg.ClientBase | pg.Pool, schemas: readonly string[]): Promise<RelationRow[]> {
  const { rows } = await db.query<RelationRow>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, pg_get_userbyid(c.relowner) AS owner,
            c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced, c.relispartition AS is_partition,
            c.reloptions AS options,
            EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) AS granted_to_others,
            EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_attribute t ON t.attrelid = k.conrelid AND t.attnum = ANY (k.conkey)
                     WHERE k.conrelid = c.oid AND k.contype = 'c' AND t.attname = 'tenant_id') AS has_tenant_check,
            coalesce((SELECT json_agg(json_build_object(
                               'name', p.polname, 'cmd', p.polcmd, 'permissive', p.polpermissive,
                               'qual', pg_get_expr(p.polqual, p.polrelid), 'with_check', pg_get_expr(p.polwithcheck, p.polrelid))
                               ORDER BY p.polname)
                        FROM pg_policy p WHERE p.polrelid = c.oid), '[]') AS policies
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      ORDER BY n.nspname, c.relname`,
    [schemas],
  );
  return rows;
}

function tableProblems(table: RelationRow, subject: string): Problem[] {
  const rule = tableRuleFor(table.owner, table.name);
  if (rule === undefined) {
    return [{
      check: 'table-owner',
      subject,
      message: `belongs to ${table.owner}; tenant tables belong to strata_owner (or, for COPY targets, strata_stager); run ALTER TABLE ${table.schema}.${table.name} OWNER TO strata_owner`,
    }];
  }
  if (rule === 'ledger') {
    return table.granted_to_others
      ? [{ check: 'ledger-granted', subject, message: `holds no tenant rows and has no RLS, so it must be granted to no role; revoke the grants` }]
      : [];
  }

  // A partitioned table stores no rows itself, so its partitions carry the CHECK.
  const problems: Problem[] = [];
  if (rule === 'stager' && table.relkind !== 'p' && !table.has_tenant_check) {
    problems.push({
      check: 'stager-table-without-tenant-check',
      subject,
      message: 'belongs to strata_stager, whose RLS cannot be forced, and lacks the CHECK constraint on tenant_id that keeps other tenants\' rows out of it',
    });
  }

  // A partition read through its parent is filtered by the parent's policy. Read
  // directly, its own RLS applies, which a partition granted to no role does not need.
  if (table.is_partition && !table.granted_to_others) return problems;
  problems.push(...rlsProblems(table, rule, subject));
  return problems;
}

function rlsProblems(table: RelationRow, rule: TableRule, subject: string): Problem[] {
  const problems: Problem[] = [];
  const name = `${table.schema}.${table.name}`;

  if (!table.rls_enabled) {
    problems.push({ check: 'rls-disabled', subject, message: `has row-level security disabled; run ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY` });
  }
  if (rule === 'forced' && !table.rls_forced) {
    problems.push({
      check: 'rls-not-forced',
      subject,
      message: `does not force row-level security, so its owner strata_owner reads every row; run ALTER TABLE ${name} FORCE ROW LEVEL SECURITY`,
    });
  }

  const permissive = table.policies.filter((policy) => policy.permissive);
  if (!permissive.some((policy) => policy.name === TENANT_POLICY_NAME && policy.cmd === '*')) {
    problems.push({
      check: 'policy-missing',
      subject,
      message: `has no ${TENANT_POLICY_NAME} policy for all commands; create it USING and WITH CHECK (${TENANT_PREDICATE})`,
    });
  }
  // Permissive policies are OR-ed together, so each one must be exactly the tenant predicate.
  for (const policy of permissive) {
    const expressions = [policy.qual, policy.with_check].filter((expression): expression is string => expression !== null);
    if (expressions.some((expression) => !TENANT_PREDICATE_DEPARSED.some((predicate) => normalise(expression) === normalise(predicate)))) {
      problems.push({
        check: 'policy-predicate',
        subject,
        message: `policy ${policy.name} is not exactly the tenant predicate ${TENANT_PREDICATE_DEPARSED.join(' or ')} (USING ${policy.qual ?? '-'}, WITH CHECK ${policy.with_check ?? '-'}); drop it or make it a RESTRICTIVE policy`,
      });
    }
  }
  return problems;
}

/** Collapses white space, and drops the column alias PostgreSQL prints for the subquery, so that only the expressions are compared. */
function normalise(expression: string): string {
  return expression
    .replace(/\s+/g, ' ')
    .replace(/ AS "nullif"\)/g, ')')
    .trim();
}

/** True when the view's options turn `security_invoker` on, spelled as PostgreSQL's boolean parser accepts it. */
function isSecurityInvoker(options: string[] | null): boolean {
  const option = (options ?? []).find((candidate) => candidate.toLowerCase().startsWith('security_invoker='));
  const value = option?.slice('security_invoker='.length).toLowerCase();
  if (value === undefined || value === '') return false;
  return 'true'.startsWith(value) || 'yes'.startsWith(value) || value === 'on' || value === '1';
}

function kindName(relkind: string): string {
  return { r: 'table', p: 'partitioned table', v: 'view', m: 'materialized view', f: 'foreign table' }[relkind] ?? 'relation';
}
