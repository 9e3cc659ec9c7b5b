// Initialises a PGlite data folder, then exits: run as a child process by storage/open.ts so
// that the memory initdb takes is handed back to the system with the process.
import { closeSync, fsyncSync, openSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

const dataDir = resolve(process.argv[2]);
const db = await PGlite.create({ dataDir });
await db.close();

// PGlite's initdb never flushes (its file system has no fsync), so the new cluster is in the
// OS page cache only. Flush every file and folder, then the parent's entry for the folder, as
// PostgreSQL's own initdb does, before the server builds acknowledged commits on top of it.
function flush(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
function flushTree(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) flushTree(path);
    else if (entry.isFile()) flush(path);
  }
  flush(dir);
}
flushTree(dataDir);
flush(dirname(dataDir));
