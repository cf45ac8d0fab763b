import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `birdie ARGS` from source in a child process, with optional stdin. */
export function birdie(args: string[], input?: string, env?: Record<string, string>): CliResult {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'helpers', 'run-cli.ts'), ...args],
    {
      cwd: root,
      input,
      env: env === undefined ? process.env : { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `birdie ARGS` without blocking this process: for tests whose servers (s3rver) run in it and
 * must answer the child.
 */
export function birdieAsync(args: string[], env?: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'test', 'helpers', 'run-cli.ts'), ...args],
      {
        cwd: root,
        env: env === undefined ? process.env : { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
