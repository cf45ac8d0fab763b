/**
 * Configuration (src/config.ts): the defaults (each parses, every key is present), each kind of
 * bad value and its message, one ConfigError listing every problem at once, the two thresholds
 * being exclusive, the .env file under the real environment, live changes (applied, refused as a
 * whole, the mode rules), and that no token value ever reaches an error message or the public
 * view. Plus the generated files: `.env.example` and the README's table must match OPTIONS.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseEnv } from 'node:util';
import {
  applyLiveChange,
  type Config,
  ConfigError,
  configTable,
  type Env,
  envExample,
  environment,
  LIVE_KEYS,
  LIVE_NAMES,
  loadConfig,
  MIN_TOKEN_LENGTH,
  OPTIONS,
  publicConfig,
} from '../src/config.js';

const ROOT = join(import.meta.dirname, '..');

const DEFAULTS: Config = {
  port: 8000,
  host: '0.0.0.0',
  stateDir: './data',
  logLevel: 'info',
  apiTokens: [],
  adminTokens: [],
  embedder: 'tfidf',
  embeddingDim: 1024,
  embeddingModelPath: undefined,
  embeddingModel: undefined,
  embeddingAllowDownload: false,
  embeddingUrl: undefined,
  embeddingApi: 'auto',
  embeddingApiKey: undefined,
  embeddingBatchSize: 32,
  embeddingTimeoutMs: 10000,
  embeddingRetries: 3,
  embeddingThreads: 1,
  redisUrl: undefined,
  embeddingCacheSize: 10000,
  embeddingCacheTtlSeconds: 3600,
  absorb: 'dmm',
  dmmAlpha: 0.1,
  dmmBeta: 0.01,
  dmmHalfLife: 300,
  dmmOutlierSize: 3,
  similarityThreshold: 0.25,
  birchThreshold: undefined,
  branchingFactor: 50,
  batchSize: 500,
  maxBodyBytes: 10485760,
  maxTweetEmbeddings: 10000,
  maxTweetIds: 1000000,
  clusterExpiryHours: 24,
  minClusterSize: 2,
  outlierExpiryHours: 2,
  maxClustersInMemory: 50000,
  topics: 0,
  topicsIntervalSeconds: 60,
  rateLimitPerMinute: 0,
  shutdownTimeoutSeconds: 10,
  trustProxy: false,
  walSync: 'fsync',
  backupIntervalSeconds: 3600,
  backupEveryTweets: 1000,
  backupMinIntervalSeconds: 30,
  backupKeep: 24,
  s3Bucket: undefined,
  s3Prefix: 'birch-clustering/',
  s3Endpoint: undefined,
  encryptionKey: undefined,
  encryptionPreviousKeys: [],
};

// Tokens long enough to pass, and distinctive enough that finding them in a message is no accident.
const API_TOKEN = 'api-SECRET-token-aaaaaaaaaaaa';
const ADMIN_TOKEN = 'admin-SECRET-token-bbbbbbbbbb';

/** The ConfigError `f` throws (fails when it throws anything else or nothing). */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

