import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import yaml from 'yaml';
import { createAnnotationsRenderAction } from './actions/annotationsRender';
import { createAwsEcrCreateAction } from './actions/awsEcrCreate';
import { createGithubRulesetsAction } from './actions/githubRulesetsCreate';
import { createGitopsRegisterAction } from './actions/gitopsRegister';
import { createWorkflowsRenderAction } from './actions/workflowsRender';
import { createPipelineReadAction } from './actions/pipelineRead';

const templateDir = path.resolve(__dirname, '../templates/build-once-service');

describe('the "Service with build-once promotion" template', () => {
  const template = yaml.parse(
    fs.readFileSync(path.join(templateDir, 'template.yaml'), 'utf8'),
  );
  const config = new ConfigReader({});
  const ours = new Map<
    string,
    { schema?: { input?: { properties?: Record<string, unknown> } } }
  >(
    [
      createAnnotationsRenderAction(),
      createWorkflowsRenderAction(),
      createGithubRulesetsAction({ config }),
      createAwsEcrCreateAction({ config }),
      createGitopsRegisterAction({ config }),
      createPipelineReadAction({ config }),
    ].map(action => [action.id, action as any]),
  );
  // Upstream actions the app installs (scaffolder backend and its GitHub module).
  const upstream = new Set([
    'fetch:template',
    'publish:github',
    'github:environment:create',
    'catalog:register',
  ]);

  it('uses only actions the app registers, with inputs they declare', () => {
    const problems: string[] = [];
    for (const step of template.spec.steps) {
      if (!ours.has(step.action) && !upstream.has(step.action)) {
        problems.push(`${step.id}: unknown action ${step.action}`);
      }
      // Our actions' input as JSON schema: every key the template passes must be declared.
      const declared = Object.keys(
        ours.get(step.action)?.schema?.input?.properties ?? {},
      );
      if (ours.has(step.action)) {
        for (const key of Object.keys(step.input ?? {})) {
          if (!declared.includes(key)) {
            problems.push(`${step.id}: ${step.action} has no input ${key}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('names no environment, branch or tag pattern itself: they come from the configured pipeline', () => {
    const steps = template.spec.steps;
    const environments = steps.filter(
      (s: any) => s.action === 'github:environment:create',
    );
    // One step, repeated for every configured environment.
    expect(environments).toHaveLength(1);
    expect(environments[0].each).toBe(
      '${{ steps.pipeline.output.environments }}',
    );
    expect(environments[0].input.name).toBe('${{ each.value.name }}');
    expect(
      steps.find((s: any) => s.action === 'publish:github').input.defaultBranch,
    ).toBe('${{ steps.pipeline.output.branch }}');
    // The pipeline is read before anything uses it.
    const ids = steps.map((s: any) => s.id);
    expect(ids.indexOf('pipeline')).toBeLessThan(ids.indexOf('publish'));
    const inputs = JSON.stringify(steps.map((s: any) => s.input ?? {}));
    for (const literal of ['stage', 'demo', 'prod', 'rc-*', 'v*']) {
      expect(inputs).not.toContain(`"${literal}"`);
    }
  });

  it('ships in the npm package, every file of it', () => {
    const files = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap(entry =>
          entry.isDirectory()
            ? files(path.join(dir, entry.name))
            : [path.join(dir, entry.name)],
        );
    const packageDir = path.resolve(__dirname, '..');
    // What `npm publish` would upload (scripts skipped: they build dist, not needed here).
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], {
        cwd: packageDir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const packed = pack.files.map(f => f.path);
    const expected = files(templateDir).map(f =>
      path.relative(packageDir, f).split(path.sep).join('/'),
    );
    expect(expected).toEqual(
      expect.arrayContaining(['templates/build-once-service/template.yaml']),
    );
    expect(packed).toEqual(expect.arrayContaining(expected));
  }, 60_000);

  it.each(['container', 'serverless'])(
    'has a %s skeleton whose catalog-info carries the promotion annotations',
    kind => {
      const info = fs.readFileSync(
        path.join(templateDir, `skeleton-${kind}`, 'catalog-info.yaml'),
        'utf8',
      );
      for (const annotation of [
        'github.com/project-slug',
        'mainline.dev/artifact-kind',
        'mainline.dev/artifact-location',
        ...(kind === 'container'
          ? ['mainline.dev/manifest-repo', 'mainline.dev/manifest-path']
          : ['mainline.dev/serverless-service']),
      ]) {
        expect(info).toContain(`${annotation}:`);
      }
    },
  );
});
