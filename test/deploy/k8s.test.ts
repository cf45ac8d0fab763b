/**
 * deploy/k8s: each manifest against the Kubernetes schema of its kind (kubernetes-models: types,
 * required fields, enums), with no field the schema does not know (a typo such as
 * `initialDelaySecond` is otherwise silently ignored by the API server: checked with the same
 * package's TypeScript types, whose object-literal checks refuse unknown properties), and the
 * things no schema knows: one replica, probes on /health and /ready, a grace period above
 * SHUTDOWN_TIMEOUT_SECONDS, names and selectors that meet, settings that birdie accepts.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { type ConfigError, loadConfig, OPTIONS } from '../../src/config.js';
import { dockerfile, ROOT, read, yamlDoc, yamlDocs } from './helpers.js';

const DIR = 'deploy/k8s';

/** apiVersion/kind -> the kubernetes-models module and its class. */
const MODELS: Record<string, string> = {
  'v1/Namespace': 'v1/Namespace',
  'v1/ServiceAccount': 'v1/ServiceAccount',
  'v1/ConfigMap': 'v1/ConfigMap',
  'v1/Secret': 'v1/Secret',
  'v1/Service': 'v1/Service',
  'apps/v1/StatefulSet': 'apps/v1/StatefulSet',
  'policy/v1/PodDisruptionBudget': 'policy/v1/PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy': 'networking.k8s.io/v1/NetworkPolicy',
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: a manifest is whatever its kind says; the schema checks it
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [k: string]: unknown;
}

const files = readdirSync(join(ROOT, DIR))
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .sort();
const manifests: { file: string; m: Manifest }[] = files.flatMap((f) =>
  yamlDocs(`${DIR}/${f}`).map((m) => ({ file: f, m: m as Manifest })),
);
const one = (kind: string, name?: string): Manifest => {
  const found = manifests.filter(
    (x) => x.m.kind === kind && (name === undefined || x.m.metadata.name === name),
  );
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0].m;
};

async function model(apiVersion: string, kind: string) {
  const path = MODELS[`${apiVersion}/${kind}`];
  assert.ok(path !== undefined, `no schema known for ${apiVersion} ${kind}: add it to MODELS`);
  const spec = `kubernetes-models/${path}`;
  try {
    return (await import(spec))[kind] as new (
      data: unknown,
    ) => { validate(): void };
  } catch (err) {
    throw new Error(`${spec} cannot be loaded (${(err as Error).message}): npm i -D kubernetes-models@4.5.1`);
  }
}

describe('deploy/k8s against the Kubernetes schemas', () => {
  test('every manifest is a known kind and validates against its schema', async () => {
    assert.ok(manifests.length >= 9, `only ${manifests.length} manifests`);
    for (const { file, m } of manifests) {
      assert.ok(m.metadata?.name, `${file}: ${m.kind} has no metadata.name`);
      const Model = await model(m.apiVersion, m.kind);
      assert.doesNotThrow(() => new Model(m).validate(), `${file}: ${m.kind} ${m.metadata.name}`);
    }
  });

  test('no manifest has a field its schema does not know', () => {
    // one TypeScript file, never written: each manifest as an object literal of its kind's type
    const file = join(ROOT, 'test/deploy/__manifests__.ts');
    const lines: string[] = [];
    manifests.forEach(({ file: f, m }, i) => {
      const path = MODELS[`${m.apiVersion}/${m.kind}`];
      lines.push(`import type { I${m.kind} as T${i} } from 'kubernetes-models/${path}';`);
      lines.push(`// ${f}\nexport const m${i}: T${i} = ${JSON.stringify(m)};`);
    });
    const source = lines.join('\n');
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      skipLibCheck: true,
      types: [],
      // the smallest standard library the types need: loading ES2022's doubles the time
      lib: ['lib.es5.d.ts'],
    };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, lang, ...rest) =>
      name === file ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest);
    host.fileExists = (name) => name === file || fileExists.call(host, name);
    host.readFile = (name) => (name === file ? source : readFile.call(host, name));
    const program = ts.createProgram([file], options, host);
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file?.fileName !== file || d.start === undefined) return text;
      const line = d.file.getLineAndCharacterOfPosition(d.start).line;
      const which = /^export const m(\d+)/.exec(source.split('\n')[line]);
      const at = which ? `${manifests[Number(which[1])].file} ${manifests[Number(which[1])].m.kind}` : '';
      return `${at}: ${text}`;
    });
    assert.deepEqual(problems, [], 'fields that the Kubernetes types do not have');
  });
});

