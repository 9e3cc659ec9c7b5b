/** The `coffer` command's entry (bin/coffer.js loads it): run the command line, exit with its code. */
import { main } from './program.ts';

// Only the exit code is set: `coffer serve` keeps the process alive after main returns.
process.exitCode = await main(process.argv.slice(2));
