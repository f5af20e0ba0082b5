import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  AuditorEvent,
  DefaultAuditorService,
} from '@backstage/backend-defaults/auditor';

/**
 * The auditor a backend runs with by default (actor from the request's credentials, or the
 * plugin), with every event appended to `events` too, so that a test reads the audit trail as an
 * operator would: who did what, and how it ended.
 */
export function recordingAuditorFactory(record: (event: AuditorEvent) => void) {
  return createServiceFactory({
    service: coreServices.auditor,
    deps: {
      auth: coreServices.auth,
      httpAuth: coreServices.httpAuth,
      plugin: coreServices.pluginMetadata,
    },
    factory: ({ auth, httpAuth, plugin }) =>
      DefaultAuditorService.create(record, { auth, httpAuth, plugin }),
  });
}

/** How an event ended, as `<eventId>:<status>` (`initiated` events are left out). */
export function outcomes(events: AuditorEvent[]): string[] {
  return events
    .filter(e => e.status !== 'initiated')
    .map(e => `${e.eventId}:${e.status}`);
}
