import { MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { CONTROL_ENTITIES } from '../control/entities.ts';
import { CONTROL_MIGRATIONS } from '../../migrations/index.ts';
import type { Logger } from '../log.ts';

/**
 * Start MikroORM for the control schema: its entities and its migrations. Tenant data
 * never goes through the ORM; the stages use set-based SQL on the pg pool.
 */
export async function createOrm(connectionString: string, log: Logger): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: connectionString,
    entities: CONTROL_ENTITIES,
    extensions: [Migrator],
    pool: { min: 0, max: 4 },
    // A mistyped DATABASE_URL must fail, not create an empty database of that name.
    ensureDatabase: false,
    debug: false,
    logger: (message: string) => log.debug({ component: 'mikro-orm' }, message),
    migrations: {
      // Snapshots make every run re-read the whole catalogue and write a file into
      // the working folder; the migration list is explicit instead.
      snapshot: false,
      tableName: 'mikro_orm_migrations',
      schema: 'control',
      migrationsList: CONTROL_MIGRATIONS,
    },
  });
}
