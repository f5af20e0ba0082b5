import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { Octokit } from '@octokit/rest';
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
    // Mainline acts with the integration's token, whose user is the repository's admin.
    expect(creation.bypass_actors).toEqual([
      { actor_id: 5, actor_type: 'RepositoryRole', bypass_mode: 'always' },
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

  it('lets Mainline’s configured GitHub App create release tags and refuses everyone else GitHub’s way', async () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    execFileSync('git', [
      'init',
      '--quiet',
      '--bare',
      '--initial-branch=main',
      path.join(root, 'acme', 'app-tags.git'),
    ]);
    const owner = new Octokit({ baseUrl: server.baseUrl, auth: TOKEN });
    await owner.rest.repos.createOrUpdateFileContents({
      owner: 'acme',
      repo: 'app-tags',
      path: 'README.md',
      message: 'first',
      content: Buffer.from('# app\n').toString('base64'),
    });
    const withApp = createGithubRulesetsAction({
      config: new ConfigReader({
        integrations: {
          github: [
            {
              host: server.host,
              apiBaseUrl: server.baseUrl,
              apps: [
                {
                  appId: 777,
                  clientId: 'mainline',
                  clientSecret: 'secret',
                  webhookSecret: 'secret',
                  privateKey,
                },
              ],
            },
          ],
        },
      }),
    });
    const ctx = createMockActionContext({
      input: {
        repoUrl: `${server.host}?owner=acme&repo=app-tags`,
        requiredStatusChecks: ['build'],
        requiredApprovals: 1,
        bypassActors: [],
        // The scaffolder's own write, as a token; the ruleset still names Mainline's App.
        token: TOKEN,
      },
    });
    await withApp.handler(ctx as any);
    const creation = (server.rulesets('acme', 'app-tags') as any[]).find(
      r =>
        r.name === 'mainline: release tags are created by the release actors',
    );
    expect(creation.bypass_actors).toEqual([
      { actor_id: 777, actor_type: 'Integration', bypass_mode: 'always' },
    ]);

    server.addToken('mainline-installation', {
      login: 'mainline',
      appId: 777,
      permissions: { contents: 'write' },
    });
    server.addToken('developer', { login: 'dev', role: 'write' });
    const sha = (
      await owner.rest.git.getRef({
        owner: 'acme',
        repo: 'app-tags',
        ref: 'heads/main',
      })
    ).data.object.sha;
    const tag = (token: string, name: string) =>
      new Octokit({ baseUrl: server.baseUrl, auth: token }).rest.git.createRef({
        owner: 'acme',
        repo: 'app-tags',
        ref: `refs/tags/${name}`,
        sha,
      });
    expect((await tag('mainline-installation', 'rc-1')).status).toBe(201);
    await expect(tag('developer', 'rc-2')).rejects.toMatchObject({
      status: 422,
      response: {
        data: {
          message:
            'Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n',
        },
      },
    });
  });

  it('refuses a token user who is no admin of the repository, before writing any ruleset', async () => {
    server.addToken('writer', { login: 'writer', role: 'write' });
    const asWriter = createGithubRulesetsAction({
      config: new ConfigReader({
        integrations: {
          github: [
            { host: server.host, apiBaseUrl: server.baseUrl, token: 'writer' },
          ],
        },
      }),
    });
    execFileSync('git', [
      'init',
      '--quiet',
      '--bare',
      path.join(root, 'acme', 'writer.git'),
    ]);
    const ctx = createMockActionContext({
      input: { ...input(), repoUrl: `${server.host}?owner=acme&repo=writer` },
    });
    await expect(asWriter.handler(ctx as any)).rejects.toThrow(
      /not an admin of acme\/writer.*releaseActor/,
    );
    expect(server.rulesets('acme', 'writer')).toEqual([]);
  });

  it('refuses a repository URL without a repository', async () => {
    const ctx = createMockActionContext({
      input: { ...input(), repoUrl: `${server.host}?owner=acme` },
    });
    await expect(action.handler(ctx as any)).rejects.toThrow(/repo/);
  });
});
