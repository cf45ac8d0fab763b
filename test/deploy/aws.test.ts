/**
 * deploy/aws and deploy/ecs: the IAM policy grants exactly what birdie's S3 client sends, on the
 * bucket and prefix birdie uses and nothing wider; the lifecycle rules never expire a current
 * backup; the ECS task definition and service pass the AWS CLI's own parameter validation (the
 * service model: unknown fields and wrong types are refused; the request then goes to a closed
 * port on loopback, nothing leaves the machine), take their secrets from Secrets Manager, stop
 * within their timeout and run one task at a time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { loadConfig, OPTIONS } from '../../src/config.js';
import { freePort } from '../helpers/tmp.js';
import { dockerfile, json, ROOT, read, which, yamlDoc } from './helpers.js';

const DEFAULT_PREFIX = OPTIONS.find((o) => o.env === 'S3_PREFIX')?.default as string;
const BUCKET = 'birdie-backups';

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}
type Policy = { Version: string; Statement: Statement[] };

/** The S3 API calls src/store/s3.ts makes, and the IAM action each needs. */
const IAM_ACTION: Record<string, string> = {
  PutObject: 's3:PutObject',
  GetObject: 's3:GetObject',
  ListObjectsV2: 's3:ListBucket',
  DeleteObjects: 's3:DeleteObject',
};