const tmp = mkdtempSync(join(tmpdir(), 'birdie-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
function envFile(text: string): string {
  const path = join(tmp, `env-${files++}`);
  writeFileSync(path, text);
  return path;
}

// ---------------------------------------------------------------- defaults

test('an empty environment gives every default', () => {
  assert.deepEqual(loadConfig({}), DEFAULTS);
});

test('the config object has a key for every option, even one without a value', () => {
  const config = loadConfig({});
  for (const o of OPTIONS) assert.ok(o.key in config, `${o.key} missing`);
  // BIRCH_THRESHOLD has no default: the key is there, holding undefined (cosine mode)
  assert.ok('birchThreshold' in config);
  assert.equal(config.birchThreshold, undefined);
  assert.deepEqual(Object.keys(config).sort(), OPTIONS.map((o) => o.key).sort());
});

test("every option's default parses with its own parser", () => {
  for (const o of OPTIONS) {
    if (o.default === undefined) continue;
    assert.doesNotThrow(() => o.parse(o.default as string), `${o.env} default "${o.default}"`);
  }
});

test('an empty or blank variable counts as unset (the default applies)', () => {
  const blank: Env = {};
  const spaces: Env = {};
  for (const o of OPTIONS) {
    blank[o.env] = '';
    spaces[o.env] = '   ';
  }
  assert.deepEqual(loadConfig(blank), DEFAULTS);
  assert.deepEqual(loadConfig(spaces), DEFAULTS);
});

test('values given are parsed: integers, numbers, levels, tokens, booleans', () => {
  const c = loadConfig({
    PORT: ' 9000 ',
    HOST: ' 127.0.0.1 ',
    LOG_LEVEL: 'DEBUG', // case does not matter
    API_TOKENS: ` ${API_TOKEN} ,, ${API_TOKEN}2 `, // trimmed, empty items dropped
    ADMIN_TOKENS: ADMIN_TOKEN,
    EMBEDDING_DIM: '256',
    BIRCH_THRESHOLD: '0.5',
    CLUSTER_EXPIRY_HOURS: '0.5',
    TRUST_PROXY: 'yes',
    TOPICS: '12',
  });
  assert.equal(c.port, 9000);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.logLevel, 'debug');
  assert.deepEqual(c.apiTokens, [API_TOKEN, `${API_TOKEN}2`]);
  assert.deepEqual(c.adminTokens, [ADMIN_TOKEN]);
  assert.equal(c.embeddingDim, 256);
  assert.equal(c.birchThreshold, 0.5);
  assert.equal(c.similarityThreshold, 0.25); // untouched default; radius mode ignores it
  assert.equal(c.clusterExpiryHours, 0.5);
  assert.equal(c.trustProxy, true);
  assert.equal(c.topics, 12);
  for (const [raw, want] of [
    ['1', true],
    ['on', true],
    ['TRUE', true],
    ['0', false],
    ['off', false],
    ['No', false],
  ] as const) {
    assert.equal(loadConfig({ TRUST_PROXY: raw }).trustProxy, want, raw);
  }
});

test('the range bounds themselves are accepted', () => {
  assert.equal(loadConfig({ PORT: '0' }).port, 0);
  assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
  assert.equal(loadConfig({ SIMILARITY_THRESHOLD: '0' }).similarityThreshold, 0);
  assert.equal(loadConfig({ SIMILARITY_THRESHOLD: '1' }).similarityThreshold, 1);
  assert.equal(loadConfig({ BIRCH_THRESHOLD: '2' }).birchThreshold, 2);
  assert.equal(loadConfig({ CLUSTER_EXPIRY_HOURS: '0' }).clusterExpiryHours, 0);
});

// ---------------------------------------------------------------- bad values

test('each kind of bad value is refused with the variable named and what is wrong', () => {
  const cases: [env: string, value: string, says: RegExp][] = [
    // not an integer
    ['PORT', 'abc', /must be an integer/],
    ['PORT', '80.5', /must be an integer/],
    ['PORT', '1e3', /must be an integer/],
    ['PORT', '0x50', /must be an integer/],
    ['BATCH_SIZE', '10 tweets', /must be an integer/],
    // out of range
    ['PORT', '65536', /between 0 and 65535/],
    ['PORT', '-1', /between 0 and 65535/],
    ['EMBEDDING_DIM', '4', /between 8 and 65536/],
    ['BIRCH_BRANCHING_FACTOR', '1', /between 2 and 1000/],
    ['BATCH_SIZE', '0', /between 1 and 100000/],
    ['MAX_BODY_BYTES', '100', /between 1024/],
    ['SHUTDOWN_TIMEOUT_SECONDS', '0', /between 1 and 600/],
    // not a number / out of range numbers
    ['SIMILARITY_THRESHOLD', 'high', /must be a number/],
    ['SIMILARITY_THRESHOLD', 'Infinity', /must be a number/],
    ['SIMILARITY_THRESHOLD', 'NaN', /must be a number/],
    ['SIMILARITY_THRESHOLD', '1.5', /at most 1/],
    ['SIMILARITY_THRESHOLD', '-0.1', /at least 0/],
    ['BIRCH_THRESHOLD', '0', /greater than 0/], // a zero radius would merge nothing
    ['BIRCH_THRESHOLD', '2.5', /at most 2/],
    ['CLUSTER_EXPIRY_HOURS', '-1', /at least 0/],
    // not one of the values
    ['LOG_LEVEL', 'verbose', /must be one of fatal, error, warn, info, debug, trace, silent/],
    ['EMBEDDER', 'openai', /must be one of tfidf/],
    ['TRUST_PROXY', 'maybe', /must be true or false/],
  ];
  for (const [env, value, says] of cases) {
    const err = configError(() => loadConfig({ [env]: value }));
    assert.equal(err.problems.length, 1, `${env}=${value}: ${err.problems.join('; ')}`);
    assert.ok(err.problems[0].startsWith(`${env} `), err.problems[0]);
    assert.match(err.problems[0], says, `${env}=${value}`);
    // the problem is in the message an operator reads
    assert.ok(err.message.includes(err.problems[0]));
    assert.equal(err.name, 'ConfigError');
  }
});

test('a short token is refused and the message never contains any token text', () => {
  const short = 'Sh0rtSecret'; // 11 characters
  for (const env of ['API_TOKENS', 'ADMIN_TOKENS']) {
    // a good token next to the short one must not leak either
    const err = configError(() => loadConfig({ [env]: `${API_TOKEN},${short}` }));
    assert.equal(err.problems.length, 1);
    assert.match(err.problems[0], new RegExp(`at least ${MIN_TOKEN_LENGTH} characters`));
    assert.match(err.problems[0], /one has 11/); // the length says which one, the text does not
    const everything = `${err.message}\n${err.problems.join('\n')}\n${err.stack ?? ''}`;
    assert.ok(!everything.includes(short), 'the short token leaked');
    assert.ok(!everything.includes(API_TOKEN), 'the good token leaked');
    assert.ok(!everything.includes('Sh0rt'), 'part of the short token leaked');
  }
  // one character short of the minimum is refused, the minimum passes
  assert.throws(() => loadConfig({ API_TOKENS: 'x'.repeat(MIN_TOKEN_LENGTH - 1) }), ConfigError);
  assert.deepEqual(loadConfig({ API_TOKENS: 'x'.repeat(MIN_TOKEN_LENGTH) }).apiTokens, [
    'x'.repeat(MIN_TOKEN_LENGTH),
  ]);
});

test('one ConfigError lists every problem when several values are bad', () => {
  const short = 'tiny-secret';
  const err = configError(() =>
    loadConfig({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      API_TOKENS: short,
      BATCH_SIZE: '0',
      TRUST_PROXY: 'perhaps',
      SIMILARITY_THRESHOLD: '0.3',
      BIRCH_THRESHOLD: '0.5',
    }),
  );
  // so that an operator fixes a bad deployment in one go, not one restart per mistake
  assert.equal(err.problems.length, 6, err.problems.join('\n'));
  for (const env of ['PORT', 'LOG_LEVEL', 'API_TOKENS', 'BATCH_SIZE', 'TRUST_PROXY']) {
    assert.ok(
      err.problems.some((p) => p.startsWith(`${env} `)),
      `no problem for ${env}`,
    );
  }
  assert.ok(err.problems.some((p) => /both set/.test(p)));
  for (const p of err.problems) assert.ok(err.message.includes(p), `message lacks "${p}"`);
  assert.ok(!err.message.includes(short));
});

test('SIMILARITY_THRESHOLD and BIRCH_THRESHOLD both set is an error; either alone is fine', () => {
  const err = configError(() => loadConfig({ SIMILARITY_THRESHOLD: '0.3', BIRCH_THRESHOLD: '0.5' }));
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0], /SIMILARITY_THRESHOLD and BIRCH_THRESHOLD are both set/);
  // even when the similarity given equals its default: it was set, so the intent is unclear
  assert.throws(() => loadConfig({ SIMILARITY_THRESHOLD: '0.25', BIRCH_THRESHOLD: '0.5' }), ConfigError);

  assert.equal(loadConfig({ SIMILARITY_THRESHOLD: '0.3' }).similarityThreshold, 0.3);
  assert.equal(loadConfig({ BIRCH_THRESHOLD: '0.5' }).birchThreshold, 0.5);
  // an empty variable is unset, so it does not count as set
  assert.equal(loadConfig({ SIMILARITY_THRESHOLD: '', BIRCH_THRESHOLD: '0.5' }).birchThreshold, 0.5);
  assert.equal(loadConfig({ SIMILARITY_THRESHOLD: '0.3', BIRCH_THRESHOLD: ' ' }).birchThreshold, undefined);
});

