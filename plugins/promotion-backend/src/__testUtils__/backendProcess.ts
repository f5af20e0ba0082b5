/*
 * A backend process for crash tests, started by `BackendProcess.start` (backendProcessHarness.ts) as a child process (never
 * imported by the plugin): the promotion plugin with the real scheduler, the events plugin with
 * GitHub's webhook modules, the demo catalog, a database of its own choosing (a SQLite file or
 * PostgreSQL), and notifications and auditor events appended to files so a test can count them. It prints
 * `MAINLINE_BACKEND_LISTENING <port>` once it serves requests.
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { schedulerServiceFactory } from '@backstage/backend-defaults/scheduler';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { notificationService } from '@backstage/plugin-notifications-node';
import { JsonObject } from '@backstage/types';
import knexFactory, { Knex } from 'knex';
import { recordingAuditorFactory } from './recordingAuditor';
import { webhookBackendFeatures } from './webhookBackend';

export interface BackendProcessOptions {
  database: Knex.Config;
  config: JsonObject;
  /** File every notification sent is appended to, one JSON line each. */
  notificationsFile: string;
  /** File every auditor event is appended to, one JSON line each. */
  auditFile?: string;
  /** A JSON file of the catalog's entities instead of the demo catalog (the org bench's). */
  entitiesFile?: string;
}

async function main() {
  const options: BackendProcessOptions = JSON.parse(
    process.env.MAINLINE_BACKEND_PROCESS!,
  );
  const knex = knexFactory(options.database);
  const { server } = await startTestBackend({
    features: [
      ...webhookBackendFeatures(
        options.config,
        options.entitiesFile
          ? JSON.parse(fs.readFileSync(options.entitiesFile, 'utf8'))
          : undefined,
      ),
      schedulerServiceFactory,
      mockServices.database.factory({ knex }),
      recordingAuditorFactory(event => {
        if (options.auditFile) {
          fs.appendFileSync(options.auditFile, `${JSON.stringify(event)}\n`);
        }
      }),
      createServiceFactory({
        service: notificationService,
        deps: {},
        factory: () => ({
          async send(notification) {
            fs.appendFileSync(
              options.notificationsFile,
              `${JSON.stringify(notification)}\n`,
            );
          },
        }),
      }),
    ],
  });
  process.stdout.write(`MAINLINE_BACKEND_LISTENING ${server.port()}\n`);
  if (process.env.MAINLINE_REPORT_EVENT_LOOP) {
    // For the org bench: how long this replica's event loop was held, every 10 s.
    const delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    setInterval(() => {
      process.stdout.write(
        `MAINLINE_EVENT_LOOP ${Date.now()} ${(
          delay.percentile(50) / 1e6
        ).toFixed(0)} ${(delay.percentile(99) / 1e6).toFixed(0)} ${(
          delay.max / 1e6
        ).toFixed(0)}\n`,
      );
      delay.reset();
    }, 10_000).unref();
  }
}

main().catch(error => {
  process.stderr.write(`backend process failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
