import path from 'node:path';
import { TestDatabases } from '@backstage/backend-test-utils';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import {
  LocalRuntimeObserver,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import { PromotionRecord } from '../database/PromotionStore';
import {
  adaWriteContext,
  handBuiltDemo,
  handBuiltService,
} from '../__testUtils__/handBuiltService';
import { EntityContext } from '../promotion/types';
import { demoEntities } from '../testUtils';
import { EntityTargets } from '../service/EntityTargets';
import { defaultRuntimeSettings } from './settings';
import { parseAllDocuments } from 'yaml';
import fs from 'node:fs';
import { Entity } from '@backstage/catalog-model';

jest.setTimeout(180_000);

// The demo's runtime scenario (catalog/runtime.yaml) on the embedded local runtime: ledger's demo
// syncs fail, notifier's new versions never become healthy. What the runtime reports shows the
// declared version against the running one, and promoting either to demo fails at verify.

function scenarioEntity(name: string): EntityContext {
  const file = path.resolve(__dirname, '../../../../catalog/runtime.yaml');
  const entity = parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map(doc => doc.toJS() as Entity)
    .find(e => e.metadata.name === name)!;
  const read = EntityTargets.read({
    ...entity,
    relations: [{ type: 'ownedBy', targetRef: 'group:default/payments' }],
  });
  if (!read.ok) throw new Error(read.problem);
  return read.entity;
}

describe('the demo runtime scenario on the local runtime', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

  async function setup() {
    const { knex, yanks, local, dataDir } = await handBuiltDemo(
      'mainline-local-runtime-',
      await databases.init('SQLITE_3'),
    );
    const layout = localLayout(dataDir);
    const observer = new LocalRuntimeObserver({
      source: local.source,
      artifacts: local.artifacts,
      branch: 'main',
      applyDelayMs: 500,
      seedDir: layout.runtime,
      progressDeadlineMs: 1_500,
    });
    const { lineage, service } = handBuiltService({
      knex,
      yanks,
      adapters: local,
      runtime: {
        observerFor: subject =>
          observer.serves(subject) ? { name: 'local', observer } : undefined,
        settings: defaultRuntimeSettings(
          DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
          { timeoutMs: 60_000, minPollMs: 100, maxPollMs: 300 },
        ),
      },
    });
    return { observer, lineage, service, local };
  }

  it('shows demo declaring rc-2 against what runs, and fails promotions at verify', async () => {
    const env = await setup();
    expect(demoEntities().map(e => e.metadata.name)).not.toContain('ledger');
    const ledger = scenarioEntity('ledger');
    const notifier = scenarioEntity('notifier');
    const subject = (entity: EntityContext) => ({
      entityRef: entity.entityRef,
      name: entity.entityRef.split('/')[1],
      annotations: entity.annotations!,
    });

    const declared = await env.local.gitops.current(ledger.target, ['demo']);
    expect(declared.demo?.version).toBe('rc-2');
    const artifacts = await env.local.artifacts.listArtifacts({
      kind: 'image',
      location: 'local/ledger',
    });
    const digestOf = (tag: string) =>
      artifacts.find(a => a.tags.includes(tag))!.digest;
    const ledgerDemo = (await env.observer.observe(subject(ledger), ['demo']))
      .demo!;
    expect(ledgerDemo).toMatchObject({
      sync: { status: 'OutOfSync', revision: declared.demo!.revision },
      health: { status: 'Healthy' },
      lastOperation: { phase: 'Failed' },
      runningDigests: [digestOf('rc-1')],
    });
    const notifierDemo = await env.observer.observe(subject(notifier), [
      'demo',
      'stage',
    ]);
    expect(notifierDemo.demo).toMatchObject({
      sync: { status: 'Synced' },
      health: { status: 'Degraded' },
    });
    expect(notifierDemo.stage).toMatchObject({
      sync: { status: 'Synced' },
      health: { status: 'Healthy' },
    });

    for (const [entity, error] of [
      [
        ledger,
        /^verify: VerificationFailedError: sync-failed: local runtime: ledger-demo: the sync of [0-9a-f]{7} failed: one or more objects failed to apply/,
      ],
      [
        notifier,
        /^verify: VerificationFailedError: degraded: local runtime: notifier-demo is Degraded: Deployment notifier exceeded its progress deadline/,
      ],
    ] as const) {
      const view = await env.lineage.lineage(entity.entityRef, entity.target, {
        limit: 50,
      });
      const stageSha = view.environments[0].current!.sha!;
      const record = (await env.service.promote(
        entity,
        { environment: 'demo', sha: stageSha },
        adaWriteContext,
      )) as PromotionRecord;
      // The soak passed: stage has run the commit healthy for a day.
      expect(record.steps[0].detail).toMatch(
        /running-in: .* has run healthy in stage/,
      );
      let now = record;
      const deadline = Date.now() + 30_000;
      while (now.status === 'running' && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 100));
        await env.service.followWaiting(async () => entity);
        now = (await (env.service as any).options.store.require(
          entity.entityRef,
          record.id,
        )) as PromotionRecord;
      }
      expect(now.status).toBe('failed');
      expect(now.error).toMatch(error);
    }
  });
});