// ---------------------------------------------------------------- environment(): .env under env

test('environment() puts the .env file under the real environment (real variables win)', () => {
  const file = envFile('PORT=9001\nLOG_LEVEL=debug\n# a comment\nHOST="10.0.0.1"\n');
  const env = environment({ ENV_FILE: file, PORT: '9002', TOPICS: '3' });
  assert.equal(env.PORT, '9002'); // the real environment wins
  assert.equal(env.LOG_LEVEL, 'debug'); // from the file
  assert.equal(env.HOST, '10.0.0.1'); // quotes removed
  assert.equal(env.TOPICS, '3'); // only in the environment
  const c = loadConfig(env);
  assert.equal(c.port, 9002);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.host, '10.0.0.1');
  assert.equal(c.topics, 3);
});

test('environment() takes the file as an argument too, and does not change the object given', () => {
  const file = envFile('BATCH_SIZE=42\n');
  const given: Env = { PORT: '1234' };
  const env = environment(given, file);
  assert.deepEqual(env, { BATCH_SIZE: '42', PORT: '1234' });
  assert.deepEqual(given, { PORT: '1234' });
  env.PORT = '1';
  assert.equal(given.PORT, '1234');
});

test('a missing .env file is fine unless ENV_FILE names it', () => {
  const missing = join(tmp, 'no-such-file');
  // the default file (or one given as the argument) may be absent: a copy of env comes back
  const given: Env = { PORT: '1234' };
  const env = environment(given, missing);
  assert.deepEqual(env, given);
  assert.notEqual(env, given);
  // ENV_FILE says the operator meant a file: its absence is an error that names it
  const err = configError(() => environment({ ENV_FILE: missing }));
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0], /ENV_FILE/);
  assert.ok(err.problems[0].includes(missing));
});

