import fs from 'node:fs';
import path from 'node:path';
import knexFactory from 'knex';
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
import { Entity } from '@backstage/catalog-model';
import { parseAllDocuments } from 'yaml';
import { demoEntities, withLocation, withRelations } from '../testUtils';

jest.setTimeout(600_000);

const APPLY_DELAY_SECONDS = 12;
const readLines = (file: string): any[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line))
    : [];

/**
 * A promotion waiting at its verify step (checkout in the embedded local runtime, which applies
 * a manifest commit 12 s after it lands) when its backend process is SIGKILLed: a new process on
 * the same database resumes the wait from the recorded step and finishes the promotion once the
 * runtime runs the artifact, with nothing done twice.
 */
describe('a backend SIGKILLed while a verify step waits', () => {
  let dataDir: string;
  let options: BackendProcessOptions;

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-verify-crash-'));
    const entities = demoEntities().map(entity =>
      entity.metadata.name === 'checkout'
        ? {
            ...entity,
            metadata: {
              ...entity.metadata,
              annotations: {
                ...entity.metadata.annotations,
                'mainline.dev/local-runtime': 'healthy',
              },
            },
          }
        : entity,
    );
    // The runtime scenario's ledger (catalog/runtime.yaml): its demo syncs fail, but a manifest
    // that pins demo's first image (rc-1) again applies.
    const runtimeCatalog = path.resolve(
      __dirname,
      '../../../../catalog/runtime.yaml',
    );
    const ledger = parseAllDocuments(fs.readFileSync(runtimeCatalog, 'utf8'))
      .map(doc => doc.toJS() as Entity)
      .find(e => e.metadata.name === 'ledger')!;
    const entitiesFile = path.join(dataDir, 'entities.json');
    fs.writeFileSync(
      entitiesFile,
      JSON.stringify([
        ...entities,
        withLocation(withRelations(ledger), `file:${runtimeCatalog}`),
      ]),
    );
    options = {
      database: {
        client: 'better-sqlite3',
        connection: { filename: path.join(dataDir, 'promotion.sqlite') },
        useNullAsDefault: true,
      },
      config: {
        promotion: {
          local: {
            dataDir,
            demoData: true,
            runtime: { applyDelay: `${APPLY_DELAY_SECONDS}s` },
          },
          // The demo's environments, configured: no soak policy, so the demo's recent stage
          // history does not decide the test.
          environments: [
            { name: 'stage', branch: 'main' },
            {
              name: 'demo',
              tagPattern: 'rc-*',
              verify: { timeout: '3m', rollback: true },
            },
            {
              name: 'prod',
              tagPattern: 'v*',
              production: true,
              policy: { requireBeenIn: 'demo' },
            },
          ],
          verify: { minPoll: '1s', maxPoll: '2s' },
          locks: { leaseSeconds: 3 },
          recovery: { intervalSeconds: 1 },
          followUp: { intervalSeconds: 1 },
        },
      },
      notificationsFile: path.join(dataDir, 'notifications.jsonl'),
      auditFile: path.join(dataDir, 'audit.jsonl'),
      entitiesFile,
    };
  });

  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('resumes the wait after the restart and succeeds once, when the runtime runs the artifact', async () => {
    const api = entityApi('checkout');
    const first = await BackendProcess.start(options);
    let id: string;
    let sha: string;
    const manifestBefore = gitIn(
      dataDir,
      'mainline-demo/deployments',
      'rev-parse',
      'main',
    );
    try {
      const lineage = await call(`${first.url}${api}/lineage?limit=100`, 'GET');
      expect(lineage.status).toBe(200);
      // A built commit no environment runs yet.
      sha = promotableCommits(lineage.body)[0];
      expect(sha).toBeDefined();
      const promoted = await call(`${first.url}${api}/promotions`, 'POST', {
        environment: 'demo',
        sha,
      });
      expect(promoted.status).toBe(201);
      // The request does not wait for the runtime: it answers with the verify step waiting.
      expect(promoted.body).toMatchObject({ status: 'running' });
      expect(promoted.body.steps.map((s: any) => [s.name, s.status])).toEqual([
        ['checks', 'succeeded'],
        ['tag', 'succeeded'],
        ['retag', 'succeeded'],
        ['deploy', 'succeeded'],
        ['verify', 'running'],
      ]);
      id = promoted.body.id;
    } finally {
      await first.kill();
    }
    // Down for longer than the lease: the new process finds the worker gone.
    await new Promise(resolve => setTimeout(resolve, 4_000));
    const restartedAt = Date.now();
    const backend = await BackendProcess.start(options);
    try {
      const waiting = (
        await call(`${backend.url}${api}/promotions/${id}`, 'GET')
      ).body;
      expect(waiting.status).toBe('running');
      const record = await eventually(
        async () =>
          (
            await call(`${backend.url}${api}/promotions/${id}`, 'GET')
          ).body,
        r => r.status !== 'running',
        120_000,
      );
      const seconds = (Date.now() - restartedAt) / 1000;
      // eslint-disable-next-line no-console
      console.log(
        `verify step resumed after SIGKILL: succeeded ${seconds.toFixed(
          1,
        )} s after the restart (the runtime applies ${APPLY_DELAY_SECONDS} s after the manifest commit; polls 1 s to 2 s)`,
      );
      expect(record).toMatchObject({ status: 'succeeded', error: null });
      const verify = record.steps.find((s: any) => s.name === 'verify');
      expect(verify).toMatchObject({
        status: 'succeeded',
        detail: expect.stringMatching(
          new RegExp(
            `^demo runs ${record.tag} \\(sha256:[0-9a-f]{12}…\\), Synced at [0-9a-f]{7} and Healthy \\(local runtime: checkout-demo\\)$`,
          ),
        ),
      });
      // One of everything: one release tag, one manifest commit, one notification, no lock.
      expect(tagsAt(dataDir, 'mainline-demo/checkout', sha!, 'rc-')).toEqual([
        record.tag,
      ]);
      expect(
        gitIn(
          dataDir,
          'mainline-demo/deployments',
          'rev-list',
          `${manifestBefore}..main`,
        )
          .split('\n')
          .filter(Boolean),
      ).toHaveLength(1);
      const notices = readLines(options.notificationsFile)
        .map(line => line.payload)
        .filter(p => p.title.includes('checkout'));
      expect(notices.map(p => p.title)).toEqual([
        `Promoted component:default/checkout: demo runs ${record.tag}`,
      ]);
      expect(
        readLines(options.auditFile!).filter(
          e =>
            e.meta?.promotionId === id &&
            e.eventId === 'verify-completed' &&
            e.status === 'succeeded',
        ),
      ).toHaveLength(1);
      const knex = knexFactory(options.database);
      try {
        expect(await knex('promotion_locks').select('promotion_id')).toEqual(
          [],
        );
      } finally {
        await knex.destroy();
      }
    } finally {
      await backend.kill();
    }
  });
  it('resumes an automatic rollback decided just before the SIGKILL, once', async () => {
    // The same database and repositories, a runtime that applies within a second.
    const fast: BackendProcessOptions = JSON.parse(JSON.stringify(options));
    (fast.config as any).promotion.local.runtime.applyDelay = '1s';
    const api = entityApi('ledger');
    const demoFile = 'apps/ledger/overlays/demo/kustomization.yaml';
    const first = await BackendProcess.start(fast, {
      MAINLINE_TEST_PAUSE_AFTER_STEP: 'rollback',
    });
    let failedId: string;
    let rollbackId: string;
    let manifestAtDecision: string;
    try {
      const get = (id: string) =>
        call(`${first.url}${api}/promotions/${id}`, 'GET').then(r => r.body);
      // rc-1 verified running in demo: the version an automatic rollback returns to.
      const manual = await call(`${first.url}${api}/rollbacks`, 'POST', {
        environment: 'demo',
        tag: 'rc-1',
      });
      expect(manual.status).toBe(201);
      expect(
        await eventually(
          () => get(manual.body.id),
          r => r.status !== 'running',
          60_000,
        ),
      ).toMatchObject({ status: 'succeeded' });
      const lineage = await call(`${first.url}${api}/lineage?limit=50`, 'GET');
      const stageSha = lineage.body.environments[0].current.sha;
      const promoted = await call(`${first.url}${api}/promotions`, 'POST', {
        environment: 'demo',
        sha: stageSha,
      });
      expect(promoted.status).toBe(201);
      failedId = promoted.body.id;
      // The sync fails; the rollback is decided and recorded, then the process stops.
      [, rollbackId] = await first.waitFor(
        /MAINLINE_TEST_PAUSED rollback (\S+)/,
        60_000,
      );
      manifestAtDecision = gitIn(
        dataDir,
        'mainline-demo/deployments',
        'rev-parse',
        'main',
      );
    } finally {
      await first.kill();
    }
    const knex = knexFactory(options.database);
    try {
      // In the database before anything acted: the failure, and the rollback it decided.
      const rows = await knex('promotion_promotions')
        .whereIn('id', [failedId!, rollbackId!])
        .select('id', 'status', 'rollback_of');
      expect(rows).toEqual(
        expect.arrayContaining([
          { id: failedId!, status: 'failed', rollback_of: null },
          { id: rollbackId!, status: 'running', rollback_of: failedId! },
        ]),
      );
    } finally {
      await knex.destroy();
    }
    await new Promise(resolve => setTimeout(resolve, 4_000));
    const restartedAt = Date.now();
    const backend = await BackendProcess.start(fast);
    try {
      const get = (id: string) =>
        call(`${backend.url}${api}/promotions/${id}`, 'GET').then(r => r.body);
      const rollback = await eventually(
        () => get(rollbackId!),
        r => r.status !== 'running',
        120_000,
      );
      // eslint-disable-next-line no-console
      console.log(
        `automatic rollback resumed after SIGKILL: succeeded ${(
          (Date.now() - restartedAt) /
          1000
        ).toFixed(1)} s after the restart`,
      );
      expect(rollback).toMatchObject({
        kind: 'rollback',
        status: 'succeeded',
        version: 'rc-1',
        rollbackOf: failedId!,
        requestedBy: 'plugin:promotion',
      });
      expect(await get(failedId!)).toMatchObject({
        status: 'failed',
        rolledBackBy: { id: rollbackId!, version: 'rc-1', status: 'succeeded' },
      });
      // Done once: one rollback of the failed promotion, one manifest commit back to rc-1.
      const list = await call(
        `${backend.url}${api}/promotions?limit=50`,
        'GET',
      );
      expect(
        list.body.items.filter((p: any) => p.rollbackOf === failedId!),
      ).toHaveLength(1);
      expect(
        gitIn(
          dataDir,
          'mainline-demo/deployments',
          'rev-list',
          `${manifestAtDecision!}..main`,
          '--',
          demoFile,
        )
          .split('\n')
          .filter(Boolean),
      ).toHaveLength(1);
      expect(
        gitIn(dataDir, 'mainline-demo/deployments', 'show', `main:${demoFile}`),
      ).toMatch(/newTag: rc-1\b/);
      // The runtime runs it: Synced at that commit and Healthy.
      const runtime = await call(`${backend.url}${api}/runtime`, 'GET');
      const demo = runtime.body.environments.find(
        (e: any) => e.name === 'demo',
      );
      expect(demo.running).toMatchObject({
        sync: { status: 'Synced' },
        health: { status: 'Healthy' },
      });
      expect(demo.drift).toBe(false);
      // Audited as the plugin on the requester's behalf, once.
      const audits = readLines(options.auditFile!).filter(
        e => e.meta?.promotionId === rollbackId! && e.eventId === 'rollback',
      );
      expect(audits.filter(e => e.status === 'succeeded')).toEqual([
        expect.objectContaining({
          meta: expect.objectContaining({
            requestedBy: 'plugin:promotion',
            rollbackOf: failedId!,
            onBehalfOf: expect.stringMatching(/^user:/),
          }),
        }),
      ]);
      // Told once, before the crash: the failure and the version rolled back to.
      const notices = readLines(options.notificationsFile)
        .map(line => line.payload)
        .filter(p => p.title.includes('ledger'));
      expect(notices.map(p => p.title)).toEqual([
        'Rolled back component:default/ledger: demo runs rc-1',
        'Promotion of component:default/ledger to demo failed at verify: rolling back to rc-1',
      ]);
    } finally {
      await backend.kill();
    }
  });
});
