/**
 * Swagger UI at /docs in a real browser: Debian's headless Chromium, driven by playwright-core,
 * against the app listening on a loopback port. The page must render every operation of the
 * OpenAPI document with no script error and no failed request, and "Try it out" must work: a
 * request built and sent by the UI itself, answered 200, its body shown on the page.
 *
 * Needs /usr/bin/chromium (`apt-get install -y --no-install-recommends chromium`; .ci/run installs
 * it); without it the test skips and says so. A screenshot of the page is left in the temp folder.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { makeApp } from '../helpers/app.js';

const CHROMIUM = '/usr/bin/chromium';
/** Generous: CI is a shared 2-core machine, and a cold Chromium start can be slow there. */
const WAIT = 60_000;
const SCREENSHOT = join(tmpdir(), 'birdie-docs-browser.png');

const TWEETS = [
  { id: 'cat-1', text: 'the cat sat on the mat' },
  { id: 'market-1', text: 'stocks fell sharply on wall street today' },
];
const PREDICT_BODY = { text: 'a cat on a mat' };

/** Every operation of the OpenAPI document, as "METHOD /path". */
async function documentedOperations(app: FastifyInstance): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json() as { paths: Record<string, Record<string, unknown>> };
  const methods = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);
  const ops: string[] = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const m of Object.keys(item)) if (methods.has(m)) ops.push(`${m.toUpperCase()} ${path}`);
  return ops.sort();
}

/** The operations Swagger UI rendered as opblocks, as "METHOD /path". */
async function renderedOperations(page: Page): Promise<string[]> {
  const blocks = page.locator('.opblock');
  const ops: string[] = [];
  for (let i = 0; i < (await blocks.count()); i++) {
    const block = blocks.nth(i);
    const method = (await block.locator('.opblock-summary-method').textContent())?.trim();
    const path = await block.locator('.opblock-summary-path').getAttribute('data-path');
    ops.push(`${method} ${path}`);
  }
  return ops.sort();
}

/** The opblock of one operation. */
function opblock(page: Page, method: string, path: string): Locator {
  return page
    .locator(`.opblock.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Expand an operation, press "Try it out", optionally replace its JSON body, press Execute. */
async function tryItOut(block: Locator, body?: unknown): Promise<{ status: string; body: string }> {
  await block.locator('.opblock-summary-control').click();
  await block.locator('button.try-out__btn').click();
  if (body !== undefined) {
    const textarea = block.locator('textarea.body-param__text');
    await textarea.fill(JSON.stringify(body, null, 2));
  }
  await block.locator('button.execute').click();
  // the live response: the one under "Server response", not the documented examples
  const live = block.locator('.live-responses-table .response').first();
  await live.waitFor();
  const status = (await live.locator('.response-col_status').textContent())?.trim() ?? '';
  const shown =
    (await live.locator('.response-col_description .highlight-code pre').first().textContent()) ?? '';
  return { status, body: shown };
}

test('Swagger UI at /docs renders every operation and runs "Try it out" in headless Chromium', {
  timeout: 5 * WAIT,
}, async (t) => {
  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} is missing`;
    console.log(
      `docs-browser: skipped: ${reason}; install it with: apt-get update && apt-get install -y --no-install-recommends chromium`,
    );
    t.skip(reason);
    return;
  }

  const { app } = await makeApp();
  let browser: Browser | undefined;
  try {
    for (const tweet of TWEETS) {
      const res = await app.inject({ method: 'POST', url: '/tweets', payload: tweet });
      assert.equal(res.statusCode, 200, res.body);
    }
    const expectedOps = await documentedOperations(app);
    const expectedPredict = (
      await app.inject({ method: 'POST', url: '/predict', payload: PREDICT_BODY })
    ).json();
    const expectedClusters = (await app.inject({ method: 'GET', url: '/clusters' })).json();

    await app.listen({ port: 0, host: '127.0.0.1' });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: WAIT });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(WAIT);
    page.setDefaultNavigationTimeout(WAIT);

    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => {
      if (r.url().startsWith(origin)) problems.push(`request failed: ${r.url()}: ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.url().startsWith(origin) && r.status() >= 400)
        problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });

    const started = Date.now();
    const docs = await page.goto(`${origin}/docs`, { waitUntil: 'load' });
    assert.equal(docs?.status(), 200);
    // rendered: the API's title and its operations, built by Swagger UI from /docs/json
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'birdie' }).waitFor();
    await page.locator('.opblock').first().waitFor();
    await page.waitForLoadState('networkidle');
    t.diagnostic(`Swagger UI rendered in ${Date.now() - started} ms`);

    const ops = await renderedOperations(page);
    assert.deepEqual(ops, expectedOps, 'every documented operation is shown once');
    for (const op of ['POST /tweets', 'POST /predict', 'GET /clusters', 'GET /clusters/{id}', 'GET /metrics'])
      assert.ok(ops.includes(op), `${op} is shown`);

    // Try it out: POST /predict with a body typed into the UI, answered as app.inject answers it
    const predict = await tryItOut(opblock(page, 'POST', '/predict'), PREDICT_BODY);
    assert.equal(predict.status, '200', `POST /predict from the UI: ${predict.body} ${problems.join('; ')}`);
    assert.match(predict.body, /"cluster_id"/);
    assert.deepEqual(JSON.parse(predict.body), expectedPredict);
    assert.equal(expectedPredict.cluster_id, 1, 'the cat text is nearest the cat tweet');

    // and GET /clusters with its query parameters left at their defaults
    const clusters = await tryItOut(opblock(page, 'GET', '/clusters'));
    assert.equal(
      clusters.status,
      '200',
      `GET /clusters from the UI: ${clusters.body} ${problems.join('; ')}`,
    );
    assert.match(clusters.body, /"clusters"/);
    assert.deepEqual(JSON.parse(clusters.body), expectedClusters);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);

    assert.deepEqual(problems, [], 'no page error, console error or failed same-origin request');
  } finally {
    await browser?.close();
    await app.close();
  }
});
