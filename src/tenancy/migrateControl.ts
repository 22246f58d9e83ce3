import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * Apply pending control-schema migrations with MikroORM's Migrator. A session-level
 * advisory lock, held on a connection of its own, keeps two processes (two API
 * replicas starting at once, say) from running the same migration twice.
 */
export async function migrateControl(pool: pg.Pool, orm: MikroORM, options: { dryRun?: boolean } = {}): Promise<string[]> {
  const lock = await pool.connect();
  try {
    await lock.query("SELECT pg_advisory_lock(hashtext('strata.control_migrate'))");

    if (options.dryRun) {
      const pending = await orm.migrator.getPending();
      return pending.map((migration) => migration.name);
    }
    const applied = await orm.migrator.up();
    return applied.map((migration) => migration.name);
  } finally {
    await lock.query("SELECT pg_advisory_unlock(hashtext('strata.control_migrate'))");
    lock.release();
  }
}
