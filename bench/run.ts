/**
 * Benchmark dispatcher: `npm run bench` runs every suite, `npm run bench -- speed` only that one
 * (several names run in the order given). Arguments after the names go to the suites:
 * `npm run bench -- speed --limit 5000`. BENCH_QUICK=1 asks each suite for a short run.
 *
 * Each suite prints its tables and returns its results, written here to bench/out/<name>.json
 * together with the machine they were measured on.
 */
import { relative } from 'node:path';
import { loadNote, machine, machineLine, type Suite, writeJson } from './lib.js';

/** Adding a suite is one line: its name and where its module exports it. Loaded on demand. */
const SUITES: Record<string, () => Promise<Suite>> = {
  speed: async () => (await import('./speed.js')).speed,
  quality: async () => (await import('./quality.js')).quality,
  http: async () => (await import('./http.js')).http,
  durability: async () => (await import('./durability.js')).durability,
  soak: async () => (await import('./soak.js')).soak,
  embed: async () => (await import('./embed.js')).embed,
};

function usage(): string {
  return `usage: npm run bench [-- <suite>... [suite options]]\nsuites: ${Object.keys(SUITES).join(', ')}`;
}

async function main(argv: string[]): Promise<number> {
  const split = argv.findIndex((a) => a.startsWith('-'));
  const names = split === -1 ? argv : argv.slice(0, split);
  const args = split === -1 ? [] : argv.slice(split);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage());
    return 0;
  }
  const unknown = names.filter((n) => !Object.hasOwn(SUITES, n));
  if (unknown.length > 0) {
    console.error(`unknown suite${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const chosen = names.length > 0 ? names : Object.keys(SUITES);
  const quick = process.env.BENCH_QUICK === '1';
  const m = machine();
  console.log(`machine: ${machineLine(m)}${quick ? '  [BENCH_QUICK=1]' : ''}`);
  for (const name of chosen) {
    const suite = await SUITES[name]();
    console.log(`\n== ${suite.name}: ${suite.description}`);
    const started = new Date();
    const loadBefore = loadNote();
    console.log(loadBefore.note);
    const t0 = performance.now();
    const results = await suite.run({ args, quick });
    const seconds = (performance.now() - t0) / 1000;
    const loadAfter = loadNote();
    const path = writeJson(name, {
      suite: name,
      started: started.toISOString(),
      seconds,
      quick,
      args,
      machine: m,
      // 1-minute load average; `after` includes this suite's own work
      load1: { before: loadBefore.load1, after: loadAfter.load1 },
      ...results,
    });
    console.log(`\n${name}: ${seconds.toFixed(0)} s, wrote ${relative(process.cwd(), path)}`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
