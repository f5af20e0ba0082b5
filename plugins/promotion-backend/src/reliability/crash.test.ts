import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { generateDemoData } from '../demo/generateDemoData';
import type { BackendProcessOptions } from './crash/backendProcess';
import { BackendProcess, call, entityApi, eventually } from './crash/harness';

jest.setTimeout(600_000);

const LEASE_SECONDS = 3;

/**
 * A demo promotion on the embedded default (local git, the filesystem registry, the GitOps
 * manifest repository), its backend process SIGKILLed at each step boundary and started again.
 */
describe('a backend SIGKILLed in the middle of a promotion, then restarted', () => {
  let dataDir: string;
  let options: BackendProcessOptions;
  let candidates: string[];
  const git = (repo: string, ...args: string[]) =>
    execFileSync(
      'git',
      ['--git-dir', path.join(dataDir, 'git', `${repo}.git`), ...args],
      { encoding: 'utf8' },
    ).trim();
  const api = entityApi('checkout');

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-crash-'));
    await generateDemoData(dataDir);
    options = {
      database: {
        client: 'better-sqlite3',
        connection: { filename: path.join(dataDir, 'promotion.sqlite') },
        useNullAsDefault: true,
      },
      config: {
        promotion: {
          local: { dataDir, demoData: true },
          locks: { leaseSeconds: LEASE_SECONDS },
          recovery: { intervalSeconds: 1 },
        },
      },
      notificationsFile: path.join(dataDir, 'notifications.jsonl'),
    };
    // Commits of main with an artifact that demo does not run: one per kill.
    const backend = await BackendProcess.start(options);
    try {
      const lineage = await call(
        `${backend.url}${api}/lineage?limit=100`,
        'GET',
      );
      expect(lineage.status).toBe(200);
      candidates = lineage.body.commits
        .filter(
          (c: any) =>
            c.artifacts.length > 0 &&
            !c.yanked &&
            c.environments.length === 0 &&
            c.tags.length === 0,
        )
        .map((c: any) => c.sha);
      expect(candidates.length).toBeGreaterThanOrEqual(4);
    } finally {
      await backend.kill();
    }
  });

  afterAll(() => {
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
      const posting = call(
        `${paused.url}${api}/promotions`,
        'POST',
        { environment: 'demo', sha },
        { 'idempotency-key': key },
      ).catch(error => error);
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
          async () =>
            (
              await call(`${backend.url}${api}/promotions/${id}`, 'GET')
            ).body,
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
        if (step !== 'checks') {
          // The interrupted step's change was found in the upstream, not made a second time.
          expect(record.steps.find((s: any) => s.name === step).detail).toMatch(
            /found done after its worker stopped/,
          );
        }
        expect(record.steps.map((s: any) => s.status)).toEqual([
          'succeeded',
          'succeeded',
          'succeeded',
          'succeeded',
        ]);

        // Plain git: one release tag on the commit, one manifest commit pointing demo at it.
        const releaseTags = git(
          'mainline-demo/checkout',
          'tag',
          '--points-at',
          sha,
        )
          .split('\n')
          .filter(t => t.startsWith('rc-'));
        expect(releaseTags).toEqual([record.tag]);
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
        const replay = await call(
          `${backend.url}${api}/promotions`,
          'POST',
          { environment: 'demo', sha },
          { 'idempotency-key': key },
        );
        expect(replay.body).toMatchObject({ id, status: 'succeeded' });
      } finally {
        await backend.kill();
      }

      const knex = knexFactory(options.database);
      try {
        const audit = await knex('promotion_audit').where({ promotion_id: id });
        expect(audit.map(a => a.outcome)).toEqual(['succeeded']);
        expect(await knex('promotion_locks').select()).toEqual([]);
      } finally {
        await knex.destroy();
      }
      const notifications = fs
        .readFileSync(options.notificationsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line).payload)
        .filter(
          p =>
            p.title.startsWith('Promoted') &&
            p.description.startsWith(sha.slice(0, 7)),
        );
      expect(notifications).toHaveLength(1);
    },
  );
});
