import { expect } from 'chai';
import { Roles } from '../../src/db/roles.ts';
import { withTenant } from '../../src/db/tenantContext.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const TABLES = ['scan', 'ingest_chunk', 'dir', 'file', 'tier_object', 'tier2_inventory', 'audit_log', 'mikro_orm_migrations'];
const PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'];

describe('stage role privileges', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('stage_roles', { api: false, workers: false });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Return every table privilege `role` has in the tenant's schema, as `table:PRIVILEGE`, column grants included. */
  async function privileges(role: string): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ grant: string }>(
      `SELECT t || ':' || p AS grant
         FROM unnest($2::text[]) t, unnest($3::text[]) p
        WHERE has_table_privilege($1, format('%I.%I', $4::text, t), p)
           OR (p IN ('SELECT', 'INSERT', 'UPDATE') AND has_any_column_privilege($1, format('%I.%I', $4::text, t), p))
        ORDER BY 1`,
      [role, TABLES, PRIVILEGES, tenant.schemaName],
    );
    return rows.map((row) => row.grant);
  }

  it('gives the actor reads, tier object updates and audit inserts', async () => {
    expect(await privileges(Roles.actor)).to.deep.equal([
      'audit_log:INSERT',
      'dir:SELECT',
      'file:SELECT',
      'scan:SELECT',
      'tier_object:SELECT',
      'tier_object:UPDATE',
    ]);
  });

  it('lets the actor update only lease, result and state columns', async () => {
    const { rows } = await stack.services.pool.query(
      `SELECT attname FROM pg_attribute
        WHERE attrelid = $2::regclass AND attnum > 0 AND NOT attisdropped
          AND has_column_privilege($1, attrelid, attname, 'UPDATE')
        ORDER BY 1`,
      [Roles.actor, `${tenant.schemaName}.tier_object`],
    );
    expect(rows.map((row) => row.attname)).to.deep.equal([
      'acted_at',
      'attempts',
      'claimed_at',
      'fence',
      'last_error',
      'last_outcome',
      'lease_expires_at',
      'leased_by',
      'result_fence',
      'sha256',
      'state',
      'target_uri',
      'tier2_full_key',
      'tier2_key',
    ]);
  });

  it('gives the sanitizer reads, inventory and state writes', async () => {
    expect(await privileges(Roles.sanitizer)).to.deep.equal([
      'audit_log:INSERT',
      'audit_log:SELECT',
      'dir:SELECT',
      'file:SELECT',
      'ingest_chunk:SELECT',
      'scan:SELECT',
      'tier2_inventory:INSERT',
      'tier2_inventory:SELECT',
      'tier_object:SELECT',
      'tier_object:UPDATE',
    ]);
  });

  it('gives the report role no table at all', async () => {
    expect(await privileges(Roles.report)).to.deep.equal([]);
  });

  it('lets the actor and the sanitizer write the audit log', async () => {
    for (const role of [Roles.actor, Roles.sanitizer]) {
      await withTenant(stack.services.pool, tenant, role, (client) =>
        client.query("INSERT INTO audit_log (actor, action) VALUES ($1, 'test')", [role]),
      );
    }
    const { rows } = await stack.services.pool.query(`SELECT actor FROM ${tenant.schemaName}.audit_log ORDER BY audit_id`);
    expect(rows.map((row) => row.actor)).to.deep.equal([Roles.actor, Roles.sanitizer]);
  });

  it('lets the report role read the reporting views', async () => {
    const counts = await withTenant(stack.services.pool, tenant, Roles.report, async (client) => {
      const found: number[] = [];
      for (const view of ['report_latest_files', 'report_age_histogram', 'report_tiering_state']) {
        found.push((await client.query(`SELECT count(*)::int AS n FROM ${view}`)).rows[0].n);
      }
      return found;
    });
    expect(counts).to.deep.equal([0, 0, 0]);
  });
});
