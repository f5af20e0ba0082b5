import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { demoDataDir } from '../__testUtils__/demoData';
import { tagsAt } from '../__testUtils__/upstreamState';
import type { BackendProcessOptions } from '../__testUtils__/backendProcess';
import {
  BackendProcess,
  call,
  entityApi,
  eventually,
  promotableCommits,
} from '../__testUtils__/backendProcessHarness';

jest.setTimeout(300_000);

const PG_BIN = '/usr/lib/postgresql/15/bin';
const available = fs.existsSync(path.join(PG_BIN, 'pg_ctl'));
if (process.env.CI && !available) {
  // CI installs PostgreSQL 15 (.ci/run); without it this check would silently not run.
  throw new Error(`The database restart test needs PostgreSQL 15 in ${PG_BIN}`);
}

/** A throwaway PostgreSQL 15 cluster of this test's own, so restarting it disturbs nobody. */
class Cluster {
  private constructor(readonly dir: string, readonly port: number) {}

  private static run(command: string, args: string[]) {
    const binary = path.join(PG_BIN, command);
    // The server refuses to run as root.
    return process.getuid?.() === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', binary, ...args])
      : execFileSync(binary, args);
  }

  static async start(): Promise<Cluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-pg-restart-'));
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']));
      fs.chownSync(dir, uid, uid);
    }
    const port = await new Promise<number>(resolve => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    Cluster.run('initdb', [
      '-D',
      `${dir}/data`,
      '--auth=trust',
      '-U',
      'postgres',
    ]);
    const cluster = new Cluster(dir, port);
    cluster.pgCtl('start');
    return cluster;
  }

  pgCtl(action: 'start' | 'restart' | 'stop', mode = 'fast') {
    Cluster.run('pg_ctl', [
      '-D',
      `${this.dir}/data`,
      '-l',
      `${this.dir}/server.log`,
      '-w',
      '-m',
      mode,
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${this.port} -c fsync=off -k ${this.dir}`,
      action,
    ]);
  }

  get connection() {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  remove() {
    try {
      this.pgCtl('stop', 'immediate');
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

(available ? describe : describe.skip)(
  'PostgreSQL restarted while promotions run',
  () => {
    let dataDir: string;
    let cluster: Cluster;
    let options: BackendProcessOptions;
    const entities = ['checkout', 'invoices', 'cart'];

    beforeAll(async () => {
      ({ dataDir } = await demoDataDir('mainline-pg-crash-'));
      cluster = await Cluster.start();
      options = {
        database: {
          client: 'pg',
          connection: cluster.connection,
          pool: { min: 0, max: 10 },
        },
        config: {
          promotion: {
            local: { dataDir, demoData: true },
            locks: { leaseSeconds: 3 },
            recovery: { intervalSeconds: 1 },
          },
        },
        notificationsFile: path.join(dataDir, 'notifications.jsonl'),
      };
    });

    afterAll(() => {
      cluster?.remove();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('leaves no running record and no lock: every promotion succeeds, and the next ones are not blocked', async () => {
      // Each promotion holds still for 1.5 s after its tag reached git; the database goes down
      // there (killed, as a crash of its host would) for longer than a lease, and comes back.
      const backend = await BackendProcess.start(options, {
        MAINLINE_TEST_PAUSE_AFTER_STEP: 'tag:1500',
      });
      try {
        const candidates: Record<string, string[]> = {};
        for (const name of entities) {
          const lineage = await call(
            `${backend.url}${entityApi(name)}/lineage?limit=100`,
            'GET',
          );
          expect(lineage.status).toBe(200);
          candidates[name] = promotableCommits(lineage.body);
          expect(candidates[name].length).toBeGreaterThanOrEqual(2);
        }
        const promote = (name: string) =>
          call(`${backend.url}${entityApi(name)}/promotions`, 'POST', {
            environment: 'demo',
            sha: candidates[name].shift(),
          });

        const requests = entities.map(name => ({
          name,
          sha: candidates[name][0],
          answer: promote(name),
        }));
        await eventually(
          async () =>
            backend.printed.match(/MAINLINE_TEST_PAUSED tag/g)?.length ?? 0,
          n => n === entities.length,
          60_000,
        );
        const restartedAt = Date.now();
        cluster.pgCtl('stop', 'immediate');
        await new Promise(resolve => setTimeout(resolve, 5000));
        cluster.pgCtl('start');
        const restartSeconds = (Date.now() - restartedAt) / 1000;
        // Requests that met the database down fail; none may leave its promotion running.
        const answers = await Promise.all(requests.map(r => r.answer));
        const knex = knexFactory(options.database);
        try {
          const records = await eventually(
            () =>
              knex('promotion_promotions').select(
                'id',
                'entity_ref',
                'sha',
                'status',
                'tag',
              ),
            rows =>
              rows.length === entities.length &&
              rows.every(r => r.status !== 'running'),
            90_000,
          );
          const seconds = (Date.now() - restartedAt) / 1000 - restartSeconds;
          // eslint-disable-next-line no-console
          console.log(
            `database down and back in ${restartSeconds.toFixed(
              1,
            )} s; every promotion ended ${seconds.toFixed(
              1,
            )} s after it was back; answers ${answers
              .map(a => a.status)
              .join(', ')}`,
          );
          expect(records.map(r => r.status)).toEqual(
            entities.map(() => 'succeeded'),
          );
          expect(await knex('promotion_locks').select()).toEqual([]);
          for (const { name, sha } of requests) {
            const record = records.find(
              r => r.entity_ref === `component:default/${name}`,
            )!;
            expect(record.sha).toBe(sha);
            const repo =
              name === 'cart' ? 'mainline-demo/shop' : `mainline-demo/${name}`;
            expect(tagsAt(dataDir, repo, sha, 'rc-')).toEqual([record.tag]);
          }
        } finally {
          await knex.destroy();
        }

        // Nothing left blocks the environments: the next promotions go through.
        const next = await Promise.all(entities.map(name => promote(name)));
        expect(next.map(n => [n.status, n.body.status])).toEqual(
          entities.map(() => [201, 'succeeded']),
        );
      } finally {
        await backend.kill();
      }
    });
  },
);
