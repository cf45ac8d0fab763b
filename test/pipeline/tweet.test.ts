/**
 * Validation of incoming tweets (src/pipeline/tweet.ts): every refusal of checkTweet with its
 * message, the id fallback and numeric ids, parseVector (JSON strings and arrays, dimension,
 * non-numeric values, the zero vector, L2 normalisation), parseTime (ISO 8601, Twitter's
 * created_at, epoch seconds vs milliseconds, numeric strings, garbage), and a fuzz of checkTweet
 * over arbitrary JSON records (fast-check, fixed seed): it never throws and answers either a
 * clean tweet or an error string.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type Checked,
  checkTweet,
  MAX_TEXT_LENGTH,
  parseTime,
  parseVector,
  type TweetFields,
} from '../../src/pipeline/tweet.js';

const SEED = 0x7_7ee7;

function check<Ts>(prop: fc.IRawProperty<Ts>, numRuns: number, ms = 800): void {
  fc.assert(prop, { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(ms)] });
}

const FIELDS = { text: 'text', id: 'id' };
const ALL_FIELDS = { text: 'text', id: 'id', vector: 'vec', time: 'time' };

function ok(c: Checked) {
  if (!c.ok) assert.fail(`refused: ${c.error}`);
  return c.tweet;
}

function refused(c: Checked): string {
  if (c.ok) assert.fail(`accepted: ${JSON.stringify(c.tweet)}`);
  return c.error;
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

// ---------------------------------------------------------------- checkTweet: text

test('a plain tweet passes with its text, id and no time or vector', () => {
  assert.deepEqual(checkTweet({ text: 'hello world', id: 'abc' }, FIELDS, 'line 1'), {
    ok: true,
    tweet: { id: 'abc', text: 'hello world', time: undefined, vector: undefined },
  });
  // the field names come from the caller
  const t = ok(checkTweet({ body: 'hi', key: 'k' }, { text: 'body', id: 'key' }, 'x'));
  assert.equal(t.text, 'hi');
  assert.equal(t.id, 'k');
});

test('text that is not a string is refused', () => {
  for (const text of [5, 0, true, false, {}, [], ['a'], { a: 'b' }])
    assert.equal(
      refused(checkTweet({ text, id: '1' }, FIELDS, 'f')),
      'field "text" is not a string',
      JSON.stringify(text),
    );
  // even when a vector would let it through without text
  assert.equal(
    refused(checkTweet({ text: 3, vec: [1, 0] }, ALL_FIELDS, 'f')),
    'field "text" is not a string',
  );
  assert.equal(
    refused(checkTweet({ msg: 12 }, { text: 'msg', id: 'id' }, 'f')),
    'field "msg" is not a string',
  );
});

test(`text longer than ${MAX_TEXT_LENGTH} code units is refused, that length passes`, () => {
  assert.equal(MAX_TEXT_LENGTH, 10_000);
  const atLimit = 'a'.repeat(MAX_TEXT_LENGTH);
  assert.equal(ok(checkTweet({ text: atLimit }, FIELDS, 'f')).text, atLimit);
  assert.equal(
    refused(checkTweet({ text: `${atLimit}b` }, FIELDS, 'f')),
    `field "text" is longer than ${MAX_TEXT_LENGTH} characters`,
  );
  // UTF-16 code units: 5,000 emoji are 10,000 units, one more is over
  const emoji = '😀'.repeat(MAX_TEXT_LENGTH / 2);
  assert.equal(ok(checkTweet({ text: emoji }, FIELDS, 'f')).text, emoji);
  assert.match(refused(checkTweet({ text: `${emoji}😀` }, FIELDS, 'f')), /is longer than/);
  // also when the tweet carries its own vector
  assert.match(refused(checkTweet({ text: `${atLimit}b`, vec: [1] }, ALL_FIELDS, 'f')), /is longer than/);
});

test('no text and no vector field: refused; with a vector field the text may be missing', () => {
  for (const rec of [
    {},
    { text: '' },
    { text: '   \n\t ' },
    { text: null },
    { text: undefined },
    { id: 'x' },
  ])
    assert.equal(refused(checkTweet(rec, FIELDS, 'f')), 'no text in field "text"', JSON.stringify(rec));
  for (const text of [undefined, null, '', '  ']) {
    const t = ok(checkTweet({ text, vec: [3, 4] }, ALL_FIELDS, 'f'));
    assert.equal(t.text, text ?? '');
    assert.deepEqual([...t.vector!], [0.6000000238418579, 0.800000011920929]);
  }
});

// ---------------------------------------------------------------- checkTweet: id

test('ids: strings kept, finite numbers stringified, missing/null/empty fall back', () => {
  const id = (raw: unknown) => ok(checkTweet({ text: 't', id: raw }, FIELDS, 'fallback-7')).id;
  assert.equal(id('1050118621198921728'), '1050118621198921728');
  assert.equal(id(' x '), ' x ');
  assert.equal(id(42), '42');
  assert.equal(id(0), '0');
  assert.equal(id(-3.5), '-3.5');
  assert.equal(id(1e21), '1e+21');
  assert.equal(id(undefined), 'fallback-7');
  assert.equal(id(null), 'fallback-7');
  assert.equal(id(''), 'fallback-7');
  assert.equal(ok(checkTweet({ text: 't' }, FIELDS, 'line 3')).id, 'line 3');
});

test('ids that are neither a string nor a finite number are refused', () => {
  for (const raw of [
    true,
    false,
    {},
    [],
    [1],
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ])
    assert.equal(
      refused(checkTweet({ text: 't', id: raw }, FIELDS, 'f')),
      'field "id" is not a string or number',
      String(raw),
    );
  assert.equal(
    refused(checkTweet({ text: 't', tid: {} }, { text: 'text', id: 'tid' }, 'f')),
    'field "tid" is not a string or number',
  );
});

// ---------------------------------------------------------------- checkTweet: time

test('time: parsed when the field is configured and present, refused when not a date', () => {
  const fields = { text: 'text', id: 'id', time: 'time' };
  assert.equal(
    ok(checkTweet({ text: 't', time: '2018-10-10T20:19:24Z' }, fields, 'f')).time,
    Date.UTC(2018, 9, 10, 20, 19, 24),
  );
  assert.equal(ok(checkTweet({ text: 't', time: 1539202764 }, fields, 'f')).time, 1539202764000);
  // absent or null: no time (the caller uses the arrival time)
  assert.equal(ok(checkTweet({ text: 't' }, fields, 'f')).time, undefined);
  assert.equal(ok(checkTweet({ text: 't', time: null }, fields, 'f')).time, undefined);
  // the field is only read when configured
  assert.equal(ok(checkTweet({ text: 't', time: 'garbage' }, FIELDS, 'f')).time, undefined);
  for (const raw of ['garbage', '', true, {}, [], Number.NaN, Number.POSITIVE_INFINITY, '12abc'])
    assert.equal(
      refused(checkTweet({ text: 't', time: raw }, fields, 'f')),
      'field "time" is not a date',
      String(raw),
    );
  assert.equal(
    refused(checkTweet({ text: 't', at: 'never' }, { text: 'text', id: 'id', time: 'at' }, 'f')),
    'field "at" is not a date',
  );
});

test('checks run in order: text, vector, id, time', () => {
  const bad = { text: 1, vec: 'x', id: true, time: 'never' };
  assert.match(refused(checkTweet(bad, ALL_FIELDS, 'f')), /"text" is not a string/);
  assert.match(refused(checkTweet({ ...bad, text: 'ok' }, ALL_FIELDS, 'f')), /"vec" is not a JSON array/);
  assert.match(
    refused(checkTweet({ ...bad, text: 'ok', vec: [1] }, ALL_FIELDS, 'f')),
    /"id" is not a string/,
  );
  assert.match(
    refused(checkTweet({ ...bad, text: 'ok', vec: [1], id: 'i' }, ALL_FIELDS, 'f')),
    /"time" is not a date/,
  );
});

// ---------------------------------------------------------------- checkTweet: vector

test('vector errors come through checkTweet with the vector field name and the dimension', () => {
  const f = { text: 'text', id: 'id', vector: 'emb' };
  assert.equal(
    refused(checkTweet({ text: 't' }, f, 'x')),
    'field "emb" is missing or not an array of numbers',
  );
  assert.equal(
    refused(checkTweet({ text: 't', emb: [1, 2] }, f, 'x', 3)),
    'field "emb" has dimension 2, expected 3',
  );
  const t = ok(checkTweet({ text: 't', emb: '[0, 2, 0]' }, f, 'x', 3));
  assert.ok(t.vector instanceof Float32Array);
  assert.deepEqual([...t.vector!], [0, 1, 0]);
});

// ---------------------------------------------------------------- parseVector

test('parseVector: a JSON string or an array, L2-normalised into a Float32Array', () => {
  for (const raw of ['[1, 2, 2]', [1, 2, 2], ' [1,2,2] ']) {
    const v = parseVector(raw, 'v');
    assert.ok(v instanceof Float32Array, String(raw));
    assert.deepEqual([...v], [...Float32Array.of(1 / 3, 2 / 3, 2 / 3)]);
  }
  assert.deepEqual([...(parseVector([-5], 'v') as Float32Array)], [-1]);
  assert.deepEqual([...(parseVector([0, 0, 7e-3, 0], 'v', 4) as Float32Array)], [0, 0, 1, 0]);
  // the caller's array is not modified
  const raw = [3, 4];
  parseVector(raw, 'v');
  assert.deepEqual(raw, [3, 4]);
});

test('parseVector: each refusal and its message', () => {
  const cases: [unknown, number | undefined, string][] = [
    ['not json', undefined, 'field "v" is not a JSON array of numbers'],
    ['[1, 2', undefined, 'field "v" is not a JSON array of numbers'],
    ['', undefined, 'field "v" is not a JSON array of numbers'],
    ['{"a": 1}', undefined, 'field "v" is missing or not an array of numbers'],
    ['5', undefined, 'field "v" is missing or not an array of numbers'],
    ['"[1]"', undefined, 'field "v" is missing or not an array of numbers'],
    [undefined, undefined, 'field "v" is missing or not an array of numbers'],
    [null, undefined, 'field "v" is missing or not an array of numbers'],
    [7, undefined, 'field "v" is missing or not an array of numbers'],
    [{ 0: 1, length: 1 }, undefined, 'field "v" is missing or not an array of numbers'],
    [Float32Array.of(1, 2), undefined, 'field "v" is missing or not an array of numbers'],
    [[1, 2], 3, 'field "v" has dimension 2, expected 3'],
    ['[1, 2, 3, 4]', 3, 'field "v" has dimension 4, expected 3'],
    [[], 3, 'field "v" has dimension 0, expected 3'],
    [[], undefined, 'field "v" is empty'],
    ['[]', undefined, 'field "v" is empty'],
    [[1, '2'], undefined, 'field "v" has a non-numeric value at 1'],
    ['[1, "2"]', undefined, 'field "v" has a non-numeric value at 1'],
    [[null, 1], undefined, 'field "v" has a non-numeric value at 0'],
    [[1, 2, Number.NaN], undefined, 'field "v" has a non-numeric value at 2'],
    [[Number.POSITIVE_INFINITY], undefined, 'field "v" has a non-numeric value at 0'],
    [[1, [2]], undefined, 'field "v" has a non-numeric value at 1'],
    [[1, true], undefined, 'field "v" has a non-numeric value at 1'],
    [[0, 0, 0], undefined, 'field "v" is the zero vector'],
    ['[0, -0]', 2, 'field "v" is the zero vector'],
  ];
  for (const [raw, dim, want] of cases) assert.equal(parseVector(raw, 'v', dim), want, JSON.stringify(raw));
});

test('parseVector: any vector of moderate finite values comes out unit-length and in the same direction', () => {
  check(
    fc.property(
      fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 64 }),
      fc.boolean(),
      (xs, asString) => {
        const v = parseVector(asString ? JSON.stringify(xs) : xs, 'v', xs.length);
        const n = Math.hypot(...xs);
        // |x| > 0 but every float32 entry may still underflow: not at these magnitudes
        if (!(n > 1e-30)) {
          if (n === 0) assert.equal(v, 'field "v" is the zero vector');
          return;
        }
        assert.ok(v instanceof Float32Array, String(v));
        assert.equal(v.length, xs.length);
        assert.ok(Math.abs(norm(v) - 1) < 1e-6, `norm ${norm(v)}`);
        for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(v[i] - xs[i] / n) < 1e-6, `coordinate ${i}`);
      },
    ),
    400,
  );
});

/*
 * Regression (found by this test, since fixed: parseVector): the values are stored into the Float32Array before normalising and
 * the squared norm is summed in doubles without scaling, so finite inputs outside float32's
 * range, or whose squares overflow or underflow, do not come out unit-length:
 *   parseVector([1e39], 'v')     -> Float32Array [Infinity]   (1e39 overflows float32)
 *   parseVector([1e200, 1], 'v') -> Float32Array [NaN, 0]     (norm^2 = Infinity, Infinity * 0)
 *   parseVector([1e-50], 'v')    -> Float32Array [0]          (underflows float32; norm 1e-50 > 0)
 * Such a vector reaches the engine as NaN/Infinity/zero and poisons its cluster's centroid (and
 * every ancestor's). Fix: normalise in doubles, dividing by the largest |x_i| first, then store.
 */
