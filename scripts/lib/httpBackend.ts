/*
 * The backend as packages/backend wires it for the embedded default, reduced to what a lineage
 * read touches (auth with the guest provider, the catalog, the permission backend with the
 * allow-all policy, the promotion plugin; real tokens, real catalog and permission requests),
 * started in this process on a free loopback port over a given data directory and catalog file,
 * and the load generator that drives it over HTTP from a worker thread.
 */
import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createBackend } from '@backstage/backend-defaults';
import { mockServices } from '@backstage/backend-test-utils';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpBackend {
  baseUrl: string;
  /** A signed-in guest's token, as the frontend holds it. */
  token: string;
  stop(): Promise<void>;
}

/**
 * Starts the backend on the embedded default over `dataDir` (`git/`, `artifacts/`) with the
 * entities of `catalogFile`, and waits until `entityPath` (`component/default/x`) is in the catalog.
 */
export async function startHttpBackend(options: {
  dataDir: string;
  catalogFile: string;
  entityPath: string;
}): Promise<HttpBackend> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const backend = createBackend();
  backend.add(
    mockServices.rootConfig.factory({
      data: {
        app: { baseUrl },
        backend: {
          baseUrl,
          listen: { host: '127.0.0.1', port },
          database: { client: 'better-sqlite3', connection: ':memory:' },
        },
        auth: {
          providers: {
            guest: {
              userEntityRef: 'user:default/guest',
              dangerouslyAllowOutsideDevelopment: true,
            },
          },
        },
        permission: { enabled: true },
        catalog: {
          rules: [
            { allow: ['Component', 'System', 'Group', 'User', 'Location'] },
          ],
          locations: [{ type: 'file', target: options.catalogFile }],
        },
        promotion: { local: { dataDir: options.dataDir, demoData: false } },
      },
    }),
  );
  backend.add(import('@backstage/plugin-auth-backend'));
  backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
  backend.add(import('@backstage/plugin-catalog-backend'));
  backend.add(import('@backstage/plugin-permission-backend'));
  backend.add(
    import('@backstage/plugin-permission-backend-module-allow-all-policy'),
  );
  backend.add(import('@mainline/plugin-promotion-backend'));
  backend.add(import('@mainline/plugin-promotion-backend-module-local'));
  backend.add(import('@mainline/plugin-promotion-backend-module-gitops'));
  await backend.start();

  const refresh = await fetch(`${baseUrl}/api/auth/guest/refresh`, {
    headers: { 'x-requested-with': 'XMLHttpRequest' },
  });
  if (!refresh.ok) {
    throw new Error(`guest sign-in answered ${refresh.status}`);
  }
  const token = ((await refresh.json()) as any).backstageIdentity.token;
  // The catalog ingests the demo files asynchronously.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(
      `${baseUrl}/api/catalog/entities/by-name/${options.entityPath}`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    if (response.ok) break;
    if (attempt > 600) {
      throw new Error(`${options.entityPath} never reached the catalog`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return {
    baseUrl,
    token,
    stop: () => backend.stop(),
  };
}

export interface LoadResult {
  latencies: number[];
  statuses: Record<string, number>;
  elapsedMs: number;
  bytes: number;
}

/** Drives `url` from a worker thread: `connections` clients in a closed loop. */
export function load(options: {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  requests?: number;
  durationMs?: number;
}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'loadDriver.mjs'), {
      workerData: options,
    });
    worker.once('message', message => {
      if (message.error) reject(new Error(message.error));
      else resolve(message.result);
      worker.terminate();
    });
    worker.once('error', reject);
  });
}
