// Runs the birdie CLI from source (through tsx) in this process: `node --import tsx run-cli.ts ARGS`.
import { main } from '../../src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`birdie: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
