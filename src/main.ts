/**
 * `npm start`: read the config and serve (src/server.ts). A bad setting stops the process
 * at once with a message naming it, and exit code 2, as `coffer serve` does.
 */
import { ConfigError, loadConfig } from './config.ts';
import { serve } from './server.ts';

try {
  await serve(loadConfig());
} catch (error) {
  process.stderr.write(`coffer: ${error instanceof ConfigError ? error.message : ((error as Error).stack ?? String(error))}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
