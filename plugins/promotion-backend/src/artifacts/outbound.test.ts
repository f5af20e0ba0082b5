import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { createAdapterResolver } from '../adapters';
import { adapterProviders } from '../__testUtils__/adapterModules';
import { memoryCache } from '../testUtils';
import { sdkFailure, upstreamFailure } from '@mainline/plugin-promotion-node';

const SECRET = 'INTERNAL-SERVICE-SECRET-42';

describe('outbound rules', () => {
  it.each([
    ['promotion.artifacts.allowedHosts', { allowedHosts: ['https://ghcr.io'] }],
    ['promotion.artifacts.insecureHosts', { insecureHosts: ['ghcr.io/v2'] }],
    [
      'promotion.artifacts.oci.registries[].authHosts',
      {
        oci: {
          registries: [
            { host: 'registry-1.docker.io', authHosts: ['http://auth'] },
          ],
        },
      },
    ],
  ])(
    'a URL where %s wants a host stops the backend at start-up',
    (key, artifacts) => {
      expect(() =>
        createAdapterResolver(
          new ConfigReader({
            promotion: { local: { dataDir: '/nonexistent' }, artifacts },
          }),
          { cache: memoryCache(), logger: mockServices.logger.mock() },
          adapterProviders(),
        ),
      ).toThrow(`${key} must list hosts`);
    },
  );

  it('an upstream failure names status, operation, host and a short error code, never the body', async () => {
    const failure = await upstreamFailure(
      new Response(
        JSON.stringify({
          errors: [{ code: 'DENIED', message: SECRET }],
          detail: SECRET,
        }),
        { status: 403 },
      ),
      'PUT acme/svc/manifests',
      'registry.example.com',
    );
    expect(failure.message).toBe(
      'registry.example.com answered HTTP 403 to PUT acme/svc/manifests (DENIED)',
    );
    const text = await upstreamFailure(
      new Response(`oops ${SECRET}`.repeat(10_000), { status: 500 }),
      'GET acme/svc/tags',
      'registry.example.com',
    );
    expect(text.message).toBe(
      'registry.example.com answered HTTP 500 to GET acme/svc/tags',
    );
    const code = await upstreamFailure(
      new Response(
        JSON.stringify({ errors: [{ code: `${SECRET} and more` }] }),
        {
          status: 400,
        },
      ),
      'PUT',
      'r',
    );
    expect(code.message).not.toContain(SECRET);
  });

  it('an AWS SDK failure keeps its exception name and status, not its message', () => {
    const failure = sdkFailure(
      Object.assign(new Error(`Access denied: ${SECRET}`), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    expect(String(failure)).toBe('AccessDeniedException: HTTP 403');
  });
});