test('the bad values of a .env file are reported like the environment’s', () => {
  const file = envFile('PORT=eighty\nLOG_LEVEL=loud\n');
  const err = configError(() => loadConfig(environment({ ENV_FILE: file })));
  assert.equal(err.problems.length, 2);
});

// ---------------------------------------------------------------- live changes

test('a valid live change applies and leaves everything else as it was', () => {
  const current = loadConfig({ ABSORB: 'cosine' });
  const before = structuredClone(current);
  const next = applyLiveChange(current, {
    log_level: 'debug',
    similarity_threshold: 0.4,
    batch_size: '250', // strings as in the environment
    cluster_expiry_hours: 6,
  });
  assert.deepEqual(next, {
    ...before,
    logLevel: 'debug',
    similarityThreshold: 0.4,
    batchSize: 250,
    clusterExpiryHours: 6,
  });
  // the running config is not modified in place: the caller swaps it only on success
  assert.deepEqual(current, before);
  // an empty change is no change
  assert.deepEqual(applyLiveChange(current, {}), before);
});

test('every live key has an API name, and each parses like its variable', () => {
  assert.deepEqual(Object.keys(LIVE_NAMES).sort(), [...LIVE_KEYS].sort());
  for (const key of LIVE_KEYS) {
    const o = OPTIONS.find((x) => x.key === key);
    assert.ok(o?.live, `${key} is live in LIVE_KEYS but not marked live in OPTIONS`);
  }
  for (const o of OPTIONS) {
    if (o.live) assert.ok((LIVE_KEYS as readonly string[]).includes(o.key), o.key);
  }
});

