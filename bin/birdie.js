#!/usr/bin/env node
// The `birdie` command. The TypeScript sources are compiled to dist/ by `npm ci` (the prepare script).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`birdie: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