test('parseVector: extreme but finite values still give a finite unit vector (or a refusal)', () => {
  for (const raw of [[1e39], [1e200, 1], [-1e300, 1e300], [1e-50], [3e-45, 4e-45], [1e-200, 0]]) {
    const v = parseVector(raw, 'v');
    if (typeof v === 'string') continue;
    assert.ok(
      [...v].every(Number.isFinite) && Math.abs(norm(v) - 1) < 1e-6,
      `${JSON.stringify(raw)} -> [${[...v]}]`,
    );
  }
});

// ---------------------------------------------------------------- parseTime

test('parseTime: ISO 8601 and Twitter created_at', () => {
  const t = Date.UTC(2018, 9, 10, 20, 19, 24);
  assert.equal(parseTime('2018-10-10T20:19:24Z'), t);
  assert.equal(parseTime('2018-10-10T20:19:24.500Z'), t + 500);
  assert.equal(parseTime('2018-10-10T22:19:24+02:00'), t);
  assert.equal(parseTime('2018-10-10'), Date.UTC(2018, 9, 10));
  assert.equal(parseTime('Wed Oct 10 20:19:24 +0000 2018'), t);
  assert.equal(parseTime('Wed Oct 10 22:19:24 +0200 2018'), t);
  assert.equal(parseTime('Thu Jan 01 00:00:00 +0000 1970'), 0);
});

