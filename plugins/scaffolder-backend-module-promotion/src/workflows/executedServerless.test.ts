import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'yaml';
import { S3rverServer, startS3rver } from '@mainline/test-servers';
import promotionModuleAws from '@mainline/plugin-promotion-backend-module-aws';
import { renderWorkflows } from './renderWorkflows';
import {
  OWNER,
  ScaffoldedService,
  byFile,
} from './__testUtils__/scaffoldedService';

/*
 * A scaffolded Serverless service taken through its life by executing the rendered workflows
 * (packages/test-servers' WorkflowRunner) against the GitHub test server and s3rver, released by
 * a real promotion backend in GitHub mode that hears the repository's webhooks (a pushed tag's
 * `create`, a finished deploy run's `workflow_run`) and dispatches the deploy workflow, which the
 * runner then executes. What is stood in for: the two Serverless v3 commands `serverless package`
 * and `serverless deploy` (the runner's `serverless-v3-stand-in`: the framework is not installed
 * and there is no AWS to deploy to). It compiles the stage into each package as v3 does, refuses
 * a package of another stage, and records each deploy in a file this test reads. Everything
 * else, the AWS CLI's S3 copies included, runs for real.
 */

// Each scenario runs real workflows (git, shell, the packaging stand-in) against real servers;
// on a busy two-core machine one takes minutes.
jest.setTimeout(300_000);

const SERVICE = 'invoices';
const BUCKET = 'builds';
const REGION = 'eu-west-1';

const svc = new ScaffoldedService(SERVICE, 'serverless');
let s3: S3rverServer;
let dispatches: ReturnType<ScaffoldedService['runner']['serveDispatches']>;
let deploysFile: string;

/** The objects under the service's prefix in the bucket, as paths below it. */
function packageObjects(): string[] {
  const base = path.join(s3.directory, BUCKET, SERVICE);
  if (!fs.existsSync(base)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('._S3rver_object')) {
        out.push(path.relative(base, full).replace(/\._S3rver_object$/, ''));
      }
    }
  };
  walk(base);
  return out.sort();
}

/** The commits that have a package: the `<sha>/` prefixes. */
const packagedShas = () =>
  [
    ...new Set(
      packageObjects()
        .map(p => p.split('/')[0])
        .filter(p => /^[0-9a-f]{40}$/.test(p)),
    ),
  ].sort();

const storedSha256 = (key: string) =>
  crypto
    .createHash('sha256')
    .update(
      fs.readFileSync(
        path.join(s3.directory, BUCKET, SERVICE, `${key}._S3rver_object`),
      ),
    )
    .digest('hex');

