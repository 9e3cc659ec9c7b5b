// Lint: the recommended JavaScript and TypeScript rules over every source file (src, test,
// bench, scripts, bin), plus the type-aware promise rules: a promise that is neither awaited
// nor deliberately `void`ed, or one passed where a callback's result is ignored, is an error.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'scratch/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', NodeJS: 'readonly' },
      parserOptions: {
        // Types come from tsconfig.json (src, test, bench) and console/tsconfig.json (the console's
        // browser code); the few files outside them get a default project.
        projectService: {
          allowDefaultProject: ['eslint.config.js', 'bin/coffer.js', 'scripts/*.ts', 'scripts/*.js', 'src/storage/pglite-initdb.mjs', 'console/vite.config.ts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test tracks its own test(), describe(), it() and suite() calls and waits for them.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
);
