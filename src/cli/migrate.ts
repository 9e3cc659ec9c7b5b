/** `npm run migrate`: apply pending migrations to the configured database and exit. */
import { loadConfig } from '../config.ts';
import { migrate } from '../storage/migrations.ts';
import { openDatabase } from '../storage/open.ts';

const config = loadConfig();
const db = await openDatabase(config);
try {
  const applied = await migrate(db);
  process.stdout.write(applied.length > 0 ? `applied migrations ${applied.join(', ')}\n` : 'database is up to date\n');
} finally {
  await db.close();
}
