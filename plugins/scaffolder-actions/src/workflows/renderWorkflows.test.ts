import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'yaml';
import {
  DEPLOY_WORKFLOW_RUN_NAME,
  parseDeployRunTitle,
} from '@mainline/plugin-promotion-common';
import { WorkflowOptions, renderWorkflows } from './renderWorkflows';

const container: WorkflowOptions = {
  kind: 'container',
  entityRef: 'component:default/checkout',
  mainlineUrl: 'https://backstage.example.com/',
  awsRegion: 'eu-west-1',
  validationCommand: 'npm run test:e2e',
  ecrRepository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
  manifestRepo: 'acme/deployments',
  manifestPath: 'apps/checkout/overlays/{environment}/kustomization.yaml',
};
const serverless: WorkflowOptions = {
  kind: 'serverless',
  entityRef: 'component:default/invoices',
  mainlineUrl: 'https://backstage.example.com',
  awsRegion: 'eu-west-1',
  validationCommand: 'npm run test:stage',
  packageLocation: 's3://acme-artifacts/invoices',
};

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

it('the parser does report what GitHub would reject', () => {
  const report = githubErrors({
    'broken.yaml':
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: 5\n',
  });
  expect(report['broken.yaml']).toEqual([
    expect.stringContaining("Unexpected value '5'"),
  ]);
});

describe.each([
  ['container', container],
  ['serverless', serverless],
])('rendered %s workflows', (_kind, options) => {
  const files = renderWorkflows(options);

  it('parse without errors with GitHub’s workflow parser', () => {
    const names = [
      'mainline-build.yaml',
      'mainline-promote.yaml',
      'mainline-validate-stage.yaml',
      ...(options.kind === 'serverless' ? ['mainline-deploy.yaml'] : []),
    ];
    expect(Object.keys(files)).toEqual(names);
    expect(githubErrors(files)).toEqual(
      Object.fromEntries(names.map(name => [name, []])),
    );
  });

  it('build once on main (docs-only changes skipped) and deploy to stage', () => {
    const build = yaml.parse(files['mainline-build.yaml']);
    expect(build.on.push).toEqual({
      branches: ['main'],
      'paths-ignore': ['docs/**', '**/*.md'],
    });
    expect(Object.keys(build.jobs)).toEqual(['build', 'deploy-stage']);
    const script = JSON.stringify(build.jobs);
    const expected =
      options.kind === 'container'
        ? [
            `name=${options.ecrRepository}:\${{ steps.sha.outputs.short }},push=true,oci-mediatypes=true`,
            '--provenance=false',
            '--annotation \\"org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)\\"',
            '--annotation \\"org.opencontainers.image.revision=$GITHUB_SHA\\"',
          ]
        : [
            'serverless package --package',
            'gh workflow run mainline-deploy.yaml --ref main -f stage=stage',
          ];
    for (const fragment of expected) {
      expect(script).toContain(fragment);
    }
  });

  it('promote on rc-* and v* tags after a pre-flight check, without rebuilding', () => {
    const promote = yaml.parse(files['mainline-promote.yaml']);
    expect(promote.on.push.tags).toEqual(['rc-*', 'v*']);
    const preflight = JSON.stringify(promote.jobs.preflight);
    expect(preflight).toContain('git merge-base --is-ancestor');
    expect(preflight).toContain('has no artifact');
    expect(promote.jobs.notify.if).toBe('${{ failure() }}');
    const steps = JSON.stringify(promote.jobs.promote.steps);
    expect(steps).not.toMatch(/docker build|serverless package/);
    expect(steps).toMatch(
      options.kind === 'container'
        ? /put-image .*--image-manifest-media-type \\"\$MEDIA_TYPE\\"/
        : /tags\/\$GITHUB_REF_NAME/,
    );
  });

  it('yank the commit through Mainline when stage validation fails', () => {
    const validate = yaml.parse(files['mainline-validate-stage.yaml']);
    const [, run, yank] = validate.jobs.validate.steps;
    expect(run.run).toBe(options.validationCommand);
    expect(yank.if).toBe('${{ failure() }}');
    const name = options.entityRef.split('/')[1];
    expect(yank.run).toContain(
      `https://backstage.example.com/api/promotion/v1/entities/component/default/${name}/yanks`,
    );
  });

  it('is deterministic', () => {
    expect(renderWorkflows(options)).toEqual(files);
  });
});

describe('the serverless deploy workflow', () => {
  const deploy = yaml.parse(
    renderWorkflows(serverless)['mainline-deploy.yaml'],
  );

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
    const title = (deploy['run-name'] as string).replace(
      /\$\{\{ inputs\.(\w+) \}\}/g,
      (_, name: keyof typeof inputs) => inputs[name],
    );
    expect(parseDeployRunTitle(title)).toEqual(inputs);
  });

  it('deploys the package built for the sha, never splicing inputs into the script', () => {
    const steps = deploy.jobs.deploy.steps as Array<{ run?: string }>;
    const script = steps.map(step => step.run ?? '').join('\n');
    expect(script).toContain('npx serverless deploy -s $STAGE -p "$SHA"');
    expect(script).toContain('s3://acme-artifacts/invoices/$SHA/');
    expect(script).not.toContain('${{');
    expect(steps[0].run).toContain('^[0-9a-f]{40}$');
  });

  it('is not started twice for a tag Mainline created', () => {
    const promote = yaml.parse(
      renderWorkflows(serverless)['mainline-promote.yaml'],
    );
    const script = JSON.stringify(promote.jobs.promote.steps);
    expect(script).toContain('Requested-by: ');
    expect(script).toContain('gh workflow run mainline-deploy.yaml');
  });
});