test('an unknown or non-live key is refused, naming the live ones', () => {
  const current = loadConfig({});
  for (const name of ['port', 'api_tokens', 'similarityThreshold', 'nonsense']) {
    const err = configError(() => applyLiveChange(current, { [name]: '1' }));
    assert.equal(err.problems.length, 1);
    assert.ok(err.problems[0].startsWith(`${name} is not a live setting`), err.problems[0]);
    for (const live of Object.values(LIVE_NAMES)) assert.ok(err.problems[0].includes(live));
  }
});

test('a bad value refuses the whole change: nothing changes, every problem is listed', () => {
  const current = loadConfig({ ABSORB: 'cosine' });
  const before = structuredClone(current);
  const cases: Record<string, unknown>[] = [
    { log_level: 'loud' },
    { similarity_threshold: 2 },
    { similarity_threshold: '' },
    { batch_size: 0 },
    { batch_size: 2.5 },
    { cluster_expiry_hours: -1 },
    { batch_size: null },
    { batch_size: true },
    { batch_size: [10] },
    { log_level: { level: 'debug' } },
  ];
  for (const change of cases) {
    const err = configError(() => applyLiveChange(current, change));
    assert.equal(err.problems.length, 1, JSON.stringify(change));
    assert.ok(err.problems[0].startsWith(Object.keys(change)[0]), err.problems[0]);
  }
  // one good and two bad: refused as a whole, both problems told
  const err = configError(() =>
    applyLiveChange(current, { log_level: 'debug', batch_size: 0, similarity_threshold: 'x' }),
  );
  assert.equal(err.problems.length, 2);
  assert.deepEqual(current, before);
});

test('mode rules: birch_threshold only in radius mode, similarity_threshold only in cosine mode', () => {
  const cosine = loadConfig({ ABSORB: 'cosine' });
  const radius = loadConfig({ BIRCH_THRESHOLD: '0.5' });

  // the tree's shape depends on the mode, so the mode cannot change live
  const e1 = configError(() => applyLiveChange(cosine, { birch_threshold: 0.4 }));
  assert.ok(e1.problems.some((p) => /birch_threshold can only change in radius mode/.test(p)));
  const e2 = configError(() => applyLiveChange(radius, { similarity_threshold: 0.4 }));
  assert.ok(e2.problems.some((p) => /similarity_threshold has no effect in radius mode/.test(p)));

  assert.equal(applyLiveChange(radius, { birch_threshold: '0.4' }).birchThreshold, 0.4);
  assert.equal(applyLiveChange(cosine, { similarity_threshold: '0.4' }).similarityThreshold, 0.4);
  // a bad radius is refused in radius mode too
  assert.throws(() => applyLiveChange(radius, { birch_threshold: 0 }), ConfigError);
  assert.equal(radius.birchThreshold, 0.5);
  // with the mixture (the default), the cosine bound decides nothing
  const e3 = configError(() => applyLiveChange(loadConfig({}), { similarity_threshold: 0.4 }));
  assert.ok(e3.problems.some((p) => /similarity_threshold has no effect with ABSORB=dmm/.test(p)));
  // and the settings must agree with the mode
  const e4 = configError(() => loadConfig({ ABSORB: 'radius' }));
  assert.deepEqual(e4.problems, ['ABSORB=radius needs BIRCH_THRESHOLD']);
  const e5 = configError(() => loadConfig({ ABSORB: 'dmm', SIMILARITY_THRESHOLD: '0.3' }));
  assert.deepEqual(e5.problems, [
    'SIMILARITY_THRESHOLD is set with ABSORB=dmm: it applies only to ABSORB=cosine',
  ]);
});

// ---------------------------------------------------------------- public view

