import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startBoss } from '../../src/jobs/boss.ts';
import type { TenantRef } from '../../src/db/tenantContext.ts';
import { setUpLoginRole } from '../../src/tenancy/loginRole.ts';
import { setUpReportRole } from '../../src/tenancy/reportRole.ts';
import { testServer } from './database.ts';
import type { Stack } from './stack.ts';

export interface TestLogin {
  role: string;
  password: string;
  /** The stack's database, connected as this login. */
  url: string;
  /** Drop the role; call it after the stack's database, which contains its grants, is gone. */
  drop(): Promise<void>;
}

/**
 * Make a runtime login of its own for one test file with `setUpLoginRole`, as
 * `strata db create-login-role` does. Roles are cluster-wide and other suites run
 * at the same time, so the name is random, and the shared function roles are only
 * granted, never changed.
 */
export async function createTestLogin(stack: Stack, label: string): Promise<TestLogin> {
  const role = `strata_t_${label.replace(/[^a-z0-9]/g, '_').slice(0, 20)}_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');

  // As `strata db create-login-role` does: pg-boss installs its schema as the
  // administrator, because the login may not create schemas.
  const boss = await startBoss(stack.db.url, stack.services.log, { max: 2 });
  await boss.stop({ graceful: false, close: true });

  const client = await stack.services.pool.connect();
  try {
    await client.query('BEGIN');
    await setUpLoginRole(client, { role, password });
    await client.query('COMMIT');
  } finally {
    client.release();
  }

  return { role, password, url: urlFor(stack.db.url, role, password), drop: () => dropRole(role) };
}

/** Return `url` with another user and password. */
export function urlFor(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

async function dropRole(role: string): Promise<void> {
  const client = new pg.Client({ connectionString: (await testServer()).url });
  await client.connect();
  try {
    await client.query(`DROP ROLE IF EXISTS ${client.escapeIdentifier(role)}`);
  } finally {
    await client.end();
  }
}

/**
 * Make a tenant's reporting login with `setUpReportRole`, as `strata tenant
 * report-role` does. Use a tenant whose code is unique to the run: the login's name
 * comes from the code, and roles are cluster-wide.
 */
export async function createReportLogin(stack: Stack, tenant: TenantRef): Promise<TestLogin> {
  const password = randomBytes(18).toString('base64url');
  const client = await stack.services.pool.connect();
  let role: string;
  try {
    await client.query('BEGIN');
    ({ role } = await setUpReportRole(client, tenant, { password, connectionLimit: 5 }));
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return { role, password, url: urlFor(stack.db.url, role, password), drop: () => dropRole(role) };
}

/** Return a tenant code that no other run uses at the same time, e.g. `acme_3f9a2c`. */
export function uniqueCode(prefix: string): string {
  return `${prefix}_${randomBytes(3).toString('hex')}`;
}
