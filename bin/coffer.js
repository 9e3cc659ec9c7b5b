#!/usr/bin/env node
// The `coffer` command. Coffer runs its TypeScript through tsx (there is no build step), so
// this launcher registers tsx and then loads the CLI; it works straight after `npm ci`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/index.ts');