test('publicConfig shows the settings and how many tokens, never a token', () => {
  const c = loadConfig({
    API_TOKENS: `${API_TOKEN},${API_TOKEN}-2`,
    ADMIN_TOKENS: ADMIN_TOKEN,
    BIRCH_THRESHOLD: '0.5',
  });
  const shown = publicConfig(c);
  const text = JSON.stringify(shown);
  for (const t of [...c.apiTokens, ...c.adminTokens]) assert.ok(!text.includes(t), 'a token leaked');
  assert.ok(!text.includes('SECRET'));
  assert.deepEqual(shown.auth, { api_tokens: 2, admin_tokens: 1 });
  assert.equal(shown.mode, 'radius');
  assert.equal(shown.birch_threshold, 0.5);

  const plain = publicConfig(loadConfig({}));
  // the default with the built-in embedder: the Dirichlet-multinomial mixture
  assert.equal(plain.mode, 'dmm');
  assert.deepEqual(plain.dmm, { alpha: 0.1, beta: 0.01, half_life: 300, outlier_size: 3 });
  assert.equal(publicConfig(loadConfig({ SIMILARITY_THRESHOLD: '0.3' })).mode, 'cosine');
  assert.equal(
    publicConfig(loadConfig({ EMBEDDER: 'http', EMBEDDING_URL: 'http://x/embed' })).mode,
    'cosine',
  );
  assert.equal(plain.birch_threshold, null); // JSON has no undefined
  assert.equal(plain.similarity_threshold, 0.25);
  // the live settings are all there under their API names
  for (const name of Object.values(LIVE_NAMES)) assert.ok(name in plain, name);
});

// ---------------------------------------------------------------- generated files

test('.env.example at the repo root is exactly envExample()', () => {
  const onDisk = readFileSync(join(ROOT, '.env.example'), 'utf8');
  assert.equal(onDisk, envExample(), 'regenerate .env.example from envExample()');
});

test('envExample() names every option, and read back it gives the defaults', () => {
  const text = envExample();
  for (const o of OPTIONS) assert.match(text, new RegExp(`^(# )?${o.env}=`, 'm'), o.env);
  // the option without a default is commented out (setting it would switch mode)
  assert.match(text, /^# BIRCH_THRESHOLD=$/m);
  assert.deepEqual(loadConfig(parseEnv(text)), DEFAULTS);
});

test('.env.example copied to .env still lets BIRCH_THRESHOLD switch to radius mode', () => {
  // The example says "copy to .env"; BIRCH_THRESHOLD is used "instead of SIMILARITY_THRESHOLD".
  // Following both (copy, then set BIRCH_THRESHOLD in the real environment, or uncomment it in
  // the copy) must give radius mode, not "both set": so the copy must not set the similarity.
  const copy = envFile(envExample());
  assert.equal(loadConfig(environment({ ENV_FILE: copy, BIRCH_THRESHOLD: '0.5' })).birchThreshold, 0.5);
  const uncommented = envFile(envExample().replace('# BIRCH_THRESHOLD=', 'BIRCH_THRESHOLD=0.5'));
  assert.equal(loadConfig(environment({ ENV_FILE: uncommented })).birchThreshold, 0.5);
  // and a copy left as it is changes nothing
  assert.deepEqual(loadConfig(environment({ ENV_FILE: copy })), DEFAULTS);
});

test('README.md contains configTable() verbatim', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(configTable()), 'paste configTable() into README.md');
});

test('configTable() has one row per option with its default, live mark and escaped pipes', () => {
  const rows = configTable().split('\n');
  assert.equal(rows.length, OPTIONS.length + 2);
  OPTIONS.forEach((o, i) => {
    const row = rows[i + 2];
    assert.ok(row.startsWith(`| \`${o.env}\` | `), row);
    // a pipe inside a cell would split it: the 5 unescaped pipes are the borders of 4 cells
    assert.equal(row.replaceAll('\\|', '').split('|').length, 6, row);
    if (o.default === undefined || o.default === '') assert.ok(row.includes('(unset)'), row);
    else assert.ok(row.includes(`\`${o.default}\``), row);
    assert.equal(row.includes('| yes |'), o.live === true, row);
  });
});
