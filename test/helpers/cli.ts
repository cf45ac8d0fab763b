import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `birdie ARGS` from source in a child process, with optional stdin. */
export function birdie(args: string[], input?: string): CliResult {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'helpers', 'run-cli.ts'), ...args],
    {
      cwd: root,
      input,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
