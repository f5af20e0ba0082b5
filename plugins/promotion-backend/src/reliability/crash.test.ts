import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import knexFactory from 'knex';
import { githubModeConfig } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import { gitIn, tagsAt } from '../__testUtils__/upstreamState';
import type { BackendProcessOptions } from '../__testUtils__/backendProcess';
import {
  BackendProcess,
  call,
  entityApi,
  eventually,
  promotableCommits,
} from '../__testUtils__/backendProcessHarness';

jest.setTimeout(600_000);

// MAINLINE_CRASH_DEFAULTS=1 runs with the default lease and reconciler interval instead (slower;
// how docs/reliability.md's figure for the defaults was measured).
const DEFAULTS = process.env.MAINLINE_CRASH_DEFAULTS === '1';
const LEASE_SECONDS = DEFAULTS ? 30 : 3;
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const TOKEN = 'crash-token';
const SECRET = 'crash-webhook-secret';
/** The JSON lines a backend process appended to `file` (none yet: no file). */
const readLines = (file: string): any[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line))
    : [];

/**
 * A demo promotion on the embedded default (local git, the filesystem registry, the GitOps
 * manifest repository) and in GitHub mode (the same repositories through the GitHub test server,
 * prod's manifest change as a pull request), its backend process SIGKILLed at each step boundary
 * and started again.
 */
