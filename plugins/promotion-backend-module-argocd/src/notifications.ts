import crypto from 'node:crypto';
import { stringifyError } from '@backstage/errors';
import {
  EventParams,
  EventsService,
  RequestValidator,
} from '@backstage/plugin-events-node';
import { PromotionSourceEvents } from '@mainline/plugin-promotion-node';
import {
  ArgoCdRuntimeObserver,
  NotifiedApplication,
} from './ArgoCdRuntimeObserver';
import { ArgoCdInstance } from './config';

/**
 * The events topic Argo CD notifications arrive on: the events backend's HTTP ingress
 * `POST /api/events/http/argocd`, added by {@link eventsModuleArgoCdNotifications}.
 *
 * @public
 */
export const ARGOCD_NOTIFICATION_TOPIC = 'argocd';

/**
 * The header carrying the instance's shared secret (`promotion.argocd.instances[].notifications.secret`).
 *
 * @public
 */
export const ARGOCD_SECRET_HEADER = 'x-mainline-argocd-secret';

/**
 * What the webhook template of the notifications controller sends (see docs/runtime.md): the
 * instance and Application; the states are for messages only, since the verify step reads the
 * Application itself.
 *
 * @public
 */
export interface ArgoCdNotification extends NotifiedApplication {
  sync?: string;
  revision?: string;
  health?: string;
  phase?: string;
}

/** Kubernetes object names (RFC 1123 subdomains). */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const FIELD_LIMIT = 256;

/**
 * Reads a notification's body, or says what is wrong with it (for a 400). A field the template
 * leaves empty (`{{.app.metadata.namespace}}` of an Application without one) counts as unset.
 *
 * @public
 */
export function readArgoCdNotification(
  body: unknown,
): { notification: ArgoCdNotification } | { problem: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { problem: 'the body must be a JSON object' };
  }
  const fields = body as Record<string, unknown>;
  const optional = (key: string): string | undefined | Error => {
    const value = fields[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || value.length > FIELD_LIMIT) {
      return new Error(
        `"${key}" must be a string of at most ${FIELD_LIMIT} characters`,
      );
    }
    return value;
  };
  const values: Record<string, string | undefined> = {};
  for (const key of [
    'instance',
    'application',
    'namespace',
    'sync',
    'revision',
    'health',
    'phase',
  ]) {
    const value = optional(key);
    if (value instanceof Error) return { problem: value.message };
    values[key] = value;
  }
  if (!values.instance) {
    return {
      problem: '"instance" (the configured Argo CD instance name) is missing',
    };
  }
  if (!values.application || !NAME.test(values.application)) {
    return {
      problem: `"application" must be an Application name, not ${JSON.stringify(
        fields.application ?? null,
      )}`,
    };
  }
  const labels = fields.labels;
  if (
    labels !== undefined &&
    labels !== null &&
    (typeof labels !== 'object' ||
      Array.isArray(labels) ||
      Object.values(labels).some(v => typeof v !== 'string'))
  ) {
    return {
      problem:
        '"labels" must be an object of strings (toJson .app.metadata.labels)',
    };
  }
  return {
    notification: {
      instance: values.instance,
      name: values.application,
      namespace: values.namespace,
      labels: (labels ?? undefined) as Record<string, string> | undefined,
      sync: values.sync,
      revision: values.revision,
      health: values.health,
      phase: values.phase,
    },
  };
}

const digest = (value: string) =>
  crypto.createHash('sha256').update(value).digest();

/**
 * The check of the events backend's HTTP ingress for {@link ARGOCD_NOTIFICATION_TOPIC}: a
 * malformed body is a 400, a notification without its instance's secret a 401, and either is
 * answered before any event is published. The secret header is dropped once checked, so that
 * it is not passed on as event metadata (which the events service logs at debug level).
 *
 * @public
 */
export function argoCdNotificationValidator(
  instances: ArgoCdInstance[],
): RequestValidator {
  return async (request, context) => {
    const headers = request.headers as Record<string, unknown>;
    const header = headers[ARGOCD_SECRET_HEADER];
    delete headers[ARGOCD_SECRET_HEADER];
    const given = Array.isArray(header) ? header[0] : header;
    const reject = (status: number, name: string, message: string) =>
      context.reject({ status, payload: { error: { name, message } } });
    const read = readArgoCdNotification(request.body);
    if ('problem' in read) {
      reject(
        400,
        'InputError',
        `Argo CD notification refused: ${read.problem}`,
      );
      return;
    }
    const { instance: name } = read.notification;
    const instance = instances.find(i => i.name === name);
    if (!instance?.notificationSecret) {
      reject(
        400,
        'InputError',
        `Argo CD notification refused: "${name}" is not an Argo CD instance configured for notifications`,
      );
      return;
    }
    if (typeof given !== 'string' || given.length === 0) {
      reject(
        401,
        'AuthenticationError',
        `Argo CD notification refused: the ${ARGOCD_SECRET_HEADER} header is missing`,
      );
      return;
    }
    // Hashes of equal length: the comparison takes the same time whatever the secret given.
    if (
      !crypto.timingSafeEqual(
        digest(given),
        digest(instance.notificationSecret),
      )
    ) {
      reject(
        401,
        'AuthenticationError',
        `Argo CD notification refused: wrong ${ARGOCD_SECRET_HEADER} for instance ${name}`,
      );
    }
  };
}

/**
 * Argo CD notifications, as the events service delivers them once the ingress checked them:
 * each wakes the waiting verify steps of the Application's environments, which then observe it
 * at once instead of at their next poll. A redelivery wakes them again (one more observation);
 * a step already finished is no longer waiting, so it changes nothing.
 *
 * @public
 */
export class ArgoCdNotifications {
  constructor(
    private readonly options: {
      events: EventsService;
      observer: ArgoCdRuntimeObserver;
    },
  ) {}

  /** Subscribes to {@link ARGOCD_NOTIFICATION_TOPIC} and acts through `promotion`. */
  async subscribe(promotion: PromotionSourceEvents): Promise<void> {
    await this.options.events.subscribe({
      id: 'promotion-argocd',
      topics: [ARGOCD_NOTIFICATION_TOPIC],
      onEvent: async params => {
        await this.onEvent(params, promotion);
      },
    });
  }

  /** Acts on one notification; resolves with the number of verify steps woken. */
  async onEvent(
    params: EventParams,
    promotion: PromotionSourceEvents,
  ): Promise<number> {
    const { logger } = promotion;
    const read = readArgoCdNotification(params.eventPayload);
    if ('problem' in read) {
      logger.warn(`Ignored an Argo CD notification: ${read.problem}`);
      return 0;
    }
    const app = read.notification;
    const source = `argocd ${app.instance}: ${app.name}`;
    try {
      const woken = await promotion.runtimeChanged({
        source,
        concerns: (subject, environment) =>
          this.options.observer.concerns(subject, environment, app),
      });
      logger.debug(
        `Argo CD notification for ${source} (${[app.sync, app.health, app.phase]
          .filter(Boolean)
          .join(', ')}): woke ${woken} waiting verify steps`,
      );
      return woken;
    } catch (error) {
      // The verify steps' polls still end the wait; a notification is only a shortcut.
      logger.warn(
        `Could not act on the Argo CD notification for ${source}: ${stringifyError(
          error,
        )}`,
      );
      return 0;
    }
  }
}