test('parseTime: epoch seconds below 1e11, milliseconds from 1e11, numbers and numeric strings alike', () => {
  assert.equal(parseTime(1539202764), 1539202764000);
  assert.equal(parseTime(1539202764000), 1539202764000);
  assert.equal(parseTime(1539202764.25), 1539202764250);
  assert.equal(parseTime(0), 0);
  assert.equal(parseTime(-5), -5000);
  assert.equal(parseTime(99_999_999_999), 99_999_999_999_000);
  assert.equal(parseTime(1e11), 1e11);
  assert.equal(parseTime('1539202764'), 1539202764000);
  assert.equal(parseTime('1539202764000'), 1539202764000);
  assert.equal(parseTime('1539202764.5'), 1539202764500);
  assert.equal(parseTime('0'), 0);
  check(
    fc.property(fc.integer({ min: 0, max: 4e9 }), (s) => {
      assert.equal(parseTime(s), s * 1000);
      assert.equal(parseTime(String(s)), s * 1000);
      assert.equal(parseTime(s * 1000 + 1e11), s * 1000 + 1e11);
      assert.equal(parseTime(String(s * 1000 + 1e11)), s * 1000 + 1e11);
    }),
    200,
  );
});

test('parseTime: garbage and non-finite values give undefined', () => {
  for (const raw of [
    '',
    'garbage',
    'yesterday',
    '1e5',
    '12abc',
    '2018-13-45T99:99:99Z',
    '9'.repeat(400), // a numeric string beyond the doubles
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    null,
    undefined,
    true,
    {},
    [],
    [1539202764],
  ])
    assert.equal(parseTime(raw), undefined, String(raw));
});

