import {
  DatabaseService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { Knex } from 'knex';

const migrationsDir = resolvePackagePath(
  '@mainline/plugin-promotion-backend',
  'migrations',
);

/** Opens the plugin's database and brings its schema up to date (unless migrations are skipped). */
export async function openDatabase(database: DatabaseService): Promise<Knex> {
  const knex = await database.getClient();
  if (!database.migrations?.skip) {
    // Our own bookkeeping table, so that plugins sharing one database never race on knex's default.
    await knex.migrate.latest({
      directory: migrationsDir,
      tableName: 'promotion__knex_migrations',
    });
  }
  return knex;
}
