import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import yaml from 'yaml';
import { createWorkflowsRenderAction } from './workflowsRender';
import { examples } from './workflowsRender.examples';

describe('promotion:workflows:render', () => {
  const action = createWorkflowsRenderAction();
  let workspacePath: string;
  beforeEach(() => {
    workspacePath = fs.mkdtempSync(path.join(os.tmpdir(), 'workflows-render-'));
  });
  afterEach(() => fs.rmSync(workspacePath, { recursive: true, force: true }));

  it.each(examples.map(e => [e.description, e.example]))(
    'writes the workflows of the example: %s',
    async (_description, example) => {
      const input = yaml.parse(example).steps[0].input;
      const ctx = createMockActionContext({ input, workspacePath });
      await action.handler(ctx);
      const files = fs
        .readdirSync(path.join(workspacePath, '.github/workflows'))
        .sort();
      expect(files).toEqual(
        [
          'mainline-build.yaml',
          ...(input.kind === 'serverless' ? ['mainline-deploy.yaml'] : []),
          'mainline-pr.yaml',
          'mainline-validate-stage.yaml',
        ].sort(),
      );
      const [[name, written]] = (ctx.output as jest.Mock).mock.calls;
      expect(name).toBe('files');
      expect([...written].sort()).toEqual(
        files.map(f => `.github/workflows/${f}`),
      );
    },
  );

  it.each([
    [
      { ecrRepository: 'docker.io/checkout' },
      /ecrRepository "docker.io\/checkout" is not an ECR repository URI/,
    ],
    [
      { manifestPath: '../{environment}/k.yaml' },
      /mainline.dev\/manifest-path/,
    ],
    [{ targetPath: '../../etc' }, /must stay inside the workspace/],
    [{ entityRef: 'checkout' }, /entityRef "checkout"/],
    // Shell or GitHub-expression text in a URL never reaches a workflow.
    [
      { mainlineUrl: 'https://backstage.example.com/$(id)' },
      /mainlineUrl "https:\/\/backstage.example.com\/\$\(id\)" must match/,
    ],
    [
      {
        mainlineUrl: 'https://x.example.com/${{ secrets.AWS_DEPLOY_ROLE_ARN }}',
      },
      /mainlineUrl .* must match/,
    ],
    [
      { argocdUrl: 'https://argo.example.com"; rm -rf /' },
      /argocdUrl .* must match/,
    ],
    [{ argocdUrl: undefined }, /argocdUrl is required for a container service/],
    [{ manifestBranch: 'main; curl evil' }, /manifestBranch .* must match/],
    [
      { validationCommand: 'curl ${{ secrets.MAINLINE_TOKEN }}' },
      /validationCommand must not contain a GitHub expression/,
    ],
  ])('refuses %j before writing anything', async (override, message) => {
    const input = {
      ...yaml.parse(examples[0].example).steps[0].input,
      ...override,
    };
    await expect(
      action.handler(createMockActionContext({ input, workspacePath })),
    ).rejects.toThrow(message);
    expect(fs.readdirSync(workspacePath)).toEqual([]);
  });
});
