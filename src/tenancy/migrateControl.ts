import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * Apply pending control-schema migrations with MikroORM's Migrator. A transaction-level
 * advisory lock, held by an open transaction on a connection of its own, keeps two
 * processes (two API replicas starting at once, say) from running the same migration
 * twice. It ends with that transaction, so it cannot be left behind on a pooled
 * connection, PgBouncer's in transaction pooling included.
 */
export async function migrateControl(pool: pg.Pool, orm: MikroORM, options: { dryRun?: boolean } = {}): Promise<string[]> {
  const lock = await pool.connect();
  try {
    await lock.query('BEGIN');
    await lock.query("SELECT pg_advisory_xact_lock(hashtext('strata.control_migrate'))");

    let names: string[];
    if (options.dryRun) {
      names = (await orm.migrator.getPending()).map((migration) => migration.name);
    } else {
      names = (await orm.migrator.up()).map((migration) => migration.name);
    }
    await lock.query('COMMIT');
    return names;
  } catch (error) {
    await lock.query('ROLLBACK');
    throw error;
  } finally {
    lock.release();
  }
}