describe('deploy/aws', () => {
  test('iam-policy.json allows what birdie sends to S3, on its prefix only', () => {
    const policy = json<Policy>('deploy/aws/iam-policy.json');
    assert.equal(policy.Version, '2012-10-17');
    const sent = [...read('src/store/s3.ts').matchAll(/new (\w+)Command\(/g)].map((m) => m[1]);
    assert.ok(sent.length >= 4, 'the S3 calls of src/store/s3.ts');
    const granted = new Set(policy.Statement.flatMap((s) => s.Action));
    for (const call of new Set(sent)) {
      const action = IAM_ACTION[call];
      assert.ok(
        action !== undefined,
        `src/store/s3.ts sends ${call}: add its IAM action to this test and the policy`,
      );
      assert.ok(granted.has(action), `${call} needs ${action}`);
    }
    assert.deepEqual([...granted].sort(), [...new Set(Object.values(IAM_ACTION))].sort(), 'no other action');

    for (const s of policy.Statement) {
      assert.equal(s.Effect, 'Allow');
      for (const a of s.Action) assert.doesNotMatch(a, /\*/, `${s.Sid}: no wildcard actions`);
      if (s.Action.includes('s3:ListBucket')) {
        assert.deepEqual(s.Resource, [`arn:aws:s3:::${BUCKET}`]);
        assert.deepEqual(s.Condition, { StringLike: { 's3:prefix': [`${DEFAULT_PREFIX}*`] } });
      } else {
        assert.deepEqual(s.Resource, [`arn:aws:s3:::${BUCKET}/${DEFAULT_PREFIX}*`]);
      }
    }
  });

  test('s3-lifecycle.json cleans up under the prefix and never expires a current backup', () => {
    const lc = json<{ Rules: Record<string, unknown>[] }>('deploy/aws/s3-lifecycle.json');
    assert.ok(lc.Rules.length > 0);
    for (const r of lc.Rules) {
      assert.deepEqual(r.Filter, { Prefix: DEFAULT_PREFIX }, `${r.ID}: under the prefix`);
      assert.equal(r.Status, 'Enabled');
      const exp = r.Expiration as Record<string, unknown> | undefined;
      assert.ok(
        exp === undefined || (exp.Days === undefined && exp.Date === undefined),
        `${r.ID}: expiring current objects would delete the last backup of a stopped service`,
      );
    }
  });

  test('the bucket policy refuses requests without TLS; the other policies are scoped', () => {
    const bucket = json<Policy>('deploy/aws/bucket-policy.json');
    assert.deepEqual(bucket.Statement[0].Condition, { Bool: { 'aws:SecureTransport': 'false' } });
    assert.equal(bucket.Statement[0].Effect, 'Deny');
    for (const f of ['ecs-execution-policy.json', 'efs-policy.json']) {
      const p = json<Policy>(`deploy/aws/${f}`);
      for (const s of p.Statement)
        if (!s.Action.includes('ecr:GetAuthorizationToken'))
          assert.ok(!s.Resource.includes('*'), `${f} ${s.Sid}: scoped to its resources`);
    }
  });

  test('every deployment uses the same bucket and prefix', () => {
    const ecsEnv = Object.fromEntries(
      json<{ containerDefinitions: { environment: { name: string; value: string }[] }[] }>(
        'deploy/ecs/task-definition.json',
      ).containerDefinitions[0].environment.map((e) => [e.name, e.value]),
    );
    const k8s = yamlDoc<{ data: Record<string, string> }>('deploy/k8s/configmap.yaml').data;
    for (const [where, env] of [
      ['ECS', ecsEnv],
      ['Kubernetes', k8s],
    ] as const) {
      assert.equal(env.S3_BUCKET_NAME, BUCKET, where);
      assert.equal(env.S3_PREFIX, DEFAULT_PREFIX, where);
    }
    assert.match(read('docker-compose.yml'), new RegExp(`S3_BUCKET_NAME:-${BUCKET}\\}`));
    assert.match(read('.env.production'), new RegExp(`^S3_BUCKET_NAME=${BUCKET}$`, 'm'));
  });
});

describe('deploy/ecs', () => {
  const td = json<{
    containerDefinitions: {
      name: string;
      environment: { name: string; value: string }[];
      secrets: { name: string; valueFrom: string }[];
      healthCheck: { command: string[] };
      stopTimeout: number;
      user: string;
      mountPoints: { sourceVolume: string; containerPath: string }[];
      logConfiguration: { logDriver: string; options: Record<string, string> };
    }[];
    volumes: { name: string; efsVolumeConfiguration?: unknown }[];
  }>('deploy/ecs/task-definition.json');
  const c = td.containerDefinitions[0];
  const env = Object.fromEntries(c.environment.map((e) => [e.name, e.value]));

  test('secrets come from Secrets Manager, and only secrets are secrets', () => {
    const secretNames = OPTIONS.filter((o) => o.secret).map((o) => o.env);
    for (const s of c.secrets) {
      assert.match(s.valueFrom, /^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+:[A-Z_]+::$/);
      assert.ok(secretNames.includes(s.name), `${s.name} is not a secret setting`);
    }
    for (const name of ['API_TOKENS', 'ADMIN_TOKENS', 'ENCRYPTION_KEY'])
      assert.ok(
        c.secrets.some((s) => s.name === name),
        `${name} comes from Secrets Manager`,
      );
    const known = new Set(OPTIONS.map((o) => o.env));
    for (const e of c.environment) {
      assert.ok(known.has(e.name) || e.name.startsWith('AWS_'), `${e.name} is not a birdie setting`);
      assert.ok(!secretNames.includes(e.name), `${e.name} is a secret: it belongs in secrets`);
    }
    const fake = Object.fromEntries(c.secrets.map((s) => [s.name, 'f'.repeat(64)]));
    assert.doesNotThrow(() => loadConfig({ ...env, ...fake }), 'birdie accepts the environment');
  });

  test('health check, stop timeout, state volume, logs, one task at a time', () => {
    const hc = dockerfile()
      .instructions.find((i) => i.op === 'HEALTHCHECK')
      ?.args.replace(/^.*?CMD /, '');
    assert.deepEqual(c.healthCheck.command, ['CMD', ...JSON.parse(hc as string)], "the image's health check");
    assert.ok(
      c.stopTimeout > Number(env.SHUTDOWN_TIMEOUT_SECONDS),
      'stopTimeout exceeds SHUTDOWN_TIMEOUT_SECONDS',
    );
    assert.ok(c.stopTimeout <= 120, 'Fargate allows at most 120 s');
    const state = c.mountPoints.find((m) => m.containerPath === env.STATE_DIR);
    assert.ok(state, 'STATE_DIR is a mounted volume');
    assert.ok(td.volumes.find((v) => v.name === state.sourceVolume)?.efsVolumeConfiguration, 'on EFS');
    assert.equal(c.user.split(':')[0], '1000');
    assert.equal(c.logConfiguration.logDriver, 'awslogs');
    const svc = json<{ desiredCount: number; deploymentConfiguration: Record<string, number> }>(
      'deploy/ecs/service.json',
    );
    assert.equal(svc.desiredCount, 1);
    assert.equal(svc.deploymentConfiguration.maximumPercent, 100, 'never two tasks on one state');
    assert.equal(svc.deploymentConfiguration.minimumHealthyPercent, 0);
  });

  test('the AWS CLI validates the task definition, the service and the lifecycle rules', {
    skip:
      which('aws') === undefined ? "the aws CLI is not installed (.ci/run installs Debian's awscli)" : false,
    timeout: 60_000,
  }, async () => {
    const closed = await freePort();
    const calls = [
      ['ecs', 'register-task-definition', '--cli-input-json', 'file://deploy/ecs/task-definition.json'],
      ['ecs', 'create-service', '--cli-input-json', 'file://deploy/ecs/service.json'],
      [
        's3api',
        'put-bucket-lifecycle-configuration',
        '--bucket',
        BUCKET,
        '--lifecycle-configuration',
        'file://deploy/aws/s3-lifecycle.json',
      ],
    ];
    // in parallel: each is a Python process that takes a second or two to start
    const results = await Promise.all(
      calls.map(
        (args) =>
          new Promise<{ args: string[]; out: string }>((resolve) => {
            const child = spawn('aws', [...args, '--endpoint-url', `http://127.0.0.1:${closed}`], {
              cwd: ROOT,
              stdio: ['ignore', 'pipe', 'pipe'],
              env: {
                PATH: process.env.PATH,
                HOME: process.env.HOME,
                AWS_ACCESS_KEY_ID: 'validation-only',
                AWS_SECRET_ACCESS_KEY: 'validation-only',
                AWS_DEFAULT_REGION: 'us-east-1',
                AWS_EC2_METADATA_DISABLED: 'true',
                AWS_MAX_ATTEMPTS: '1',
                AWS_CONFIG_FILE: '/dev/null',
                AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
              },
            });
            let out = '';
            child.stdout.on('data', (d) => {
              out += d;
            });
            child.stderr.on('data', (d) => {
              out += d;
            });
            const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
            child.once('close', () => {
              clearTimeout(timer);
              resolve({ args, out });
            });
          }),
      ),
    );
    for (const { args, out } of results) {
      assert.doesNotMatch(
        out,
        /Parameter validation failed|Unknown parameter|Invalid type|Error parsing/,
        out,
      );
      // valid: the CLI got as far as sending it, to a port where nothing listens
      assert.match(out, /Could not connect to the endpoint URL/, `aws ${args.slice(0, 2).join(' ')}: ${out}`);
    }
  });
});
