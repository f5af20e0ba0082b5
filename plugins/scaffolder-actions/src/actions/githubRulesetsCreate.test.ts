import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { createGithubRulesetsAction } from './githubRulesetsCreate';

const TOKEN = 'rulesets-token';

describe('promotion:github:rulesets:create', () => {
  let root: string;
  let server: GitHubTestServer;
  let action: ReturnType<typeof createGithubRulesetsAction>;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rulesets-'));
    execFileSync('git', [
      'init',
      '--quiet',
      '--bare',
      path.join(root, 'acme', 'checkout.git'),
    ]);
    server = await startGitHubTestServer({ root, token: TOKEN });
    action = createGithubRulesetsAction({
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

  const input = () => ({
    repoUrl: `${server.host}?owner=acme&repo=checkout`,
    requiredStatusChecks: ['build'],
    requiredApprovals: 1,
    bypassActors: [{ actorId: 4242, actorType: 'Integration' as const }],
  });

  it('changes nothing on a dry run', async () => {
    // The mock context drops isDryRun, so set it the way the scaffolder does.
    const ctx = {
      ...createMockActionContext({ input: input() }),
      isDryRun: true,
    };
    await action.handler(ctx as any);
    expect(server.rulesets('acme', 'checkout')).toEqual([]);
    expect(ctx.output).toHaveBeenCalledWith(
      'rulesets',
      expect.arrayContaining([{ name: 'mainline: main' }]),
    );
  });

  it('protects main and the release tags, and a second run changes nothing', async () => {
    const ctx = createMockActionContext({ input: input() });
    await action.handler(ctx as any);
    const rulesets = server.rulesets('acme', 'checkout') as any[];
    expect(rulesets.map(r => r.name)).toEqual([
      'mainline: main',
      'mainline: release tags are created by the release actors',
      'mainline: release tags are never moved or deleted',
    ]);
    const [main, creation, immutable] = rulesets;
    expect(main.target).toBe('branch');
    expect(main.rules.map((r: any) => r.type)).toEqual([
      'deletion',
      'non_fast_forward',
      'pull_request',
      'required_status_checks',
    ]);
    expect(creation.conditions.ref_name.include).toEqual([
      'refs/tags/rc-*',
      'refs/tags/v*',
    ]);
    expect(creation.bypass_actors).toEqual([
      { actor_id: 4242, actor_type: 'Integration', bypass_mode: 'always' },
    ]);
    // Nobody, not even the release actors, may move or delete a release tag.
    expect(immutable.rules.map((r: any) => r.type)).toEqual([
      'update',
      'deletion',
    ]);
    expect(immutable.bypass_actors).toEqual([]);

    const again = createMockActionContext({ input: input() });
    await action.handler(again as any);
    const after = server.rulesets('acme', 'checkout') as any[];
    expect(after.map(r => r.id)).toEqual(rulesets.map(r => r.id));
    expect(after).toHaveLength(3);
  });

  it('refuses a repository URL without a repository', async () => {
    const ctx = createMockActionContext({
      input: { ...input(), repoUrl: `${server.host}?owner=acme` },
    });
    await expect(action.handler(ctx as any)).rejects.toThrow(/repo/);
  });
});