describe.each([
  ['the embedded default', false],
  ['GitHub mode', true],
])(
  'a backend SIGKILLed in the middle of a promotion on %s',
  (_, githubMode) => {
    let dataDir: string;
    let options: BackendProcessOptions;
    let candidates: string[];
    let github: GitHubTestServer | undefined;
    /** Commits the kill tests promoted to demo: what prod may take. */
    const inDemo: string[] = [];
    const git = (repo: string, ...args: string[]) =>
      gitIn(dataDir, repo, ...args);
    /** The tags on a commit of checkout starting with `prefix` (release or version tags). */
    const checkoutTags = (sha: string, prefix: string) =>
      tagsAt(dataDir, 'mainline-demo/checkout', sha, prefix);
    const api = entityApi('checkout');
    /** Promotes `sha` to demo under an idempotency key (a retried request sends the same one). */
    const promoteToDemo = (url: string, sha: string, key: string) =>
      call(
        `${url}${api}/promotions`,
        'POST',
        { environment: 'demo', sha },
        { 'idempotency-key': key },
      );
    const recordOf = async (url: string, id: string) =>
      (await call(`${url}${api}/promotions/${id}`, 'GET')).body;
    /** What a promotion that finished once leaves behind. */
    const FINISHED_ONCE = {
      audit: ['succeeded'],
      // A recovery acts in the background, without a request: its event names who asked.
      requestedBy: ['user:default/mock'],
      notifications: 1,
      locks: [],
    };
    /** What a promotion left in the audit trail, the notifications and the locks. */
    const trail = async (environment: string, id: string, sha: string) => {
      const knex = knexFactory(options.database);
      try {
        // How each run of its steps ended, as the auditor recorded it.
        const audit = readLines(options.auditFile!).filter(
          e =>
            e.meta?.promotionId === id &&
            ['promote', 'rollback'].includes(e.eventId) &&
            e.status !== 'initiated',
        );
        const notifications = readLines(options.notificationsFile)
          .map(line => line.payload)
          .filter(
            p =>
              p.title.includes(`: ${environment} runs`) &&
              p.description.startsWith(sha.slice(0, 7)),
          );
        return {
          audit: audit.map(a => a.status),
          requestedBy: [...new Set(audit.map(a => a.meta.requestedBy))],
          notifications: notifications.length,
          locks: await knex('promotion_locks').select('promotion_id'),
        };
      } finally {
        await knex.destroy();
      }
    };

    beforeAll(async () => {
      ({ dataDir } = await demoDataDir('mainline-crash-'));
      if (githubMode) {
        github = await startGitHubTestServer({
          root: path.join(dataDir, 'git'),
          token: TOKEN,
        });
      }
      const timing = DEFAULTS
        ? {}
        : {
            locks: { leaseSeconds: LEASE_SECONDS },
            recovery: { intervalSeconds: 1 },
            followUp: { intervalSeconds: 1 },
          };
      const mode = github
        ? githubModeConfig({
            server: github,
            token: TOKEN,
            dataDir,
            github: { manifestPullRequests: ['prod'] },
            promotion: timing,
          })
        : { promotion: { local: { dataDir, demoData: true }, ...timing } };
      options = {
        database: {
          client: 'better-sqlite3',
          connection: { filename: path.join(dataDir, 'promotion.sqlite') },
          useNullAsDefault: true,
        },
        config: {
          ...mode,
          events: {
            useEventBus: 'never',
            http: { topics: ['github'] },
            modules: { github: { webhookSecret: SECRET } },
          },
        },
        notificationsFile: path.join(dataDir, 'notifications.jsonl'),
        auditFile: path.join(dataDir, 'audit.jsonl'),
      };
      // Commits of main with an artifact that demo does not run: one per kill.
      const backend = await BackendProcess.start(options);
      try {
        const lineage = await call(
          `${backend.url}${api}/lineage?limit=100`,
          'GET',
        );
        if (lineage.status !== 200) {
          throw new Error(`lineage answered ${lineage.status}`);
        }
        candidates = promotableCommits(lineage.body);
        if (candidates.length < 5) {
          throw new Error(`only ${candidates.length} commits to promote`);
        }
      } finally {
        await backend.kill();
      }
    });

    afterAll(async () => {
      await github?.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it.each(['checks', 'tag', 'retag', 'deploy'])(
      'killed after %s: one tag, one retag, one manifest change, one succeeded record within 90 s',
      async step => {
        const sha = candidates.shift()!;
        const manifestBefore = git(
          'mainline-demo/deployments',
          'rev-parse',
          'main',
        );
        const key = `crash-${step}`;
        const paused = await BackendProcess.start(options, {
          MAINLINE_TEST_PAUSE_AFTER_STEP: step,
        });
        const posting = promoteToDemo(paused.url, sha, key).catch(
          error => error,
        );
        const [, id] = await paused.waitFor(
          new RegExp(`MAINLINE_TEST_PAUSED ${step} (\\S+)`),
        );
        await paused.kill();
        // The request died with its process: no answer came.
        expect(await posting).toMatchObject({ message: 'fetch failed' });

        const restartedAt = Date.now();
        const backend = await BackendProcess.start(options);
        try {
          const record = await eventually(
            () => recordOf(backend.url, id),
            r => r.status !== 'running',
            90_000,
          );
          const seconds = (Date.now() - restartedAt) / 1000;
          // eslint-disable-next-line no-console
          console.log(
            `killed after ${step}: succeeded ${seconds.toFixed(
              1,
            )} s after the restart`,
          );
          expect(record).toMatchObject({ status: 'succeeded', error: null });
          expect(seconds).toBeLessThan(90);
          // The interrupted step's change was found in the upstream, not made a second time.
          expect(
            record.steps
              .filter((s: any) =>
                /found done after its worker stopped/.test(s.detail),
              )
              .map((s: any) => s.name),
          ).toEqual(step === 'checks' ? [] : [step]);
          expect(record.steps.map((s: any) => s.status)).toEqual([
            'succeeded',
            'succeeded',
            'succeeded',
            'succeeded',
          ]);

          // Plain git: one release tag on the commit, one manifest commit pointing demo at it.
          expect(checkoutTags(sha, 'rc-')).toEqual([record.tag]);
          const manifestCommits = git(
            'mainline-demo/deployments',
            'rev-list',
            `${manifestBefore}..main`,
          )
            .split('\n')
            .filter(Boolean);
          expect(manifestCommits).toHaveLength(1);

          // The API: the artifact carries the tag once, demo runs it, one record for the commit.
          const lineage = (
            await call(`${backend.url}${api}/lineage?limit=100`, 'GET')
          ).body;
          const commit = lineage.commits.find((c: any) => c.sha === sha);
          expect(
            commit.artifacts
              .flatMap((a: any) => a.tags)
              .filter((t: string) => t.startsWith('rc-')),
          ).toEqual([record.tag]);
          expect(
            lineage.environments.find((e: any) => e.name === 'demo').current,
          ).toMatchObject({
            sha,
            version: record.tag,
          });
          const records = (
            await call(`${backend.url}${api}/promotions`, 'GET')
          ).body.items.filter((p: any) => p.sha === sha);
          expect(records.map((p: any) => [p.id, p.status])).toEqual([
            [id, 'succeeded'],
          ]);
          // Replaying the request answers the same promotion and changes nothing.
          const replay = await promoteToDemo(backend.url, sha, key);
          expect(replay.body).toMatchObject({ id, status: 'succeeded' });
          inDemo.push(sha);
        } finally {
          await backend.kill();
        }

        expect(await trail('demo', id, sha)).toEqual(FINISHED_ONCE);
      },
    );

    if (!githubMode) {
      it('a retry and a replay of a promotion whose worker was killed recover it instead of answering 409', async () => {
        const sha = candidates.shift()!;
        const key = 'crash-retry';
        const paused = await BackendProcess.start(options, {
          MAINLINE_TEST_PAUSE_AFTER_STEP: 'retag',
        });
        // A second replica whose reconciler stays out of the way (it runs on start, once a lease
        // later, and then hourly), so that only the retry can recover the promotion.
        const replica = await BackendProcess.start({
          ...options,
          config: {
            ...options.config,
            promotion: {
              ...(options.config.promotion as object),
              recovery: { intervalSeconds: 3600 },
            },
          },
        });
        try {
          const posting = promoteToDemo(paused.url, sha, key).catch(
            error => error,
          );
          const [, id] = await paused.waitFor(
            /MAINLINE_TEST_PAUSED retag (\S+)/,
          );
          await sleep((LEASE_SECONDS + 2) * 1000);
          // While its worker renews the lease, a retry and a replay are refused.
          const live = await Promise.all([
            call(`${replica.url}${api}/promotions/${id}/retry`, 'POST'),
            promoteToDemo(replica.url, sha, key),
          ]);
          expect(live.map(r => r.status)).toEqual([409, 409]);
          expect(live[0].body.error.message).toBe(
            `Promotion ${id} is still running`,
          );

          await paused.kill();
          await posting;
          await sleep((LEASE_SECONDS + 1) * 1000);
          const retry = await call(
            `${replica.url}${api}/promotions/${id}/retry`,
            'POST',
          );
          expect([retry.status, retry.body.status]).toEqual([200, 'succeeded']);
          expect(
            retry.body.steps.find((s: any) => s.name === 'retag').detail,
          ).toMatch(/found done after its worker stopped/);
          const replay = await promoteToDemo(replica.url, sha, key);
          expect(replay.body).toMatchObject({ id, status: 'succeeded' });
          expect(checkoutTags(sha, 'rc-')).toEqual([retry.body.tag]);
          inDemo.push(sha);
        } finally {
          await paused.kill();
          await replica.kill();
        }
      });
    }

    if (!githubMode) return;

    /** A signed `pull_request` webhook as GitHub sends it, with its delivery id. */
    const deliverMerged = async (
      url: string,
      number: number,
      delivery: string,
    ) => {
      const payload = JSON.stringify({
        action: 'closed',
        pull_request: { number, merged: true },
        repository: { full_name: 'mainline-demo/deployments' },
      });
      const res = await fetch(`${url}/api/events/http/github`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'pull_request',
          'x-github-delivery': delivery,
          'x-hub-signature-256': `sha256=${crypto
            .createHmac('sha256', SECRET)
            .update(payload)
            .digest('hex')}`,
        },
        body: payload,
      });
      return res.status;
    };

    const startProd = async (url: string, sha: string) => {
      const res = await call(`${url}${api}/promotions`, 'POST', {
        environment: 'prod',
        sha,
      });
      expect(res.status).toBe(201);
      const deploy = res.body.steps.find((s: any) => s.name === 'deploy');
      expect(deploy).toMatchObject({ status: 'running', waiting: true });
      return {
        id: res.body.id as string,
        pullRequest: Number(deploy.url.split('/').pop()),
      };
    };

    it('a merged pull request redelivered 12 times finishes prod once: one audit row, one notification', async () => {
      const sha = inDemo[0];
      let promotionId = '';
      const backend = await BackendProcess.start(options);
      try {
        const { id, pullRequest } = await startProd(backend.url, sha);
        promotionId = id;
        await github!.mergePullRequest(
          'mainline-demo',
          'deployments',
          pullRequest,
        );
        // The same delivery six times (GitHub's redelivery keeps its id), and six more deliveries
        // of the same event under new ids, all at once: replicas and retries racing.
        const statuses = await Promise.all([
          ...Array.from({ length: 6 }, () =>
            deliverMerged(backend.url, pullRequest, `delivery-${id}`),
          ),
          ...Array.from({ length: 6 }, (__, i) =>
            deliverMerged(backend.url, pullRequest, `delivery-${id}-${i}`),
          ),
        ]);
        expect(statuses).toEqual(Array(12).fill(202));
        const record = await eventually(
          () => recordOf(backend.url, id),
          r => r.status !== 'running',
          30_000,
        );
        expect(record.status).toBe('succeeded');
        // Let every delivery and the scheduled follower have their go before counting.
        await new Promise(resolve => setTimeout(resolve, 3000));
      } finally {
        await backend.kill();
      }
      expect(await trail('prod', promotionId, sha)).toEqual(FINISHED_ONCE);
      // Seven distinct deliveries were remembered; the six repeats of one were not acted on.
      const knex = knexFactory(options.database);
      try {
        const seen = await knex('promotion_webhook_deliveries').where(
          'delivery_id',
          'like',
          `delivery-${promotionId}%`,
        );
        expect(seen).toHaveLength(7);
      } finally {
        await knex.destroy();
      }
    });

    it("no takeover while prod's pull request is open and the backend was down longer than the lease; the late merge finishes the original", async () => {
      const [sha, other] = [inDemo[1], inDemo[2]];
      const first = await BackendProcess.start(options);
      let promotion: { id: string; pullRequest: number };
      try {
        promotion = await startProd(first.url, sha);
      } finally {
        await first.kill();
      }
      await new Promise(resolve =>
        setTimeout(resolve, (2 * LEASE_SECONDS + 1) * 1000),
      );
      const backend = await BackendProcess.start(options);
      try {
        // Give the reconciler (on start and every second) time to look at it.
        await new Promise(resolve =>
          setTimeout(resolve, (LEASE_SECONDS + 2) * 1000),
        );
        const waiting = await recordOf(backend.url, promotion.id);
        expect(waiting).toMatchObject({ status: 'running', error: null });
        expect(
          waiting.steps.find((s: any) => s.name === 'deploy'),
        ).toMatchObject({
          status: 'running',
          waiting: true,
        });
        const takeover = await call(`${backend.url}${api}/promotions`, 'POST', {
          environment: 'prod',
          sha: other,
        });
        expect(takeover.status).toBe(409);
        expect(takeover.body.error.message).toContain(promotion.id);
        const retry = await call(
          `${backend.url}${api}/promotions/${promotion.id}/retry`,
          'POST',
        );
        expect(retry.status).toBe(409);

        await github!.mergePullRequest(
          'mainline-demo',
          'deployments',
          promotion.pullRequest,
        );
        expect(
          await deliverMerged(
            backend.url,
            promotion.pullRequest,
            `late-${promotion.id}`,
          ),
        ).toBe(202);
        const record = await eventually(
          () => recordOf(backend.url, promotion.id),
          r => r.status !== 'running',
          30_000,
        );
        expect(record.status).toBe('succeeded');
        const prod = (
          await call(`${backend.url}${api}/lineage?limit=100`, 'GET')
        ).body.environments.find((e: any) => e.name === 'prod').current;
        expect(prod).toMatchObject({ sha, version: record.tag });
        expect(checkoutTags(sha, 'v')).toEqual([record.tag]);
        expect(checkoutTags(other, 'v')).toEqual([]);
      } finally {
        await backend.kill();
      }
      expect(await trail('prod', promotion.id, sha)).toEqual(FINISHED_ONCE);
    });
  },
);
