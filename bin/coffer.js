#!/usr/bin/env node
// The `coffer` command: loads the CLI compiled into dist/ (`npm ci` builds it; `npm run build`
// after changing src/). The tests run src/cli/index.ts through tsx instead.
await import('../dist/cli/index.js');
