import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  DEFAULT_ENVIRONMENTS,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import { AdapterResolver, LocalAdapterResolver } from '../adapters';
import { openDatabase } from '../database/migrations';
import { PromotionRecord, PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { generateDemoData } from '../demo/generateDemoData';
import { LineageService } from '../lineage/LineageService';
import { PromotionService } from './PromotionService';
import { EntityContext } from './types';
import { memoryCache } from '../testUtils';

jest.setTimeout(120_000);

// Upstream failures a real server will not produce on demand: each adapter call can be made to
// fail once, before it does anything or after it has done its work (a lost response).
type Fault = {
  method: 'createTag' | 'addTag' | 'deploy';
  when: 'before' | 'after';
};

function faulty(
  resolver: AdapterResolver,
  fault: Fault | undefined,
): AdapterResolver {
  let armed = Boolean(fault);
  const wrap = <T extends object>(port: T): T =>
    new Proxy(port, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        // Only the upstream writes can fail; the synchronous helpers (webUrl) stay as they are.
        if (!['createTag', 'addTag', 'deploy'].includes(String(property))) {
          return value.bind(target);
        }
        return async (...args: unknown[]) => {
          if (armed && fault && property === fault.method) {
            armed = false;
            if (fault.when === 'after') await value.apply(target, args);
            throw new Error(
              `upstream ${fault.method} failed (injected, ${fault.when})`,
            );
          }
          return value.apply(target, args);
        };
      },
    });
  return {
    forTarget(target: PromotionTarget) {
      const adapters = resolver.forTarget(target);
      return {
        ...adapters,
        source: wrap(adapters.source),
        artifacts: wrap(adapters.artifacts),
        deployments: wrap(adapters.deployments),
      };
    },
  };
}

const entity: EntityContext = {
  entityRef: 'component:default/invoices',
  owners: ['group:default/payments'],
  target: {
    sourceRepo: 'mainline-demo/invoices',
    artifactKind: 'archive',
    artifactLocation: 'local://invoices',
    serverlessService: 'invoices',
    versioning: 'calver',
    releaseBranches: false,
  },
};
const ctx = {
  credentials: {
    $$type: '@backstage/BackstageCredentials',
    principal: { type: 'user', userEntityRef: 'user:default/ada' },
  } as any,
  actor: {
    entityRef: 'user:default/ada',
    name: 'Ada',
    email: 'ada@example.com',
  },
};

describe('a promotion whose upstream fails at each step', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

  // The demo is generated once; every case starts from its own copy.
  let template: string;
  let manifest: Awaited<ReturnType<typeof generateDemoData>>;
  beforeAll(async () => {
    template = fs.mkdtempSync(
      path.join(os.tmpdir(), 'mainline-faults-template-'),
    );
    manifest = await generateDemoData(
      template,
      new Date('2026-11-20T12:00:00Z'),
    );
  });
  afterAll(() => fs.rmSync(template, { recursive: true, force: true }));

  async function setup(fault?: Fault) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-faults-'));
    fs.cpSync(template, dataDir, { recursive: true, preserveTimestamps: true });
    const client = await databases.init('SQLITE_3');
    const knex = await openDatabase({ getClient: async () => client });
    const yanks = new YankStore(knex);
    for (const yank of manifest.yanks) await yanks.record(yank);
    const local = new LocalAdapterResolver(dataDir, { manifestBranch: 'main' });
    const adapters = faulty(local, fault);
    const lineage = new LineageService({
      adapters: local,
      yanks,
      cache: memoryCache(),
      environments: DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
      mainBranch: 'main',
      cacheTtlMs: 60_000,
    });
    const service = new PromotionService({
      adapters,
      store: new PromotionStore(knex),
      yanks,
      lineage,
      environments: DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
      mainBranch: 'main',
      annotatedTags: true,
      permissions: mockServices.permissions.mock({
        authorize: async requests =>
          requests.map(() => ({ result: AuthorizeResult.ALLOW })),
      }),
      auditor: {
        createEvent: async () => ({
          success: async () => {},
          fail: async () => {},
        }),
      },
      logger: mockServices.logger.mock(),
    });
    const stageSha = (
      await lineage.lineage(entity.entityRef, entity.target, { limit: 50 })
    ).environments[0].current!.sha!;
    const endState = async () => {
      const view = await lineage.lineage(entity.entityRef, entity.target, {
        limit: 50,
      });
      const tags = (await local.source.listTags(entity.target.sourceRepo)).map(
        t => `${t.name}@${t.sha}`,
      );
      return {
        demo: view.environments[1].current && {
          sha: view.environments[1].current.sha,
          tag: view.environments[1].current.tag,
        },
        artifactTags: view.commits.find(c => c.sha === stageSha)!.artifacts[0]
          .tags,
        tags: tags.sort(),
      };
    };
    return { dataDir, service, stageSha, endState };
  }

  let unfaulted: unknown;
  beforeAll(async () => {
    const { service, stageSha, endState, dataDir } = await setup();
    const result = (await service.promote(
      entity,
      { environment: 'demo', sha: stageSha },
      ctx,
    )) as PromotionRecord;
    if (result.status !== 'succeeded') {
      throw new Error(
        `the unfaulted promotion did not succeed: ${result.error}`,
      );
    }
    unfaulted = await endState();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const faults: Array<[Fault, string]> = [
    [{ method: 'createTag', when: 'before' }, 'tag'],
    [{ method: 'createTag', when: 'after' }, 'tag'],
    [{ method: 'addTag', when: 'before' }, 'retag'],
    [{ method: 'addTag', when: 'after' }, 'retag'],
    [{ method: 'deploy', when: 'before' }, 'deploy'],
    [{ method: 'deploy', when: 'after' }, 'deploy'],
  ];

  it.each(faults)(
    '%j: failed at its step, and a retry resumes to the unfaulted end state',
    async (fault, step) => {
      const { service, stageSha, endState, dataDir } = await setup(fault);
      const failed = (await service.promote(
        entity,
        { environment: 'demo', sha: stageSha },
        ctx,
      )) as PromotionRecord;
      expect(failed.status).toBe('failed');
      const failedStep = failed.steps.find(s => s.status === 'failed')!;
      expect(failedStep.name).toBe(step);
      expect(failedStep.detail).toContain(`upstream ${fault.method} failed`);
      const order = ['checks', 'tag', 'retag', 'deploy'];
      for (const s of failed.steps) {
        let expected = 'pending';
        if (order.indexOf(s.name) < order.indexOf(step)) expected = 'succeeded';
        if (s.name === step) expected = 'failed';
        expect({ step: s.name, status: s.status }).toEqual({
          step: s.name,
          status: expected,
        });
      }

      const retried = await service.retry(entity, failed.id, ctx);
      expect(retried.status).toBe('succeeded');
      expect(retried.id).toBe(failed.id);
      expect(await endState()).toEqual(unfaulted);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  );
});
