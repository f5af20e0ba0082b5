import fs from 'node:fs';
import path from 'node:path';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import {
  LocalRuntimeObserver,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import { parseAllDocuments } from 'yaml';
import { PromotionRecord, PromotionStore } from '../database/PromotionStore';
import {
  adaWriteContext,
  handBuiltDemo,
  handBuiltService,
} from '../__testUtils__/handBuiltService';
import { PromotionService } from '../promotion/PromotionService';
import { EntityContext } from '../promotion/types';
import { EntityTargets } from '../service/EntityTargets';
import { toPromotion } from '../promotion/api';
import { DoraService } from '../dora/DoraService';
import { entityEvents } from '../dora/metrics';
import { RuntimeSettings, defaultRuntimeSettings } from './settings';

jest.setTimeout(180_000);

// The automatic rollback (`verify.rollback`) on the embedded local runtime, with the demo's runtime
// scenario (catalog/runtime.yaml): ledger's demo syncs fail, and a manifest that pins demo's first
// image again (rc-1) applies; notifier's new versions never become healthy once its annotation
// says so. What is asserted is what the owners see: the ledger, the manifest repository, what the
// runtime reports, and the notices.

function scenarioEntity(name: string, mode?: string): EntityContext {
  const file = path.resolve(__dirname, '../../../../catalog/runtime.yaml');
  const entity = parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map(doc => doc.toJS() as Entity)
    .find(e => e.metadata.name === name)!;
  if (mode) {
    entity.metadata.annotations = {
      ...entity.metadata.annotations,
      'mainline.dev/local-runtime': mode,
    };
  }
  const read = EntityTargets.read({
    ...entity,
    relations: [{ type: 'ownedBy', targetRef: 'group:default/payments' }],
  });
  if (!read.ok) throw new Error(read.problem);
  return read.entity;
}

/** The soak policy is not what these tests are about: any built commit may go to demo. */
function withoutSoak(settings: RuntimeSettings): RuntimeSettings {
  for (const environment of Object.values(settings.environments)) {
    delete environment.requireRunningIn;
  }
  return settings;
}

describe('the automatic rollback of a failed verification', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  // One copy of the demo for both tests (each uses its own entity): copying it is most of the cost.
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup();
  });

  async function setup() {
    const { knex, yanks, local, dataDir } = await handBuiltDemo(
      'mainline-auto-rollback-',
      await databases.init('SQLITE_3'),
    );
    const observer = new LocalRuntimeObserver({
      source: local.source,
      artifacts: local.artifacts,
      branch: 'main',
      applyDelayMs: 500,
      seedDir: localLayout(dataDir).runtime,
      progressDeadlineMs: 1_000,
    });
    const notices: Array<{ title: string; description: string }> = [];
    const notifications = {
      send: async ({ payload }: { payload: any }) => {
        notices.push({
          title: payload.title,
          description: payload.description,
        });
      },
    } as unknown as NotificationService;
    const environments = DEFAULT_ENVIRONMENTS.map(e => ({ ...e }));
    const serviceWith = (rollback: string[]) =>
      handBuiltService({
        knex,
        yanks,
        adapters: local,
        notifications,
        runtime: {
          observerFor: subject =>
            observer.serves(subject) ? { name: 'local', observer } : undefined,
          settings: withoutSoak(
            defaultRuntimeSettings(environments, {
              timeoutMs: 30_000,
              minPollMs: 100,
              maxPollMs: 300,
              rollback,
            }),
          ),
        },
      });
    const on = serviceWith(['demo']);
    const off = serviceWith([]);
    const store = new PromotionStore(knex);
    /** Follows the waiting steps until the promotion ended, and whatever it started too. */
    const settle = async (
      service: PromotionService,
      entity: EntityContext,
      id: string,
    ) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const all = await store.list(entity.entityRef, { limit: 50 });
        if (!all.some(p => p.status === 'running')) {
          return all.find(p => p.id === id)!;
        }
        if (Date.now() > deadline) {
          throw new Error(`still running: ${JSON.stringify(all[0])}`);
        }
        await new Promise(resolve => setTimeout(resolve, 100));
        await service.followWaiting(async () => entity);
      }
    };
    const promote = async (
      service: PromotionService,
      entity: EntityContext,
      sha: string,
    ) => {
      const started = (await service.promote(
        entity,
        { environment: 'demo', sha },
        adaWriteContext,
      )) as PromotionRecord;
      return settle(service, entity, started.id);
    };
    const subject = (entity: EntityContext) => ({
      entityRef: entity.entityRef,
      name: entity.entityRef.split('/')[1],
      annotations: entity.annotations!,
    });
    const digestOf = async (entity: EntityContext, tag: string) =>
      (
        await local.artifacts.listArtifacts({
          kind: 'image',
          location: entity.target.artifactLocation,
        })
      ).find(a => a.tags.includes(tag))!.digest;
    const stageSha = async (entity: EntityContext) =>
      (
        await on.lineage.lineage(entity.entityRef, entity.target, {
          limit: 50,
        })
      ).environments[0].current!.sha!;
    // DORA over the same ledger, with demo counted as production: what the figures make of it.
    const dora = new DoraService({
      store,
      yanks,
      lineage: on.lineage,
      environments: environments.map(e => ({
        ...e,
        production: e.name === 'demo',
      })),
      failureWindowMs: 7 * 24 * 3_600_000,
      commitLimit: 100,
      historyLimit: 500,
    });
    return {
      dora,
      on: on.service,
      off: off.service,
      lineage: on.lineage,
      store,
      local,
      observer,
      notices,
      settle,
      promote,
      subject,
      digestOf,
      stageSha,
    };
  }

  it('returns the environment to the last verified version, once, linked and told; off changes nothing; nothing verified: says so', async () => {
    const ledger = scenarioEntity('ledger');
    const sha = await env.stageSha(ledger);

    // Nothing verified in demo yet: the failure says why it was not rolled back.
    const first = await env.promote(env.on, ledger, sha);
    expect(first.status).toBe('failed');
    expect(first.error).toMatch(
      /^verify: VerificationFailedError: sync-failed: .*; not rolled back: no earlier version was verified running in demo$/,
    );
    expect(first.rolledBackBy).toBeNull();

    // A rollback to rc-1 a person asks for is verified running: from now on the last verified.
    const manual = await env.on.rollback(
      ledger,
      { environment: 'demo', tag: 'rc-1' },
      adaWriteContext,
    );
    expect(
      (await env.settle(env.on, ledger, manual.id)).steps.map(s => [
        s.name,
        s.status,
      ]),
    ).toEqual([
      ['checks', 'succeeded'],
      ['deploy', 'succeeded'],
      ['verify', 'succeeded'],
    ]);

    // Rollback on: the failed promotion is rolled back to rc-1.
    env.notices.length = 0;
    const failed = await env.promote(env.on, ledger, sha);
    expect(failed).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(
        /^verify: VerificationFailedError: sync-failed: .*; rolling back to rc-1 \([0-9a-f]{7}\), the last version verified running in demo$/,
      ),
      rolledBackBy: { version: 'rc-1', status: 'succeeded' },
    });
    const rollback = await env.store.require(
      ledger.entityRef,
      failed.rolledBackBy!.id,
    );
    expect(rollback).toMatchObject({
      kind: 'rollback',
      status: 'succeeded',
      version: 'rc-1',
      sha: manual.sha,
      rollbackOf: failed.id,
      requestedBy: 'plugin:promotion',
      onBehalfOf: 'user:default/ada',
    });
    expect(rollback.steps.map(s => [s.name, s.status])).toEqual([
      ['checks', 'succeeded'],
      ['deploy', 'succeeded'],
      ['verify', 'succeeded'],
    ]);
    // Checked as a rollback a person asks for: the write scope, the artifact, the release tag.
    expect(rollback.steps[0].detail).toMatch(
      /^write-scope: .*release-tag: [0-9a-f]{7} was released as rc-1/,
    );
    // The API carries the link both ways.
    expect(toPromotion(failed).rolledBackBy).toEqual({
      id: rollback.id,
      version: 'rc-1',
      status: 'succeeded',
    });
    expect(toPromotion(rollback)).toMatchObject({
      rollbackOf: failed.id,
      onBehalfOf: 'user:default/ada',
    });
    // The manifest repository pins rc-1 again, and the runtime runs rc-1's digest, synced there.
    const declared = (await env.local.gitops.current(ledger.target, ['demo']))
      .demo!;
    expect(declared.version).toBe('rc-1');
    const running = (await env.observer.observe(env.subject(ledger), ['demo']))
      .demo!;
    expect(running).toMatchObject({
      sync: { status: 'Synced', revision: declared.revision },
      health: { status: 'Healthy' },
      runningDigests: [await env.digestOf(ledger, 'rc-1')],
    });
    // One notice, naming the failure and the version rolled back to.
    expect(env.notices).toEqual([
      {
        title: `Promotion of ${ledger.entityRef} to demo failed at verify: rolling back to rc-1`,
        description: expect.stringMatching(
          /^rc-\d+: sync-failed: .*\. Rolling back automatically to rc-1 \([0-9a-f]{7}\), the last version verified running in demo\.$/,
        ),
      },
    ]);
    // Exactly one automatic rollback in the ledger.
    const all = await env.store.list(ledger.entityRef, { limit: 50 });
    expect(all.filter(p => p.rollbackOf)).toHaveLength(1);
    // DORA sees a release that failed, restored by the rollback.
    const events = entityEvents(
      await env.dora.facts(ledger),
      7 * 24 * 3_600_000,
    );
    expect(events.failures).toEqual([
      expect.objectContaining({
        promotionId: failed.id,
        causes: [expect.objectContaining({ type: 'rollback' })],
        restoredBy: expect.objectContaining({
          promotionId: rollback.id,
          kind: 'rollback',
          version: 'rc-1',
        }),
      }),
    ]);

    // Rollback off: the failure leaves the environment as the runtime has it (declaring what failed).
    const off = await env.promote(env.off, ledger, sha);
    expect(off.status).toBe('failed');
    expect(off.error).not.toMatch(/roll/);
    expect(off.rolledBackBy).toBeNull();
    const declaredOff = (
      await env.local.gitops.current(ledger.target, ['demo'])
    ).demo!;
    expect(declaredOff.version).toBe(off.version);
    expect(
      (await env.store.list(ledger.entityRef, { limit: 50 })).filter(
        p => p.rollbackOf,
      ),
    ).toHaveLength(1);
  });

  it('does not roll a failed automatic rollback back again', async () => {
    const healthy = scenarioEntity('notifier', 'healthy');
    const sha = await env.stageSha(healthy);
    const verified = await env.promote(env.on, healthy, sha);
    expect(verified.status).toBe('succeeded');

    // From now on only demo's first version would become healthy: neither the new commit nor
    // the verified one, which the rollback returns to.
    const broken = scenarioEntity('notifier', 'demo=never-healthy');
    const view = await env.lineage.lineage(broken.entityRef, broken.target, {
      limit: 50,
    });
    // The service's first commit: built, never released (rc-1, demo's first image, would apply).
    const other = view.commits
      .filter(c => c.artifacts.length > 0 && !c.yanked && c.tags.length === 0)
      .at(-1)!.sha;
    expect(other).not.toBe(sha);
    const failed = await env.promote(env.on, broken, other);
    expect(failed).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/degraded: .*; rolling back to rc-\d+/),
      rolledBackBy: { version: verified.version, status: 'failed' },
    });
    const rollback = await env.store.require(
      broken.entityRef,
      failed.rolledBackBy!.id,
    );
    expect(rollback.error).toMatch(
      /^verify: VerificationFailedError: degraded: .*; a rollback is not rolled back again$/,
    );
    // Polls after it start nothing more.
    for (let i = 0; i < 5; i++) {
      await env.on.followWaiting(async () => broken);
    }
    const all = await env.store.list(broken.entityRef, { limit: 50 });
    expect(all.filter(p => p.kind === 'rollback')).toHaveLength(1);
    expect(all.some(p => p.status === 'running')).toBe(false);
  });
});
