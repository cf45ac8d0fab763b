import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from '../../src/cli/progress.js';

function sink(): { out: NodeJS.WriteStream; text: () => string } {
  let buf = '';
  const write = (s: string): boolean => {
    buf += s;
    return true;
  };
  const out = { write } as unknown as NodeJS.WriteStream;
  return { out, text: () => buf };
}

test('progress shows the share of the file, rows, rate and clusters, and clears its line', () => {
  const s = sink();
  const p = new Progress(s.out, true);
  p.tick(1500, 42, 0.5);
  assert.match(s.text(), /^\r█{10}░{10} {2}50% {2}1500 tweets {2}\d+ tweets\/s {2}42 clusters $/);
  p.clear();
  assert.ok(s.text().endsWith('\r\x1b[2K'));
});

test('no bar for an input of unknown size (stdin); nothing at all when not a terminal', () => {
  const s = sink();
  new Progress(s.out, true).tick(10, 3);
  assert.match(s.text(), /^\r10 tweets {2}\d+ tweets\/s {2}3 clusters $/);
  const quiet = sink();
  const p = new Progress(quiet.out, false);
  p.tick(10, 3, 0.2);
  p.clear();
  assert.equal(quiet.text(), '');
});
