import crypto from 'node:crypto';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { openDatabase } from './migrations';
import {
  NewPromotion,
  PromotionDatabase,
  YankRecords,
} from './PromotionDatabase';
import { PromotionStore } from './PromotionStore';
import { YankStore } from './YankStore';

jest.setTimeout(60_000);

// The store's contract as the engine uses it, on every database the plugin supports. Leases and
// claims under concurrency are in PromotionStore.test.ts; this covers the records themselves.
const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

describe.each(databases.eachSupportedId())(
  'promotion store on %s',
  databaseId => {
    let knex: Knex;
    let store: PromotionDatabase;
    let yanks: YankRecords;

    beforeAll(async () => {
      const client = await databases.init(databaseId);
      knex = await openDatabase({ getClient: async () => client });
      store = new PromotionStore(knex, {
        leaseMs: 30_000,
        owner: crypto.randomUUID(),
      });
      yanks = new YankStore(knex);
    });

    /** Every test has entities of its own, so the tests share one database. */
    const newEntity = () => `component:default/svc-${crypto.randomUUID()}`;
    const sha = (c: string) => c.repeat(40);

    function promotion(
      entityRef: string,
      fields: Partial<NewPromotion> = {},
    ): NewPromotion {
      return {
        id: crypto.randomUUID(),
        entityRef,
        kind: 'promotion',
        environment: 'demo',
        sha: sha('a'),
        tag: 'rc-1',
        version: 'rc-1',
        tagAutomatic: true,
        idempotencyKey: null,
        requestHash: 'hash',
        requestedBy: 'user:default/ada',
        ...fields,
      };
    }

    const planned = [
      {
        name: 'checks' as const,
        status: 'succeeded' as const,
        detail: 'passed',
      },
      { name: 'tag' as const, status: 'pending' as const, detail: null },
      { name: 'deploy' as const, status: 'pending' as const, detail: null },
    ];

    async function createdAt(id: string, at: string) {
      await knex('promotion_promotions')
        .where({ id })
        .update({ created_at: new Date(at) });
    }

    it('records a promotion with its steps, and one idempotency key makes one promotion', async () => {
      const entityRef = newEntity();
      const first = await store.create(
        promotion(entityRef, { idempotencyKey: 'key-1' }),
        planned,
      );
      expect(first.created).toBe(true);
      expect(first.promotion).toMatchObject({
        entityRef,
        status: 'running',
        tag: 'rc-1',
        tagAutomatic: true,
        error: null,
        idempotencyKey: 'key-1',
      });
      expect(first.promotion.createdAt).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
      );
      expect(first.promotion.steps.map(s => [s.name, s.status])).toEqual([
        ['checks', 'succeeded'],
        ['tag', 'pending'],
        ['deploy', 'pending'],
      ]);
      expect(first.promotion.steps[0].finishedAt).not.toBeNull();

      // Retries of one request, at once: exactly one promotion, every caller gets it.
      const retries = await Promise.all(
        Array.from({ length: 5 }, () =>
          store.create(
            promotion(entityRef, { idempotencyKey: 'key-1' }),
            planned,
          ),
        ),
      );
      expect(retries.filter(r => r.created)).toHaveLength(0);
      expect(new Set(retries.map(r => r.promotion.id))).toEqual(
        new Set([first.promotion.id]),
      );
      expect((await store.findByIdempotencyKey(entityRef, 'key-1'))?.id).toBe(
        first.promotion.id,
      );
      // The key is the entity's: another entity may use it.
      expect(
        (
          await store.create(
            promotion(newEntity(), { idempotencyKey: 'key-1' }),
            planned,
          )
        ).created,
      ).toBe(true);

      await expect(
        store.require(entityRef, crypto.randomUUID()),
      ).rejects.toMatchObject({
        name: 'NotFoundError',
      });
      // A promotion is found only under its own entity.
      expect(await store.get(newEntity(), first.promotion.id)).toBeUndefined();
    });

    it('keeps step progress, links and waiting references, and ends once', async () => {
      const entityRef = newEntity();
      const { promotion: record } = await store.create(
        promotion(entityRef),
        planned,
      );
      await store.acquireLock(entityRef, 'demo', record.id);

      await store.setStep(record.id, 'tag', 'running', 'creating rc-1');
      await store.setStep(record.id, 'tag', 'succeeded', 'created rc-1', {
        url: 'https://example.test/tags/rc-1',
      });
      await store.setStep(
        record.id,
        'deploy',
        'running',
        'waiting for review of #7',
        {
          url: 'https://example.test/pull/7',
          pending: 'pull/7',
        },
      );
      let current = await store.require(entityRef, record.id);
      expect(current.steps[1]).toMatchObject({
        status: 'succeeded',
        detail: 'created rc-1',
        url: 'https://example.test/tags/rc-1',
        pending: null,
      });
      expect(current.steps[1].startedAt).not.toBeNull();
      expect(current.steps[1].finishedAt).not.toBeNull();
      expect(current.steps[2]).toMatchObject({
        status: 'running',
        pending: 'pull/7',
      });
      expect((await store.listWaiting(1000)).map(p => p.id)).toContain(
        record.id,
      );

      // The follower finishes it once; a stale reference finishes nothing.
      expect(
        await store.completeWaitingStep(
          record.id,
          'deploy',
          'pull/8',
          'succeeded',
          'x',
          null,
        ),
      ).toBe(false);
      expect(
        await store.completeWaitingStep(
          record.id,
          'deploy',
          'pull/7',
          'succeeded',
          'merged #7',
          'https://example.test/pull/7',
        ),
      ).toBe(true);
      expect((await store.listWaiting(1000)).map(p => p.id)).not.toContain(
        record.id,
      );

      expect(await store.end(record, 'succeeded', null)).toBe(true);
      expect(await store.end(record, 'failed', 'late')).toBe(false);
      current = await store.require(entityRef, record.id);
      expect(current).toMatchObject({ status: 'succeeded', error: null });
      expect(current.steps[2]).toMatchObject({
        status: 'succeeded',
        detail: 'merged #7',
        pending: null,
      });
      expect(await store.lease(entityRef, 'demo', record.id)).toMatchObject({
        held: false,
      });
    });

    it('chooses a release tag again and adopts the tag of an unfinished promotion', async () => {
      const entityRef = newEntity();
      const { promotion: failed } = await store.create(
        promotion(entityRef),
        planned,
      );
      await store.setStatus(failed.id, 'failed', 'deploy failed: timeout');
      await store.setReleaseTag(failed.id, 'rc-2', { tag: 'created rc-2' });
      expect(await store.require(entityRef, failed.id)).toMatchObject({
        status: 'failed',
        error: 'deploy failed: timeout',
        tag: 'rc-2',
        version: 'rc-2',
        steps: expect.arrayContaining([
          expect.objectContaining({ name: 'tag', detail: 'created rc-2' }),
        ]),
      });

      expect(
        (await store.listUnfinished(entityRef, 'demo', sha('a'))).map(
          p => p.id,
        ),
      ).toEqual([failed.id]);
      expect(await store.listUnfinished(entityRef, 'demo', sha('b'))).toEqual(
        [],
      );

      const { promotion: retry } = await store.create(
        promotion(entityRef, { tag: 'rc-3', version: 'rc-3' }),
        planned,
      );
      expect(await store.findAdopter(failed)).toBeUndefined();
      await store.adoptTag(retry.id, 'rc-2');
      expect((await store.findAdopter({ ...failed, tag: 'rc-2' }))?.id).toBe(
        retry.id,
      );
      expect(
        await store.promotedWithTag([newEntity(), entityRef], 'rc-2'),
      ).toBe(true);
      expect(await store.promotedWithTag([entityRef], 'rc-3')).toBe(false);
      expect(await store.promotedWithTag([], 'rc-2')).toBe(false);
    });

    it('records a refused promotion as failed at its checks, without taking the environment', async () => {
      const entityRef = newEntity();
      const refused = await store.recordRefused(
        promotion(entityRef, {
          environment: 'prod',
          tag: 'v1.0.0',
          version: 'v1.0.0',
        }),
        'v1.0.0 is not on main',
      );
      expect(refused).toMatchObject({
        status: 'failed',
        error: 'v1.0.0 is not on main',
        steps: [
          { name: 'checks', status: 'failed', detail: 'v1.0.0 is not on main' },
        ],
      });
      await store.acquireLock(entityRef, 'prod', crypto.randomUUID());
    });

    it('lists newest first, the newest per environment, and the history across many entities', async () => {
      const entityRef = newEntity();
      const made: string[] = [];
      for (const [environment, at] of [
        ['stage', '2026-01-01T00:00:00.000Z'],
        ['demo', '2026-01-02T00:00:00.000Z'],
        ['demo', '2026-01-03T00:00:00.000Z'],
        ['prod', '2026-01-04T00:00:00.000Z'],
      ]) {
        const { promotion: p } = await store.create(
          promotion(entityRef, { environment }),
          planned,
        );
        await createdAt(p.id, at);
        made.push(p.id);
      }
      const listed = await store.list(entityRef, { limit: 3 });
      expect(listed.map(p => p.id)).toEqual([made[3], made[2], made[1]]);
      expect(listed[0].steps).toHaveLength(3);
      expect(
        (await store.latestPerEnvironment([entityRef]))
          .map(p => [p.environment, p.id])
          .sort(),
      ).toEqual(
        [
          ['demo', made[2]],
          ['prod', made[3]],
          ['stage', made[0]],
        ].sort(),
      );

      // More entities than one query takes: the store splits them and still answers newest first.
      const many = Array.from({ length: 600 }, newEntity);
      const rows = many.map((ref, i) => ({
        id: crypto.randomUUID(),
        entity_ref: ref,
        kind: 'promotion',
        environment: 'stage',
        sha: sha('c'),
        tag: null,
        version: 'c',
        status: 'succeeded',
        idempotency_key: null,
        request_hash: 'hash',
        requested_by: 'user:default/ada',
        error: null,
        created_at: new Date(Date.UTC(2025, 0, 1) + i * 60_000),
        updated_at: new Date(Date.UTC(2025, 0, 1) + i * 60_000),
      }));
      await knex.batchInsert('promotion_promotions', rows, 100);
      const newest = await store.history(many, { limit: 5 });
      expect(newest.map(p => p.entityRef)).toEqual(many.slice(-5).reverse());
      const since = await store.history(many, {
        since: new Date(Date.UTC(2025, 0, 1) + 590 * 60_000),
        limit: 100,
      });
      expect(since).toHaveLength(10);
      expect(await store.latestPerEnvironment(many)).toHaveLength(600);
    });

    it('settles or gives back a claimed pushed tag', async () => {
      const repo = `acme/${crypto.randomUUID()}`;
      const claim = (tag: string) =>
        store.claimPushedTag({ repo, tag, sha: sha('d'), source: 'webhook' });
      expect(await claim('rc-1')).toBe(true);
      await store.releasePushedTag(repo, 'rc-1');
      expect(await claim('rc-1')).toBe(true);
      await store.settlePushedTag(repo, 'rc-1', 'promoted', 'promotion 1');
      // Only a claim with nothing recorded is given back.
      await store.releasePushedTag(repo, 'rc-1');
      expect(await claim('rc-1')).toBe(false);
      expect(
        await knex('promotion_pushed_tags')
          .where({ repo })
          .select('outcome', 'detail'),
      ).toEqual([{ outcome: 'promoted', detail: 'promotion 1' }]);
    });

    it('keeps the first tombstone of a yanked commit and lists them newest first', async () => {
      const entityRef = newEntity();
      await yanks.record({
        entityRef,
        sha: sha('e'),
        yankedBy: 'user:default/ada',
        reason: 'leaks a secret',
        yankedAt: '2026-01-01T00:00:00.000Z',
      });
      await yanks.record({
        entityRef,
        sha: sha('e'),
        yankedBy: 'user:default/bob',
        reason: 'again',
        yankedAt: '2026-01-03T00:00:00.000Z',
      });
      await yanks.record({
        entityRef,
        sha: sha('f'),
        yankedBy: 'user:default/bob',
        reason: 'broken build',
        yankedAt: '2026-01-02T00:00:00.000Z',
      });
      expect(await yanks.listForEntity(entityRef)).toEqual([
        {
          entityRef,
          sha: sha('f'),
          yankedBy: 'user:default/bob',
          reason: 'broken build',
          yankedAt: '2026-01-02T00:00:00.000Z',
        },
        {
          entityRef,
          sha: sha('e'),
          yankedBy: 'user:default/ada',
          reason: 'leaks a secret',
          yankedAt: '2026-01-01T00:00:00.000Z',
        },
      ]);
    });
  },
);
