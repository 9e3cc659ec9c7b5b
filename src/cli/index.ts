/** The `coffer` command's entry (bin/coffer.js loads it): run the command line, exit with its code. */
import { main } from './program.ts';

// `coffer wallets list | head` closes the pipe early: that is the reader's choice, not a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// A success only sets the exit code: `coffer serve` keeps the process alive after main
// returns. A failure exits now, whatever handle a half-done start left open.
const code = await main(process.argv.slice(2));
if (code === 0) process.exitCode = 0;
else process.exit(code);