describe('deploy/k8s: one writer, probes, stopping, wiring', () => {
  const sts = one('StatefulSet', 'birdie');
  const pod = sts.spec.template.spec;
  const container = pod.containers.find((c: { name: string }) => c.name === 'birdie');
  const configMap = one('ConfigMap', 'birdie-config');
  const secret = one('Secret', 'birdie-secrets');

  test('a StatefulSet with exactly one replica and a volume for the state', () => {
    assert.equal(sts.spec.replicas, 1, 'one writer per state: never more than one replica');
    assert.equal(sts.spec.updateStrategy?.type ?? 'RollingUpdate', 'RollingUpdate');
    const claim = sts.spec.volumeClaimTemplates?.[0];
    assert.ok(claim, 'a volumeClaimTemplate holds the log and snapshots');
    assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
    const mount = container.volumeMounts.find((v: { name: string }) => v.name === claim.metadata.name);
    assert.ok(mount, 'the claim is mounted');
    assert.equal(configMap.data?.STATE_DIR, mount.mountPath, 'STATE_DIR is the mounted volume');
    // the headless Service the StatefulSet names exists and selects its pods
    const headless = one('Service', sts.spec.serviceName);
    assert.equal(headless.spec.clusterIP, 'None');
  });

  test('liveness on /health, readiness on /ready, on the container port birdie listens on', () => {
    const port = container.ports.find((p: { name: string }) => p.name === 'http');
    assert.equal(String(port.containerPort), configMap.data?.PORT);
    assert.equal(container.livenessProbe.httpGet.path, '/health');
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    for (const probe of [container.livenessProbe, container.readinessProbe])
      assert.ok([port.name, port.containerPort].includes(probe.httpGet.port));
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
    assert.ok(container.resources.limits.memory);
  });

  test('the grace period leaves birdie time to stop (SHUTDOWN_TIMEOUT_SECONDS below it)', () => {
    const timeout = Number(configMap.data?.SHUTDOWN_TIMEOUT_SECONDS);
    assert.ok(timeout > 0, 'the ConfigMap sets SHUTDOWN_TIMEOUT_SECONDS');
    assert.ok(
      pod.terminationGracePeriodSeconds > timeout,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} must exceed ${timeout}`,
    );
  });

  test('the pod runs as the image user, non-root, read-only', () => {
    const user = dockerfile()
      .instructions.filter((i) => i.op === 'USER')
      .at(-1)
      ?.args.split(':')[0];
    assert.equal(String(pod.securityContext.runAsUser), user, 'runAsUser is the Dockerfile USER');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  });

  test('names and selectors meet', () => {
    const podLabels = sts.spec.template.metadata.labels;
    const selects = (sel: Record<string, string>) =>
      Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    assert.ok(selects(sts.spec.selector.matchLabels), 'the StatefulSet selects its own pods');
    for (const s of manifests.filter((x) => x.m.kind === 'Service'))
      assert.ok(selects(s.m.spec.selector), `Service ${s.m.metadata.name} selects the pod`);
    assert.ok(selects(one('PodDisruptionBudget').spec.selector.matchLabels), 'the PDB selects the pod');
    assert.ok(
      selects(one('NetworkPolicy').spec.podSelector.matchLabels),
      'the NetworkPolicy selects the pod',
    );
    one('ServiceAccount', pod.serviceAccountName);
    const refs = container.envFrom.map(
      (e: { configMapRef?: { name: string }; secretRef?: { name: string } }) =>
        e.configMapRef ? `ConfigMap ${e.configMapRef.name}` : `Secret ${e.secretRef?.name}`,
    );
    assert.deepEqual(refs.sort(), ['ConfigMap birdie-config', 'Secret birdie-secrets']);
  });

  test('the ConfigMap and the Secret hold birdie settings that it accepts', () => {
    const known = new Set(OPTIONS.map((o) => o.env));
    const secretNames = new Set(OPTIONS.filter((o) => o.secret).map((o) => o.env));
    for (const k of Object.keys(configMap.data ?? {})) {
      assert.ok(known.has(k) || k.startsWith('AWS_'), `ConfigMap: ${k} is not a birdie setting`);
      assert.ok(!secretNames.has(k), `ConfigMap: ${k} is a secret: it belongs in the Secret`);
    }
    const secrets = secret.stringData ?? {};
    for (const k of Object.keys(secrets))
      assert.ok(secretNames.has(k), `Secret: ${k} is not a secret setting`);
    // the placeholders are refused, so the file cannot go to production unchanged...
    assert.throws(
      () => loadConfig({ ...configMap.data, ...secrets }),
      (err: ConfigError) => {
        assert.deepEqual(
          err.problems.map((p) => p.split(' ')[0]),
          Object.keys(secrets),
        );
        return true;
      },
    );
    // ...and with real values everything else is valid
    const real = { API_TOKENS: 'a'.repeat(32), ADMIN_TOKENS: 'b'.repeat(32), ENCRYPTION_KEY: 'c'.repeat(64) };
    const config = loadConfig({ ...configMap.data, ...real });
    assert.equal(config.s3Bucket, 'birdie-backups');
  });

  test('kustomization.yaml applies every manifest but the Secret template', () => {
    const k = yamlDoc<{ resources: string[]; images: { name: string }[] }>(`${DIR}/kustomization.yaml`);
    // an apply must never replace the real Secret with the template's placeholders
    assert.deepEqual(
      [...k.resources].sort(),
      files.filter((f) => f !== 'secret.yaml'),
    );
    assert.ok(
      k.images.some((i) => i.name === container.image),
      'the image is set by kustomization images',
    );
    assert.match(read(`${DIR}/statefulset.yaml`), /replicas: 1\n/);
  });
});
