import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TestDatabases } from '@backstage/backend-test-utils';
import { GitHubTestServer } from '@mainline/test-servers';
import {
  demoCheckout,
  handBuiltDemo,
  handBuiltService,
  overGitHubTestServer,
} from '../__testUtils__/handBuiltService';
import { memoryCache } from '../testUtils';
import { LineageService } from './LineageService';

jest.setTimeout(180_000);

const TOKEN = 'replica-reads-token';
const { entityRef, target } = demoCheckout;
const request = { limit: 20 };

/**
 * Two replicas' lineage services over one shared cache store and the GitHub test server: what
 * people on either replica wait for after a change, and how often GitHub is asked for it.
 */
describe('lineage reads across replicas', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let github: GitHubTestServer;
  let a: LineageService;
  let b: LineageService;

  beforeAll(async () => {
    const demo = await handBuiltDemo(
      'mainline-replica-reads-',
      await databases.init('SQLITE_3'),
    );
    dataDir = demo.dataDir;
    const upstream = await overGitHubTestServer(dataDir, { token: TOKEN });
    github = upstream.server;
    const cache = memoryCache();
    const replica = () =>
      handBuiltService({
        knex: demo.knex,
        yanks: demo.yanks,
        adapters: upstream.adapters,
        cache,
      }).lineage;
    a = replica();
    b = replica();
  });

  afterAll(async () => {
    await github?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Requests for checkout's commit list since the last reset: one per lineage read. */
  const commitReads = () =>
    github.requests.filter(r =>
      /^\/repos\/mainline-demo\/checkout\/commits$/.test(r.path),
    ).length;

  /** A new commit on checkout's main, as a merge makes it. */
  function merge(message: string): string {
    const gitDir = path.join(dataDir, 'git', 'mainline-demo', 'checkout.git');
    const git = (...args: string[]) =>
      execFileSync('git', [`--git-dir=${gitDir}`, ...args], {
        encoding: 'utf8',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'Dev',
          GIT_AUTHOR_EMAIL: 'dev@example.com',
          GIT_COMMITTER_NAME: 'Dev',
          GIT_COMMITTER_EMAIL: 'dev@example.com',
        },
      }).trim();
    const sha = git('commit-tree', 'main^{tree}', '-p', 'main', '-m', message);
    git('update-ref', 'refs/heads/main', sha);
    return sha;
  }

  it('two replicas asked for one invalidated lineage at once ask GitHub once', async () => {
    await a.lineage(entityRef, target, request);
    const head = merge('Merge pull request #901 from acme/one-read');
    await a.invalidate(entityRef);
    github.resetRequests();
    const onA = a.lineage(entityRef, target, request);
    // B asks while A's read is on its way (both were looking at the page when the change came).
    await new Promise(resolve => setTimeout(resolve, 20));
    const onB = b.lineage(entityRef, target, request);
    const [fromA, fromB] = await Promise.all([onA, onB]);
    expect([fromA.commits[0].sha, fromB.commits[0].sha]).toEqual([head, head]);
    expect(commitReads()).toBe(1);
  });

  it("a person's upstream read holds background reads back on every replica; the warmer's own does not", async () => {
    // Nobody has read for longer than the quiet period (two seconds).
    await new Promise(resolve => setTimeout(resolve, 3000));
    await a.invalidate(entityRef);
    const background = a.lineage(entityRef, target, {
      ...request,
      reader: 'background',
    });
    expect([await a.peopleReading(), await b.peopleReading()]).toEqual([
      false,
      false,
    ]);
    await background;
    await a.invalidate(entityRef);
    const person = a.lineage(entityRef, target, request);
    await new Promise(resolve => setTimeout(resolve, 300));
    expect([await a.peopleReading(), await b.peopleReading()]).toEqual([
      true,
      true,
    ]);
    await person;
  });
});
