/**
 * Redis for tests. redisForTest(): the machine's Redis at 127.0.0.1:6379 when it answers PING,
 * else a redis-server of our own on a free port (stopped when the test ends), else a reason to
 * skip (no redis-server binary). startRedisServer(): always our own process, for tests that stop
 * and restart it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './tmp.js';

/** Sends PING over a raw socket; true when +PONG comes back within `timeoutMs`. */
export function ping(port: number, host = '127.0.0.1', timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    let answer = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      answer += d.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

export function redisServerBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface RedisServer {
  port: number;
  pid: number;
  url: string;
  /** SIGKILL, as a crash: no shutdown, nothing saved */
  kill(): Promise<void>;
  /** the same, safe to call twice */
  stop(): Promise<void>;
}

/** A redis-server of our own on `port` (default: a free one), nothing on disk; resolves when it answers PING. */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  const bin = redisServerBinary();
  if (bin === undefined) throw new Error('no redis-server binary on PATH');
  const p = port ?? (await freePort());
  const child: ChildProcess = spawn(
    bin,
    ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 100 && !(await ping(p)); i++) {
    if (child.exitCode !== null)
      throw new Error(`redis-server on port ${p} exited with code ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(await ping(p))) {
    child.kill('SIGKILL');
    throw new Error(`redis-server on port ${p} did not answer PING`);
  }
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return { port: p, pid: child.pid as number, url: `redis://127.0.0.1:${p}`, kill, stop: kill };
}

export type RedisForTest = { url: string; skip?: undefined } | { url?: undefined; skip: string };

/** A Redis URL for a test, or why there is none; our own server is stopped after the test. */
export async function redisForTest(t: { after: (fn: () => Promise<void>) => void }): Promise<RedisForTest> {
  if (await ping(6379)) return { url: 'redis://127.0.0.1:6379' };
  if (redisServerBinary() === undefined)
    return { skip: 'no Redis answers at 127.0.0.1:6379 and there is no redis-server binary to start one' };
  const server = await startRedisServer();
  t.after(() => server.stop());
  return { url: server.url };
}
