/**
 * `npm start`: exactly `coffer serve` (src/cli), so both fail alike: a start-up failure is one
 * line on stderr naming the setting and an exit code (2 a bad setting, 3 the database does
 * not answer; EXIT_CODES in src/cli/program.ts).
 */
import { main } from './cli/program.ts';

const code = await main(['serve']);
// A failed start may leave a handle open (a driver's socket): the exit code is the answer.
if (code !== 0) process.exit(code);
