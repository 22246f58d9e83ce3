import type pg from 'pg';
import type { TenantRef } from '../db/tenantContext.ts';
import { assertTenantCode } from '../tenancy/schemaName.ts';

export interface TenantRecord extends TenantRef {
  name: string;
  status: 'ACTIVE' | 'SUSPENDED';
  schemaVersion: string | null;
  createdAt: Date;
}

interface TenantRow {
  id: string;
  code: string;
  name: string;
  schema_name: string;
  status: TenantRecord['status'];
  schema_version: string | null;
  created_at: Date;
}

const SELECT_TENANT = 'SELECT id, code, name, schema_name, status, schema_version, created_at FROM control.tenant';

function toRecord(row: TenantRow): TenantRecord {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    schemaName: row.schema_name,
    status: row.status,
    schemaVersion: row.schema_version,
    createdAt: row.created_at,
  };
}

export async function findTenantById(db: pg.Pool, id: string): Promise<TenantRecord | undefined> {
  const { rows } = await db.query<TenantRow>(`${SELECT_TENANT} WHERE id = $1`, [id]);
  return rows[0] && toRecord(rows[0]);
}

export async function findTenantByCode(db: pg.Pool, code: string): Promise<TenantRecord | undefined> {
  assertTenantCode(code);
  const { rows } = await db.query<TenantRow>(`${SELECT_TENANT} WHERE code = $1`, [code]);
  return rows[0] && toRecord(rows[0]);
}
