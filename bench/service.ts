/**
 * What the suites that drive the real service (http, durability) share: a fresh build, the
 * commit measured, free ports, request bodies, child processes, --env flags.
 */
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

function newestMtime(dir: string, keep: (name: string) => boolean): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && keep(e.name)) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when any source is newer than its compiled file; says what it did. */
export function ensureBuilt(): string {
  const src = join(ROOT, 'src');
  const dist = join(ROOT, 'dist');
  let stale: string | null = null;
  if (!existsSync(join(dist, 'cli', 'main.js'))) stale = 'dist/ is missing';
  else {
    for (const e of readdirSync(src, { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.d.ts')) continue;
      const from = join(e.parentPath, e.name);
      const to = join(dist, relative(src, from)).replace(/\.ts$/, '.js');
      if (!existsSync(to) || statSync(to).mtimeMs < statSync(from).mtimeMs) {
        stale = `${relative(ROOT, to)} is older than ${relative(ROOT, from)}`;
        break;
      }
    }
  }
  if (stale === null) return 'dist/ is up to date';
  console.log(`  building: ${stale}; npx tsc -p tsconfig.build.json`);
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`the build failed (${r.signal ?? `exit code ${r.status}`})`);
  // the compiled files are newer than every source now
  if (newestMtime(dist, (n) => n.endsWith('.js')) < newestMtime(src, (n) => n.endsWith('.ts')))
    throw new Error('the build left dist/ older than src/');
  return `built (${stale})`;
}

/** The commit measured, and whether src/ differs from it. */
export function gitState(): { commit: string | null; srcDirty: boolean | null } {
  try {
    const git = (args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return {
      commit: git(['rev-parse', 'HEAD']).trim(),
      srcDirty: git(['status', '--porcelain', '--', 'src']).trim() !== '',
    };
  } catch {
    return { commit: null, srcDirty: null };
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Every child process a suite started, killed on the way out whatever happens. */
export const children = new Set<ChildProcess>();
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Bodies with unique ids over a pool of JSON-encoded texts, from the pool's start. */
export class Bodies {
  private next = 0;
  /** tweets handed out so far, over every workload */
  sent = 0;
  constructor(
    private readonly texts: string[],
    private readonly prefix = `b${Date.now().toString(36)}-`,
  ) {}
  private tweet(): string {
    const text = this.texts[this.next];
    this.next = (this.next + 1) % this.texts.length;
    return `{"id":"${this.prefix}${this.sent++}","text":${text}}`;
  }
  single(): string {
    return this.tweet();
  }
  batch(n: number): string {
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = this.tweet();
    return `{"tweets":[${parts.join(',')}]}`;
  }
}

/** `--env NAME=VALUE` flags for the service; the names in `reserved` are the suite's own. */
export function envFlags(args: string[], reserved: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const v = args[i] === '--env' ? args[++i] : args[i].startsWith('--env=') ? args[i].slice(6) : undefined;
    if (v === undefined) continue;
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(v);
    if (!m) throw new Error(`--env wants NAME=VALUE, got ${v}`);
    if (reserved.includes(m[1])) throw new Error(`--env ${m[1]}: the suite sets it`);
    env[m[1]] = m[2];
  }
  return env;
}

export function pct(x: number | null): string | null {
  return x === null ? null : `${Math.round(100 * x)}%`;
}
