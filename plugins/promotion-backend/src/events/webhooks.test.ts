import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startTestBackend } from '@backstage/backend-test-utils';
import request from 'supertest';
import { BareRepoBuilder } from '@mainline/plugin-promotion-node';
import { localLayout } from '@mainline/plugin-promotion-backend-module-local';
import { webhookBackendFeatures } from '../__testUtils__/webhookBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(180_000);

const SECRET = 'webhook-test-secret';
const api = '/api/promotion/v1/entities/component/default';

describe('GitHub webhooks keep lineage fresh', () => {
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-events-'));
    ({ server } = await startTestBackend({
      features: webhookBackendFeatures({
        promotion: {
          local: { dataDir, demoData: true },
          // Long enough that only a webhook can explain a fresh read.
          lineage: { cacheTtlSeconds: 3600 },
        },
        events: {
          // One process: no need for the database-backed bus between replicas.
          useEventBus: 'never',
          http: { topics: ['github'] },
          modules: { github: { webhookSecret: SECRET } },
        },
      }),
    }));
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  async function headOfLineage(): Promise<string> {
    const res = await request(server).get(`${api}/checkout/lineage?limit=5`);
    expect(res.status).toBe(200);
    return res.body.commits[0].message;
  }

  async function pushCommit(subject: string) {
    const repo = await BareRepoBuilder.open(
      path.join(localLayout(dataDir).git, 'mainline-demo/checkout.git'),
    );
    const who = { name: 'Ada', email: 'ada@example.com', date: new Date() };
    await repo.commit({
      branch: 'main',
      files: { [`notes/${subject}.txt`]: subject },
      message: subject,
      author: who,
    });
  }

  function webhook(body: object, secret = SECRET, event = 'push') {
    const payload = JSON.stringify(body);
    const signature = `sha256=${crypto
      .createHmac('sha256', secret)
      .update(payload)
      .digest('hex')}`;
    return request(server)
      .post('/api/events/http/github')
      .set('content-type', 'application/json')
      .set('x-github-event', event)
      .set('x-hub-signature-256', signature)
      .send(payload);
  }

  it('shows a pushed commit once GitHub says so, and not on a forged webhook', async () => {
    const before = await headOfLineage();
    await pushCommit('webhook-delivered');
    // Cached: the push alone is not seen.
    expect(await headOfLineage()).toBe(before);

    const forged = await webhook(
      {
        ref: 'refs/heads/main',
        repository: { full_name: 'mainline-demo/checkout' },
      },
      'wrong-secret',
    );
    expect(forged.status).toBe(403);
    expect(await headOfLineage()).toBe(before);

    const delivered = await webhook({
      ref: 'refs/heads/main',
      repository: { full_name: 'mainline-demo/checkout' },
    });
    expect(delivered.status).toBe(202);
    // Delivery to subscribers is asynchronous: give it a moment, then require the new head.
    let head = before;
    for (let i = 0; i < 50 && head !== 'webhook-delivered'; i++) {
      await new Promise(resolve => setTimeout(resolve, 100));
      head = await headOfLineage();
    }
    expect(head).toBe('webhook-delivered');
  });

  it('ignores webhooks for repositories no entity uses', async () => {
    const res = await webhook({
      ref: 'refs/heads/main',
      repository: { full_name: 'someone/else' },
    });
    expect(res.status).toBe(202);
  });

  it('after a repository is renamed, webhooks with the new name refresh the entities naming the old one', async () => {
    const renamed = { full_name: 'mainline-demo/checkout-next' };
    const freshHead = async (subject: string) => {
      let head = '';
      for (let i = 0; i < 20 && head !== subject; i++) {
        await new Promise(resolve => setTimeout(resolve, 100));
        head = await headOfLineage();
      }
      return head;
    };
    await headOfLineage();
    await pushCommit('before-the-rename-event');
    await webhook({ ref: 'refs/heads/main', repository: renamed });
    // The new name matches no entity yet.
    expect(await freshHead('before-the-rename-event')).not.toBe(
      'before-the-rename-event',
    );

    const rename = await webhook(
      {
        action: 'renamed',
        changes: { repository: { name: { from: 'checkout' } } },
        repository: renamed,
      },
      SECRET,
      'repository',
    );
    expect(rename.status).toBe(202);
    await pushCommit('after-the-rename-event');
    await webhook({ ref: 'refs/heads/main', repository: renamed });
    expect(await freshHead('after-the-rename-event')).toBe(
      'after-the-rename-event',
    );
  });
});