/*
 * Regression (found by this test, since fixed: parseTime): a number is taken as seconds below 1e11 and multiplied by 1000
 * unchecked, and as milliseconds from 1e11 unchecked, so values that are no date are accepted:
 *   parseTime(-1e306) -> -Infinity   (seconds * 1000 overflows)
 *   parseTime(1e300)  -> 1e300       (new Date(1e300) is an Invalid Date)
 *   parseTime('99999999999999999999') -> 1e20
 * checkTweet then passes them as the tweet's time (firstSeen = -Infinity serialises as null).
 * Fix: refuse results outside the Date range, |t| <= 8.64e15 ms.
 */
test('parseTime: a number it accepts is a valid Date time', () => {
  for (const raw of [-1e306, -Number.MAX_VALUE, 1e300, Number.MAX_VALUE, 9e15, '99999999999999999999']) {
    const t = parseTime(raw);
    if (t === undefined) continue;
    assert.ok(!Number.isNaN(new Date(t).getTime()), `parseTime(${raw}) = ${t} is not a date`);
  }
});

// ---------------------------------------------------------------- fuzz

const FIELD_NAMES = ['text', 'id', 'vec', 'time', 'other'];

/** Records mixing arbitrary JSON with plausible values under the configured field names. */
const recordArb = fc
  .tuple(
    fc.dictionary(
      fc.constantFrom(...FIELD_NAMES, 'x', '__proto__', 'constructor'),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    fc.record(
      {
        text: fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 1 })),
        id: fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 1 })),
        vec: fc.oneof(
          fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { maxLength: 6 }),
          fc
            .array(fc.double({ min: -10, max: 10, noNaN: true }), { maxLength: 6 })
            .map((a) => JSON.stringify(a)),
          fc.jsonValue({ maxDepth: 2 }),
          fc.string({ maxLength: 12 }),
        ),
        time: fc.oneof(
          fc.integer(),
          fc.double(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string({ maxLength: 12 }),
          fc.jsonValue({ maxDepth: 1 }),
        ),
      },
      { requiredKeys: [] },
    ),
  )
  .map(([noise, fields]) => ({ ...noise, ...fields }) as Record<string, unknown>);

