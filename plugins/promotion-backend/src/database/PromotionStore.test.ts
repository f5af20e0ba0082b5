import crypto from 'node:crypto';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { openDatabase } from './migrations';
import { PromotionStore } from './PromotionStore';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

describe.each(databases.eachSupportedId())(
  'promotion leases on %s',
  databaseId => {
    let knex: Knex;
    const entityRef = 'component:default/checkout';
    /** One backend instance: its own owner id, a short lease. */
    const replica = (leaseMs = 1500) =>
      new PromotionStore(knex, { leaseMs, owner: crypto.randomUUID() });
    const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

    beforeAll(async () => {
      const client = await databases.init(databaseId);
      knex = await openDatabase({ getClient: async () => client });
    });

    async function runningPromotion(
      store: PromotionStore,
      environment: string,
    ) {
      const id = crypto.randomUUID();
      await store.acquireLock(entityRef, environment, id);
      await store.create(
        {
          id,
          entityRef,
          kind: 'promotion',
          environment,
          sha: 'a'.repeat(40),
          tag: 'rc-1',
          version: 'rc-1',
          tagAutomatic: true,
          idempotencyKey: null,
          requestHash: 'hash',
          requestedBy: 'user:default/ada',
        },
        [{ name: 'checks', status: 'succeeded', detail: 'passed' }],
      );
      return { id, entityRef, environment };
    }

    it('a live lease blocks; one that ran out while its promotion runs is recovered, not taken over', async () => {
      const worker = replica();
      const record = await runningPromotion(worker, 'demo');
      const other = replica();
      await expect(
        other.acquireLock(entityRef, 'demo', crypto.randomUUID()),
      ).rejects.toThrow(/in progress/);
      expect(await other.claimExpired(record)).toBe(false);
      await sleep(1600);
      await expect(
        other.acquireLock(entityRef, 'demo', crypto.randomUUID()),
      ).rejects.toThrow(/is being recovered/);
      expect((await other.listStalled()).map(r => r.id)).toContain(record.id);
      // Ten replicas claim it at once: exactly one wins, and the loser's worker lost its lease.
      const claims = await Promise.all(
        Array.from({ length: 10 }, () => replica(5000).claimExpired(record)),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await worker.renewLease(entityRef, 'demo', record.id)).toBe(false);
      expect((await other.listStalled()).map(r => r.id)).not.toContain(
        record.id,
      );
    });

    it('fails a waiting verify step into its automatic rollback once, handing the lock over, and links the two', async () => {
      const store = replica(5000);
      const environment = 'rollback-env';
      // A verified promotion of another commit: what the rollback returns to.
      const earlier = await runningPromotion(store, environment);
      await store.setStep(earlier.id, 'checks', 'succeeded', 'passed');
      await knex('promotion_steps').insert({
        promotion_id: earlier.id,
        position: 1,
        name: 'verify',
        status: 'succeeded',
        detail: 'runs rc-1',
      });
      await knex('promotion_promotions')
        .where({ id: earlier.id })
        .update({ sha: 'b'.repeat(40) });
      await store.end(earlier, 'succeeded', null);
      const failing = await runningPromotion(store, environment);
      await knex('promotion_steps').insert({
        promotion_id: failing.id,
        position: 1,
        name: 'verify',
        status: 'running',
        detail: 'waiting',
        pending: 'verify:1:2:3',
      });
      const target = await store.lastVerified(
        entityRef,
        environment,
        'a'.repeat(40),
      );
      expect(target?.id).toBe(earlier.id);
      // Two followers decide at once: one records it, the other changes nothing.
      const decide = (follower: PromotionStore) =>
        follower.failIntoRollback(
          {
            record: failing,
            step: 'verify',
            pending: 'verify:1:2:3',
            detail: 'degraded: Degraded',
            url: null,
            error: 'verify: degraded; rolling back to rc-1',
          },
          {
            id: crypto.randomUUID(),
            entityRef,
            kind: 'rollback',
            environment,
            sha: 'b'.repeat(40),
            tag: 'rc-1',
            tagAutomatic: false,
            version: 'rc-1',
            idempotencyKey: null,
            requestHash: 'rollback',
            requestedBy: 'plugin:promotion',
            onBehalfOf: 'user:default/ada',
          },
          [
            { name: 'checks', status: 'succeeded', detail: 'passed' },
            { name: 'deploy', status: 'pending', detail: 'point back' },
          ],
        );
      const outcomes = await Promise.all([decide(store), decide(replica())]);
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const failed = await store.require(entityRef, failing.id);
      expect(failed).toMatchObject({
        status: 'failed',
        error: 'verify: degraded; rolling back to rc-1',
        rolledBackBy: { version: 'rc-1', status: 'running' },
      });
      expect(failed.steps.find(s => s.name === 'verify')).toMatchObject({
        status: 'failed',
        pending: null,
      });
      const rollback = await store.require(entityRef, failed.rolledBackBy!.id);
      expect(rollback).toMatchObject({
        kind: 'rollback',
        status: 'running',
        rollbackOf: failing.id,
        onBehalfOf: 'user:default/ada',
        requestedBy: 'plugin:promotion',
      });
      // The environment stays taken, now by the rollback.
      expect(
        await store.lease(entityRef, environment, rollback.id),
      ).toMatchObject({ held: true, live: true });
      expect((await store.lease(entityRef, environment, failing.id)).held).toBe(
        false,
      );
      // The unique index: a second rollback of the same promotion cannot be recorded.
      await expect(
        knex('promotion_promotions').insert({
          id: crypto.randomUUID(),
          entity_ref: entityRef,
          kind: 'rollback',
          environment,
          sha: 'b'.repeat(40),
          tag: 'rc-1',
          tag_automatic: false,
          version: 'rc-1',
          status: 'running',
          request_hash: 'again',
          requested_by: 'plugin:promotion',
          rollback_of: failing.id,
          created_at: new Date(),
          updated_at: new Date(),
        }),
      ).rejects.toThrow();
    });

    it('ends a promotion and frees its environment in one step, once', async () => {
      const store = replica();
      const record = await runningPromotion(store, 'prod');
      const ends = await Promise.all([
        store.end(record, 'succeeded', null),
        store.end(record, 'succeeded', null),
      ]);
      expect(ends.sort()).toEqual([false, true]);
      expect(await store.lease(entityRef, 'prod', record.id)).toMatchObject({
        held: false,
      });
      await store.acquireLock(entityRef, 'prod', crypto.randomUUID());
    });

    it('never blocks on a lock whose promotion ended, or that got no promotion and ran out', async () => {
      const store = replica();
      const ended = await runningPromotion(store, 'stage');
      await knex('promotion_promotions')
        .where({ id: ended.id })
        .update({ status: 'failed' });
      await store.acquireLock(entityRef, 'stage', crypto.randomUUID());

      const orphan = crypto.randomUUID();
      await knex('promotion_locks')
        .where({ entity_ref: entityRef, environment: 'stage' })
        .delete();
      await store.acquireLock(entityRef, 'stage', orphan);
      await expect(
        store.acquireLock(entityRef, 'stage', crypto.randomUUID()),
      ).rejects.toThrow(/in progress/);
      await sleep(1600);
      await store.acquireLock(entityRef, 'stage', crypto.randomUUID());
    });

    it('moves a waiting step on for exactly one of several followers', async () => {
      const store = replica();
      const record = await runningPromotion(store, 'qa');
      await knex('promotion_steps').insert({
        promotion_id: record.id,
        position: 1,
        name: 'deploy',
        status: 'running',
        detail: 'waiting for review of #7',
        pending: 'pull/7',
      });
      const wins = await Promise.all(
        Array.from({ length: 6 }, () =>
          store.completeWaitingStep(
            record.id,
            'deploy',
            'pull/7',
            'succeeded',
            'merged #7',
            null,
          ),
        ),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
    });

    it('remembers a webhook delivery once and forgets it after the retention', async () => {
      const store = replica();
      const id = crypto.randomUUID();
      const seen = await Promise.all(
        Array.from({ length: 5 }, () =>
          store.firstDelivery(id, 'github.pull_request'),
        ),
      );
      expect(seen.filter(Boolean)).toHaveLength(1);
      expect(
        await store.pruneDeliveries(new Date(Date.now() + 1000)),
      ).toBeGreaterThanOrEqual(1);
      expect(await store.firstDelivery(id, 'github.pull_request')).toBe(true);
    });

    it('claims a pushed tag for exactly one of several replicas, and keeps history out', async () => {
      const repo = `acme/${crypto.randomUUID()}`;
      const claims = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          replica().claimPushedTag({
            repo,
            tag: 'rc-7',
            sha: 'a'.repeat(40),
            source: i % 2 ? 'webhook' : 'reconcile',
          }),
        ),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      const store = replica();
      expect((await store.pushedTagsOf(repo)).baselined).toBe(false);
      await Promise.all([
        store.baselineTags(repo, [
          { name: 'rc-7', sha: 'a'.repeat(40) },
          { name: 'rc-6', sha: 'b'.repeat(40) },
        ]),
        replica().baselineTags(repo, [{ name: 'rc-6', sha: 'b'.repeat(40) }]),
      ]);
      const seen = await store.pushedTagsOf(repo);
      expect({
        baselined: seen.baselined,
        tags: [...seen.tags].sort(),
      }).toEqual({ baselined: true, tags: ['rc-6', 'rc-7'] });
      // History is not a push to act on; the claimed tag stays claimed.
      expect(
        await store.claimPushedTag({
          repo,
          tag: 'rc-6',
          sha: 'b'.repeat(40),
          source: 'webhook',
        }),
      ).toBe(false);
    });
  },
);
