import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import authPlugin from '@backstage/plugin-auth-backend';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import request from 'supertest';
import e2eSignIn from './e2eSignIn';

jest.setTimeout(60_000);

const USERS = `apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: e2e-approver
spec:
  memberOf: []
`;

async function start(
  providers: Record<string, { userEntityRef: string }>,
  dir: string,
) {
  return startTestBackend({
    features: [
      authPlugin,
      catalogPlugin,
      e2eSignIn,
      mockServices.rootConfig.factory({
        data: {
          app: { baseUrl: 'http://localhost:3000' },
          auth: { providers },
          catalog: {
            rules: [{ allow: ['User'] }],
            locations: [{ type: 'file', target: path.join(dir, 'users.yaml') }],
          },
        },
      }),
    ],
  });
}

describe('the browser tests sign-in identities', () => {
  let dir: string;
  const env = process.env.NODE_ENV;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-sign-in-'));
    await fs.writeFile(path.join(dir, 'users.yaml'), USERS);
  });
  afterAll(async () => {
    process.env.NODE_ENV = env;
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('signs in as the configured catalog user, and registers no provider that is not configured', async () => {
    const { server } = await start(
      { 'e2e-approver': { userEntityRef: 'user:default/e2e-approver' } },
      dir,
    );
    const refresh = (provider: string) =>
      request(server)
        .get(`/api/auth/${provider}/refresh`)
        .set('X-Requested-With', 'XMLHttpRequest');
    // The catalog reads the file in the background: the sign-in works once the user is there.
    let response = await refresh('e2e-approver');
    for (let i = 0; i < 100 && response.status !== 200; i++) {
      await new Promise(resolve => setTimeout(resolve, 300));
      response = await refresh('e2e-approver');
    }
    expect(response.status).toBe(200);
    expect(response.body.backstageIdentity.identity).toMatchObject({
      type: 'user',
      userEntityRef: 'user:default/e2e-approver',
    });
    expect((await refresh('e2e-author')).status).toBe(404);
  });

  it('refuses to start in production with such an identity configured', async () => {
    process.env.NODE_ENV = 'production';
    try {
      await expect(
        start(
          { 'e2e-approver': { userEntityRef: 'user:default/e2e-approver' } },
          dir,
        ),
      ).rejects.toThrow(/for the browser tests only/);
    } finally {
      process.env.NODE_ENV = env;
    }
  });
});