/** Whether every non-zero value of a raw vector (array or JSON string) is within 1e-30..1e30. */
function moderate(raw: unknown): boolean {
  const arr: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
  return (arr as number[]).every((x) => x === 0 || (Math.abs(x) >= 1e-30 && Math.abs(x) <= 1e30));
}

test('fuzz: checkTweet never throws and answers a clean tweet or an error string', () => {
  check(
    fc.property(
      recordArb,
      fc.constantFrom<TweetFields[]>(
        FIELDS,
        ALL_FIELDS,
        { text: 'text', id: 'id', time: 'time' },
        { text: 'x', id: 'other', vector: 'vec' },
      ),
      fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
      fc.string({ maxLength: 6 }),
      (record, fields, dim, fallback) => {
        const c = checkTweet(record, fields, fallback, dim);
        assert.equal(typeof c.ok, 'boolean');
        if (!c.ok) {
          assert.equal(typeof c.error, 'string');
          assert.ok(c.error.length > 0);
          assert.deepEqual(Object.keys(c).sort(), ['error', 'ok']);
          return;
        }
        const t = c.tweet;
        assert.equal(typeof t.id, 'string');
        assert.ok(t.id !== '' || fallback === '', 'empty id only from an empty fallback');
        assert.equal(typeof t.text, 'string');
        assert.ok(t.text.length <= MAX_TEXT_LENGTH);
        if (fields.vector === undefined) {
          assert.equal(t.vector, undefined);
          assert.notEqual(t.text.trim(), '', 'a tweet without a vector has text');
        } else {
          assert.ok(t.vector instanceof Float32Array);
          if (dim !== undefined) assert.equal(t.vector.length, dim);
          // extreme magnitudes are the known parseVector bug, tested on its own above
          if (moderate(record[fields.vector]))
            assert.ok(Math.abs(norm(t.vector) - 1) < 1e-5, `norm ${norm(t.vector)}`);
        }
        if (fields.time === undefined) assert.equal(t.time, undefined);
        // (finite and within the Date range: the known parseTime bug, tested on its own above)
        else if (t.time !== undefined) assert.ok(typeof t.time === 'number' && !Number.isNaN(t.time));
      },
    ),
    1500,
    1500,
  );
});

test('fuzz: arbitrary JSON objects and field names never make checkTweet throw', () => {
  check(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 3 })),
      fc.record({ text: fc.string({ maxLength: 4 }), id: fc.string({ maxLength: 4 }) }),
      fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
      fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
      fc.option(fc.nat(8), { nil: undefined }),
      (record, names, vector, time, dim) => {
        const fields = { ...names, vector, time };
        let c: Checked | undefined;
        assert.doesNotThrow(() => {
          c = checkTweet(record, fields, 'fb', dim);
        });
        assert.ok(c !== undefined && (c.ok ? typeof c.tweet.id === 'string' : typeof c.error === 'string'));
      },
    ),
    1500,
    1200,
  );
});