/** What the Serverless stand-in deployed, in order. */
const deploys = (): Array<{
  stage: string;
  function: string;
  codeSha256: string;
}> =>
  fs
    .readFileSync(deploysFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(line => JSON.parse(line));

/** The last deploy run dispatched for `environment`. */
const deployRunOf = (environment: string) =>
  dispatches.runs
    .filter(
      r => r.file === 'mainline-deploy.yaml' && r.inputs?.stage === environment,
    )
    .at(-1)!;

beforeAll(async () => {
  await svc.startGitHub();
  deploysFile = path.join(svc.work, 'serverless-deploys.jsonl');
  fs.writeFileSync(deploysFile, '');
  s3 = await startS3rver({ buckets: [BUCKET] });
  const skeleton = svc.skeletonFiles({
    name: SERVICE,
    owner: 'team-a',
    awsRegion: REGION,
    packageLocation: `s3://${BUCKET}/${SERVICE}`,
    repoSlug: `${OWNER}/${SERVICE}`,
  });
  const entity = yaml.parse(skeleton['catalog-info.yaml']);
  // This service keeps release/* branches: the discouraged exception is on.
  entity.metadata.annotations['mainline.dev/release-branches'] = 'true';
  await svc.startBackend({
    entity,
    // The adapters this service needs besides GitHub (deploy workflow runs): S3 packages.
    modules: [promotionModuleAws],
    config: {
      aws: {
        mainAccount: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      },
      promotion: {
        // Lambda deploys dispatch the rendered mainline-deploy.yaml and follow its run.
        github: { lambdaDeploys: 'workflow' },
        artifacts: {
          s3: {
            endpoint: s3.endpoint,
            forcePathStyle: true,
            buckets: [BUCKET],
          },
        },
        writeScope: {
          grants: [
            {
              owners: ['group:default/team-a'],
              repositories: [`${OWNER}/*`],
              artifactLocations: [`s3://${BUCKET}/*`],
              serverlessServices: [SERVICE],
            },
          ],
        },
      },
    },
  });
  const workflows = renderWorkflows({
    kind: 'serverless',
    entityRef: `component:default/${SERVICE}`,
    mainlineUrl: svc.mainlineUrl,
    awsRegion: REGION,
    validationCommand: 'npm run validate:stage',
    packageLocation: `s3://${BUCKET}/${SERVICE}`,
  });
  // The template's environments come with it (stage: branch main; demo: rc-*; prod: v* tags),
  // whose deployment branch policies the test server and runner enforce as GitHub does.
  await svc.scaffold({
    ...skeleton,
    ...Object.fromEntries(
      Object.entries(workflows).map(([f, c]) => [`.github/workflows/${f}`, c]),
    ),
  });
  await svc.startRunner({
    secrets: {
      AWS_DEPLOY_ROLE_ARN: 'arn:aws:iam::123456789012:role/deploy',
    },
    awsCredentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    env: {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      SERVERLESS_STAND_IN_DEPLOYS: deploysFile,
    },
  });
  // Dispatched deploy runs (by the build's stage deploy or by the backend) execute as queued.
  dispatches = svc.runner.serveDispatches();
});

afterAll(async () => {
  await dispatches?.stop();
  await svc.close();
  await Promise.all([s3?.close()]);
});

describe('a scaffolded Serverless service, its workflows executed', () => {
  let stageSha: string;

  it('a pull request gets its build check (tests, a package per stage, nothing uploaded)', async () => {
    const push = await svc.checkAndMerge({ 'notes.txt': 'hello\n' });
    expect(push.after).toMatch(/^[0-9a-f]{40}$/);
    expect(packageObjects()).toEqual([]);
    expect(deploys()).toEqual([]);
  });

  it('a merge builds one package under <sha>/, deploys it to stage from that package, and validation goes green', async () => {
    const push = await svc.checkAndMerge({ 'feature.txt': 'one\n' });
    const runs = await svc.runner.push(push);
    const [build] = byFile(runs, 'mainline-build.yaml');
    expect(build.conclusion).toBe('success');
    expect(packagedShas()).toEqual([push.after]);
    expect(packageObjects()).toEqual(
      ['demo', 'prod', 'stage'].flatMap(s => [
        `${push.after}/${s}/cloudformation-template-update-stack.json`,
        `${push.after}/${s}/${SERVICE}.zip`,
        `${push.after}/${s}/serverless-state.json`,
      ]),
    );
    // One build: the code zip is the same bytes for every stage.
    const zips = ['stage', 'demo', 'prod'].map(s =>
      storedSha256(`${push.after}/${s}/${SERVICE}.zip`),
    );
    expect(new Set(zips).size).toBe(1);
    // The stage deploy ran in the deploy workflow, dispatched by the build and awaited by it.
    expect(deployRunOf('stage')).toMatchObject({
      conclusion: 'success',
      headBranch: 'main',
    });
    expect(deploys()).toEqual([
      {
        service: SERVICE,
        stage: 'stage',
        region: REGION,
        function: `${SERVICE}-stage-handler`,
        codeSha256: zips[0],
      },
    ]);
    const [validate] = byFile(runs, 'mainline-validate-stage.yaml');
    expect(validate.conclusion).toBe('success');
    expect(
      validate.jobs.validate.steps.find(s => s.name.startsWith('End-to-end'))!
        .outcome,
    ).toBe('success');
    stageSha = push.after;
  });

  it('a docs-only merge builds and deploys nothing', async () => {
    const push = await svc.checkAndMerge({ 'docs/runbook.md': '# Runbook\n' });
    const packaged = packagedShas();
    const deployed = deploys().length;
    expect(await svc.runner.push(push)).toEqual([]);
    expect(packagedShas()).toEqual(packaged);
    expect(deploys()).toHaveLength(deployed);
  });

  it('three quick merges give three packages, no build cancelled', async () => {
    const pushes = [];
    for (const n of [1, 2, 3]) {
      pushes.push(await svc.checkAndMerge({ [`quick-${n}.txt`]: `${n}\n` }));
    }
    const before = packagedShas();
    const runs = (
      await Promise.all(pushes.map(p => svc.runner.push(p)))
    ).flat();
    const builds = byFile(runs, 'mainline-build.yaml');
    expect(builds.map(b => b.jobs.build.result)).toEqual([
      'success',
      'success',
      'success',
    ]);
    expect(packagedShas()).toEqual(
      [...before, ...pushes.map(p => p.after)].sort(),
    );
    // Stage ends on the newest that deployed (a pending stage deploy may be replaced).
    const lastStage = deploys()
      .filter(d => d.stage === 'stage')
      .at(-1)!;
    const runsStage = pushes.filter(
      p =>
        storedSha256(`${p.after}/stage/${SERVICE}.zip`) ===
        lastStage.codeSha256,
    );
    expect(runsStage.length).toBeGreaterThan(0);
    stageSha = runsStage.at(-1)!.after;
  });

  it('a person pushes rc-* on the commit stage runs: the backend dispatches the deploy of that package to demo', async () => {
    const deployed = deploys().length;
    await svc.pushTag('rc-1', stageSha);
    // The `create` webhook started it; the deploy run's `workflow_run` webhook ended it.
    const [promotion, ...others] = await svc.promotedTag('rc-1');
    expect(others).toEqual([]);
    expect(promotion).toMatchObject({
      status: 'succeeded',
      environment: 'demo',
      sha: stageSha,
      requestedBy: 'github:releaser',
    });
    // The deploy workflow ran on the tag, which demo's policy allows (main would be refused),
    // from the commit's demo package: the same code zip as stage's.
    const demoRun = deployRunOf('demo');
    expect(demoRun).toMatchObject({
      conclusion: 'success',
      headBranch: 'rc-1',
    });
    expect(demoRun.jobs.deploy.annotations).toBeUndefined();
    expect(demoRun.jobs.deploy.steps.map(s => s.outcome)).not.toContain(
      'failure',
    );
    expect(deploys().slice(deployed)).toEqual([
      {
        service: SERVICE,
        stage: 'demo',
        region: REGION,
        function: `${SERVICE}-demo-handler`,
        codeSha256: storedSha256(`${stageSha}/stage/${SERVICE}.zip`),
      },
    ]);
    const demoRunId = svc.github
      .workflowRuns(OWNER, SERVICE)
      .find(r => r.inputs.stage === 'demo')!.id;
    expect(
      (await svc.deliveries('workflow_run'))
        .filter(
          d => (d.payload.workflow_run as { id: number }).id === demoRunId,
        )
        .map(d => [d.payload.action, d.statusCode]),
    ).toEqual([
      ['requested', 202],
      ['in_progress', 202],
      ['completed', 202],
    ]);
  });

  it('then v* (a calendar version, as the skeleton declares) takes the same package to prod', async () => {
    const deployed = deploys().length;
    await svc.pushTag('v2026.12.0', stageSha);
    const [promotion] = await svc.promotedTag('v2026.12.0');
    expect(promotion).toMatchObject({
      status: 'succeeded',
      error: null,
      environment: 'prod',
      sha: stageSha,
    });
    expect(deployRunOf('prod')).toMatchObject({
      conclusion: 'success',
      headBranch: 'v2026.12.0',
    });
    expect(deploys().slice(deployed)).toEqual([
      {
        service: SERVICE,
        stage: 'prod',
        region: REGION,
        function: `${SERVICE}-prod-handler`,
        codeSha256: storedSha256(`${stageSha}/stage/${SERVICE}.zip`),
      },
    ]);
  });

  it("a demo deploy dispatched on main is refused by demo's branch policy before any step runs", async () => {
    const deployed = deploys().length;
    const executed = dispatches.runs.length;
    const dispatched = await svc.api(
      'POST',
      `/repos/${OWNER}/${SERVICE}/actions/workflows/mainline-deploy.yaml/dispatches`,
      {
        ref: 'main',
        inputs: {
          stage: 'demo',
          sha: stageSha,
          version: 'rc-1',
          request: 'on-main',
          actor: 'user:default/guest',
        },
      },
    );
    expect(dispatched.status).toBe(204);
    for (let i = 0; i < 100 && dispatches.runs.length === executed; i++) {
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    const [run] = dispatches.runs.slice(executed);
    expect(run).toMatchObject({ conclusion: 'failure', headBranch: 'main' });
    expect(run.jobs.deploy).toMatchObject({
      result: 'failure',
      steps: [],
      annotations: [
        'Branch "main" is not allowed to deploy to demo due to environment protection rules.',
      ],
    });
    const queued = svc.github
      .workflowRuns(OWNER, SERVICE)
      .find(r => r.inputs.request === 'on-main')!;
    expect(queued.conclusion).toBe('failure');
    expect(deploys()).toHaveLength(deployed);
  });

  it('a tag on a commit on neither main nor release/* is refused and reported on the commit', async () => {
    const deployed = deploys().length;
    const side = await svc.pushTag('rc-2', undefined, true);
    await svc.expectRefusedTag('rc-2', side, /not on main/);
    expect(
      svc.github
        .workflowRuns(OWNER, SERVICE)
        .filter(r => r.inputs.version === 'rc-2'),
    ).toEqual([]);
    expect(deploys()).toHaveLength(deployed);
  });

  it('a v* on a release/* commit follows the discouraged exception: its own package, straight to prod, flagged', async () => {
    const deployed = deploys().length;
    // Packaged once, not deployed to stage, not validated there.
    const { fix } = await svc.pushReleaseBranch(stageSha);
    expect(packagedShas()).toContain(fix);
    expect(deploys()).toHaveLength(deployed);

    await svc.pushTag('v2026.12.1', fix);
    const [promotion] = await svc.promotedTag('v2026.12.1');
    expect(promotion).toMatchObject({
      status: 'succeeded',
      error: null,
      environment: 'prod',
      sha: fix,
    });
    expect(deploys().slice(deployed)).toEqual([
      expect.objectContaining({
        stage: 'prod',
        function: `${SERVICE}-prod-handler`,
        codeSha256: storedSha256(`${fix}/prod/${SERVICE}.zip`),
      }),
    ]);
    await svc.expectReleaseBranchFlagged();
  });

  it('a failing stage validation yanks the commit through the Mainline API, and a tag on it is refused and reported', async () => {
    // The backend took the yank, the package gone from S3.
    const push = await svc.mergeFailingValidation();
    expect(packagedShas()).not.toContain(push.after);

    const deployed = deploys().length;
    await svc.pushTag('rc-50', push.after);
    await svc.expectRefusedTag('rc-50', push.after, /yanked/i);
    expect(deploys()).toHaveLength(deployed);
  });
});
