import { defineEntity, p } from '@mikro-orm/core';

/** A customer of the service: its schema, its wrapped data key and its lifecycle state. */
export const Tenant = defineEntity({
  name: 'Tenant',
  tableName: 'tenant',
  schema: 'control',
  properties: {
    id: p.uuid().primary(),
    code: p.string().unique(),
    name: p.string(),
    schemaName: p.string().unique(),
    /** Where the tenant's key-encryption key lives, e.g. `local:<key id>`. */
    keyRef: p.string(),
    /** The tenant's data key, encrypted by the key provider; never stored in plaintext. */
    wrappedDek: p.string(),
    status: p.enum(['ACTIVE', 'SUSPENDED']),
    schemaVersion: p.string().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

/** A bearer token for an agent or a person; only the SHA-256 of the token is stored. */
export const ApiToken = defineEntity({
  name: 'ApiToken',
  tableName: 'api_token',
  schema: 'control',
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    name: p.string(),
    tokenSha256: p.type('blob').columnType('bytea').unique(),
    scopes: p.array(),
    expiresAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
    createdAt: p.datetime(),
  },
});

export const CONTROL_ENTITIES = [Tenant, ApiToken];
