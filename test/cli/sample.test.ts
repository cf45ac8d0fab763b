/**
 * samples/stream.jsonl is generated, never edited by hand: regenerating it in memory must give
 * the committed bytes, and it must keep what the demo and the tokenizer tests rely on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateSample, type SampleTweet } from '../../scripts/make-sample.js';

const committed = readFileSync(join(import.meta.dirname, '..', '..', 'samples', 'stream.jsonl'), 'utf8');
const tweets = committed
  .trimEnd()
  .split('\n')
  .map((line) => JSON.parse(line) as SampleTweet);

test('the committed sample is what the generator makes (run scripts/make-sample.ts if not)', () => {
  const fresh = generateSample();
  assert.equal(fresh, generateSample(), 'two runs in one process differ');
  assert.ok(fresh === committed, 'samples/stream.jsonl differs from scripts/make-sample.ts output');
});

test('about 400 tweets over 12 stories and some noise', () => {
  assert.ok(tweets.length >= 380 && tweets.length <= 420, `${tweets.length} tweets`);
  const stories = new Set(tweets.map((t) => t.story));
  assert.ok(stories.delete('noise'), 'no noise');
  assert.equal(stories.size, 12);
  const noise = tweets.filter((t) => t.story === 'noise').length;
  assert.ok(noise >= 10 && noise <= 40, `${noise} noise tweets`);
});

test('every row has the fields, unique ids, and increasing timestamps within six hours', () => {
  const ids = new Set<string>();
  let last = '';
  for (const t of tweets) {
    assert.deepEqual(Object.keys(t), ['id', 'text', 'created_at', 'user', 'lang', 'story']);
    for (const v of Object.values(t)) assert.equal(typeof v, 'string');
    assert.ok(t.text.length > 0 && [...t.text].length <= 280, t.text);
    assert.match(t.created_at, /^2026-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(t.created_at > last, `${t.created_at} after ${last}`);
    last = t.created_at;
    assert.ok(!ids.has(t.id), `duplicate id ${t.id}`);
    ids.add(t.id);
  }
  const hours = (Date.parse(last) - Date.parse(tweets[0].created_at)) / 3_600_000;
  assert.ok(hours > 4 && hours <= 6, `${hours} hours`);
});

test('stories burst at different times', () => {
  const medians = new Map<string, number>();
  for (const story of new Set(tweets.map((t) => t.story))) {
    if (story === 'noise') continue;
    const times = tweets.filter((t) => t.story === story).map((t) => Date.parse(t.created_at));
    medians.set(story, times[Math.floor(times.length / 2)]);
  }
  const sorted = [...medians.values()].sort((a, b) => a - b);
  assert.ok(
    sorted.at(-1)! - sorted[0] > 3 * 3_600_000,
    'the busiest hours of the stories spread over 3+ hours',
  );
});

test('the texts have what real streams have', () => {
  const count = (re: RegExp) => tweets.filter((t) => re.test(t.text)).length;
  assert.ok(count(/#[A-Z][a-z]+[A-Z]\w*/) >= 20, 'CamelCase hashtags');
  assert.ok(count(/#[a-z]+\b/) >= 10, 'lowercase hashtags');
  assert.ok(count(/(^|[^:] )@\w+|^@\w+/) >= 20, '@mentions outside retweet headers');
  assert.ok(count(/https:\/\/t\.co\/\w{10}/) >= 20, 't.co links');
  assert.ok(count(/https:\/\/www\.[a-z]+\.example\//) >= 20, 'news links');
  assert.ok(count(/\p{Extended_Pictographic}/u) >= 100, 'emoji');
  assert.ok(count(/\d/) >= 100, 'numbers');
  assert.ok(count(/\b\w*([a-z])\1\1\w*\b/) >= 10, 'elongated words');
});

test('retweets copy an earlier tweet of the same story', () => {
  const retweets = tweets.filter((t) => t.text.startsWith('RT @'));
  assert.ok(retweets.length >= 20, `${retweets.length} retweets`);
  for (const [k, rt] of tweets.entries()) {
    if (!rt.text.startsWith('RT @')) continue;
    const m = /^RT @(\w+): (.*)$/su.exec(rt.text)!;
    const body = m[2].endsWith('…') ? m[2].slice(0, -1) : m[2];
    const source = tweets
      .slice(0, k)
      .find((t) => t.user === m[1] && t.story === rt.story && t.lang === rt.lang && t.text.startsWith(body));
    assert.ok(source, `no earlier source for ${rt.text}`);
    assert.notEqual(rt.user, m[1]);
  }
});

test('at least 15 posts in Spanish, French, German and Japanese, about the stories', () => {
  const foreign = tweets.filter((t) => t.lang !== 'en');
  assert.ok(foreign.length >= 15, `${foreign.length} non-English`);
  for (const lang of ['es', 'fr', 'de', 'ja']) {
    assert.ok(
      foreign.some((t) => t.lang === lang && t.story !== 'noise'),
      `no ${lang} post about a story`,
    );
  }
  assert.ok(
    foreign.some((t) => /[\u3040-\u30ff]/.test(t.text)),
    'Japanese script',
  );
});
