import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestDatabases } from '@backstage/backend-test-utils';
import {
  DEPLOY_WORKFLOW_RUN_NAME,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import { AdapterResolver } from '../adapters';
import {
  LocalArtifactRegistry,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import { BareRepoBuilder } from '@mainline/plugin-promotion-node';
import { GitHubTestServer } from '@mainline/test-servers';
import { openDatabase } from '../database/migrations';
import { PromotionRecord, PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { EntityContext } from './types';
import { demoDataDir } from '../__testUtils__/demoData';
import {
  adaWriteContext,
  demoCheckout,
  handBuiltDemo,
  handBuiltService,
  overGitHubTestServer,
} from '../__testUtils__/handBuiltService';

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
const ctx = adaWriteContext;

describe('a promotion whose upstream fails at each step', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

  async function setup(fault?: Fault) {
    const { dataDir, knex, yanks, local } = await handBuiltDemo(
      'mainline-faults-',
      await databases.init('SQLITE_3'),
    );
    const { lineage, service } = handBuiltService({
      knex,
      yanks,
      adapters: local,
      writeAdapters: faulty(local, fault),
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
  it('a new promotion of a commit adopts the release tag a failed, abandoned one put on it instead of tagging again', async () => {
    const { service, stageSha, endState, dataDir } = await setup({
      method: 'addTag',
      when: 'before',
    });
    const abandoned = (await service.promote(
      entity,
      { environment: 'demo', sha: stageSha },
      ctx,
    )) as PromotionRecord;
    expect(abandoned.status).toBe('failed');
    expect(abandoned.steps.find(s => s.name === 'tag')!.status).toBe(
      'succeeded',
    );
    // Not retried: a new request for the same commit, the tag chosen automatically.
    const next = (await service.promote(
      entity,
      { environment: 'demo', sha: stageSha },
      ctx,
    )) as PromotionRecord;
    expect(next).toMatchObject({
      status: 'succeeded',
      tag: abandoned.tag,
      version: abandoned.tag,
    });
    expect(next.steps.find(s => s.name === 'tag')!.detail).toBe(
      `adopted tag ${abandoned.tag}, which unfinished promotion ${
        abandoned.id
      } put on ${stageSha.slice(0, 7)}`,
    );
    expect(await endState()).toEqual(unfaulted);
    // The abandoned one cannot be finished as well: one release, one record claiming it.
    await expect(service.retry(entity, abandoned.id, ctx)).rejects.toThrow(
      `Promotion ${next.id} adopted tag ${abandoned.tag} since this promotion failed, and is succeeded`,
    );
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('a promotion over GitHub whose upstream fails at each step', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  const TOKEN = 'faults-token';
  const checkout = demoCheckout;
  const servers: GitHubTestServer[] = [];
  let template: string;
  beforeAll(async () => {
    ({ dataDir: template } = await demoDataDir('mainline-gh-faults-'));
    // The Lambda's deploy workflow, as the scaffolder renders it (inputs and run-name).
    const repo = await BareRepoBuilder.open(
      path.join(template, 'git', 'mainline-demo', 'invoices.git'),
    );
    const workflowSha = await repo.commit({
      branch: 'main',
      files: {
        '.github/workflows/mainline-deploy.yaml': [
          `run-name: ${DEPLOY_WORKFLOW_RUN_NAME}`,
          'on:',
          '  workflow_dispatch:',
          '    inputs: { stage: {}, sha: {}, version: {}, request: {}, actor: {} }',
          'jobs: {}',
          '',
        ].join('\n'),
      },
      message: 'Deploy workflow (docs only)',
      author: { name: 'Ada', email: 'ada@example.com', date: new Date() },
    });
    // A release tag's deploy runs the workflow of the tagged commit, so the commit promoted is
    // the one that adds it, built as the newest package (a copy of the previous one's files).
    const artifacts = new LocalArtifactRegistry(
      localLayout(template).artifacts,
    );
    const previous = (
      await artifacts.listArtifacts({
        kind: 'archive',
        location: entity.target.artifactLocation,
      })
    ).find(a => a.commit.length === 40)!.commit;
    const packages = path.join(
      localLayout(template).artifacts,
      'archives',
      'invoices',
    );
    fs.cpSync(path.join(packages, previous), path.join(packages, workflowSha), {
      recursive: true,
    });
  });
  afterAll(async () => {
    await Promise.all(servers.map(s => s.close()));
    fs.rmSync(template, { recursive: true, force: true });
  });

  async function setup(target: EntityContext, fault?: Fault) {
    const dataDir = fs.mkdtempSync(
      path.join(os.tmpdir(), 'mainline-gh-fault-'),
    );
    fs.cpSync(template, dataDir, { recursive: true, preserveTimestamps: true });
    const {
      server,
      source,
      adapters: resolver,
    } = await overGitHubTestServer(dataDir, {
      token: TOKEN,
      autoCompleteRuns: { afterMs: 30 },
    });
    servers.push(server);
    const knex = await openDatabase({
      getClient: async () => databases.init('SQLITE_3'),
    });
    const { lineage, service } = handBuiltService({
      knex,
      yanks: new YankStore(knex),
      adapters: resolver,
      writeAdapters: faulty(resolver, fault),
    });
    const stageSha = (
      await lineage.lineage(target.entityRef, target.target, { limit: 50 })
    ).environments[0].current?.sha;
    /** Finishes a promotion waiting for its deploy run, as the scheduled follower would. */
    const settle = async (record: PromotionRecord) => {
      let current = record;
      for (let i = 0; i < 100 && current.status === 'running'; i++) {
        await new Promise(resolve => setTimeout(resolve, 20));
        await service.followWaiting(async () => target);
        current = (await new PromotionStore(knex).require(
          target.entityRef,
          record.id,
        ))!;
      }
      return current;
    };
    const endState = async () => {
      await lineage.invalidate(target.entityRef);
      const view = await lineage.lineage(target.entityRef, target.target, {
        limit: 50,
      });
      return {
        demo: view.environments[1].current?.version,
        tags: (await source.listTags(target.target.sourceRepo))
          .map(t => `${t.name}@${t.sha}`)
          .sort(),
        runs: server.workflowRuns().length,
        pulls: server.pullRequests('mainline-demo', 'deployments').length,
      };
    };
    return { service, server, settle, endState, dataDir, stageSha };
  }

  // invoices runs nothing in GitHub mode until a deploy run says so: promote main's newest build.
  async function stageShaOf(target: EntityContext, stageSha?: string | null) {
    if (stageSha) return stageSha;
    const artifacts = new LocalArtifactRegistry(
      localLayout(template).artifacts,
    );
    return (
      await artifacts.listArtifacts({
        kind: 'archive',
        location: target.target.artifactLocation,
      })
    ).find(a => a.commit.length === 40)!.commit;
  }

  describe.each([
    ['checkout (manifest commit through the contents API)', checkout],
    ['invoices (deploy workflow dispatched and followed)', entity],
  ])('%s', (_, target) => {
    let unfaulted: unknown;
    beforeAll(async () => {
      const { service, settle, endState, dataDir, stageSha } = await setup(
        target,
      );
      const sha = await stageShaOf(target, stageSha);
      const result = await settle(
        (await service.promote(
          target,
          { environment: 'demo', sha },
          ctx,
        )) as PromotionRecord,
      );
      if (result.status !== 'succeeded') {
        throw new Error(
          `the unfaulted promotion did not succeed: ${result.error}`,
        );
      }
      unfaulted = await endState();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it.each([
      [{ method: 'createTag', when: 'after' } as Fault, 'tag'],
      [{ method: 'addTag', when: 'after' } as Fault, 'retag'],
      [{ method: 'deploy', when: 'before' } as Fault, 'deploy'],
      [{ method: 'deploy', when: 'after' } as Fault, 'deploy'],
    ])(
      '%j: fails at its step; the retry ends where an unfaulted run ends, nothing twice',
      async (fault, step) => {
        const { service, settle, endState, dataDir, stageSha } = await setup(
          target,
          fault,
        );
        const sha = await stageShaOf(target, stageSha);
        const failed = (await service.promote(
          target,
          { environment: 'demo', sha },
          ctx,
        )) as PromotionRecord;
        expect(failed.status).toBe('failed');
        expect(failed.steps.find(s => s.status === 'failed')?.name).toBe(step);
        const retried = await settle(
          await service.retry(target, failed.id, ctx),
        );
        expect(retried.status).toBe('succeeded');
        expect(await endState()).toEqual(unfaulted);
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    );
  });
});
