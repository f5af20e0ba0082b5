import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import {
  GitHubTestServer,
  seedRepository,
  startGitHubTestServer,
} from '@mainline/test-servers';
import yaml from 'yaml';
import { createGitopsRegisterAction } from './gitopsRegister';

const TOKEN = 'gitops-token';
const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout';

describe('promotion:gitops:register', () => {
  let root: string;
  let server: GitHubTestServer;
  let action: ReturnType<typeof createGitopsRegisterAction>;
  const bare = () => path.join(root, 'acme', 'deployments.git');
  const git = (...args: string[]) =>
    execFileSync('git', ['--git-dir', bare(), ...args], {
      encoding: 'utf8',
    }).trim();

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'gitops-register-'));
    seedRepository(root, 'acme/deployments', {
      'README.md': '# Deployments\n',
    });
    server = await startGitHubTestServer({ root, token: TOKEN });
    action = createGitopsRegisterAction({
      config: new ConfigReader({
        integrations: {
          github: [
            { host: server.host, apiBaseUrl: server.baseUrl, token: TOKEN },
          ],
        },
      }),
    });
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const input = (
    service: string,
    publishMode: 'commit' | 'pull-request' = 'commit',
  ) => ({
    manifestRepo: 'acme/deployments',
    host: server.host,
    service,
    image: IMAGE,
    initialTag: 'latest',
    branch: 'main',
    publishMode,
  });

  it('commits an overlay per environment and an Argo CD Application each, once', async () => {
    const before = git('rev-parse', 'main');
    const ctx = createMockActionContext({ input: input('checkout') });
    await action.handler(ctx as any);
    expect(git('rev-list', '--count', `${before}..main`)).toBe('1');
    for (const environment of ['stage', 'demo', 'prod']) {
      const overlay = yaml.parse(
        git(
          'show',
          `main:apps/checkout/overlays/${environment}/kustomization.yaml`,
        ),
      );
      // What Mainline's promotions rewrite: the image entry's newTag.
      expect(overlay.images).toEqual([{ name: IMAGE, newTag: 'latest' }]);
      const app = yaml.parse(
        git('show', `main:argocd/checkout-${environment}.yaml`),
      );
      expect(app.spec.source.path).toBe(
        `apps/checkout/overlays/${environment}`,
      );
    }

    const head = git('rev-parse', 'main');
    await action.handler(
      createMockActionContext({ input: input('checkout') }) as any,
    );
    expect(git('rev-parse', 'main')).toBe(head);
  });

  it('opens one pull request in pull-request mode and leaves main alone', async () => {
    const head = git('rev-parse', 'main');
    const ctx = createMockActionContext({
      input: input('invoices', 'pull-request'),
    });
    await action.handler(ctx as any);
    expect(git('rev-parse', 'main')).toBe(head);
    const pulls = server.pullRequests('acme', 'deployments');
    expect(pulls).toHaveLength(1);
    expect(ctx.output).toHaveBeenCalledWith(
      'pullRequestUrl',
      expect.stringMatching(/\/acme\/deployments\/pull\/\d+$/),
    );
    await action.handler(
      createMockActionContext({
        input: input('invoices', 'pull-request'),
      }) as any,
    );
    expect(server.pullRequests('acme', 'deployments')).toHaveLength(1);
  });

  it('writes nothing on a dry run', async () => {
    const head = git('rev-parse', 'main');
    const ctx = {
      ...createMockActionContext({ input: input('ledger') }),
      isDryRun: true,
    };
    await action.handler(ctx as any);
    expect(git('rev-parse', 'main')).toBe(head);
    expect(ctx.output).toHaveBeenCalledWith(
      'files',
      expect.arrayContaining(['apps/ledger/overlays/prod/kustomization.yaml']),
    );
  });
});
