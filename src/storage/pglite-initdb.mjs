// Initialises a PGlite data folder, then exits: run as a child process by storage/open.ts so
// that the memory initdb takes is handed back to the system with the process.
import { PGlite } from '@electric-sql/pglite';

const db = await PGlite.create({ dataDir: process.argv[2] });
await db.close();
