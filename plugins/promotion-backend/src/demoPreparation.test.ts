import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestBackend } from '@backstage/backend-test-utils';
import request from 'supertest';
import { demoBackendFeatures } from './__testUtils__/demoBackend';
import { Lineage } from './lineage/types';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';

// A first start on an empty data directory, as `./mainline start` makes one: the demo is generated
// in the background instead of holding up the start.
describe('demo data on a first start', () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-first-start-'));
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('starts before the demo exists, says it is being prepared, then serves it with its tombstone', async () => {
    const started = Date.now();
    const { server } = await startTestBackend({
      features: demoBackendFeatures({ dataDir }),
    });
    const startMs = Date.now() - started;

    const early = await request(server).get(`${api}/checkout/lineage`);
    expect({ status: early.status, error: early.body.error?.message }).toEqual({
      status: 503,
      error: 'The demo data is being prepared; try again in a moment',
    });
    expect(fs.existsSync(path.join(dataDir, 'demo.json'))).toBe(false);

    let res = early;
    const ready = Date.now();
    while (res.status === 503 && Date.now() - ready < 150_000) {
      await new Promise(resolve => setTimeout(resolve, 250));
      res = await request(server).get(`${api}/checkout/lineage`);
    }
    expect(res.status).toBe(200);
    const lineage: Lineage = res.body;
    expect(lineage.commits.length).toBeGreaterThan(20);
    expect(lineage.commits.filter(c => c.yanked)).toHaveLength(1);
    // Printed for the README's figure: how long the start took and when the demo was ready.
    process.stdout.write(
      `demo first start: backend up in ${startMs} ms, demo ready ${
        Date.now() - started
      } ms after start\n`,
    );
  });
});
