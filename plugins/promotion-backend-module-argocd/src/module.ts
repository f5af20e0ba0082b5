import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { eventsExtensionPoint } from '@backstage/plugin-events-node/alpha';
import {
  RuntimeObserverProvider,
  promotionRuntimeObserverExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { ArgoCdRuntimeObserver } from './ArgoCdRuntimeObserver';
import { readArgoCdOptions } from './config';
import {
  ARGOCD_NOTIFICATION_TOPIC,
  ArgoCdNotifications,
  argoCdNotificationValidator,
} from './notifications';

/**
 * The Argo CD instances of `promotion.argocd.instances`; none configured, no observer.
 *
 * @public
 */
export const argoCdRuntimeObserverProvider: RuntimeObserverProvider = {
  name: 'argocd',
  create: ({ config }) => {
    const options = readArgoCdOptions(config);
    return options && new ArgoCdRuntimeObserver(options);
  },
};

/**
 * The promotion plugin's Argo CD runtime observer; and, for instances with
 * `notifications.secret`, its notifications (delivered on the events service by
 * {@link eventsModuleArgoCdNotifications}), which wake waiting verify steps at once.
 *
 * @public
 */
export const promotionModuleArgoCd = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'argocd',
  register(env) {
    env.registerInit({
      deps: {
        runtime: promotionRuntimeObserverExtensionPoint,
        sourceEvents: promotionSourceEventsExtensionPoint,
        events: eventsServiceRef,
        config: coreServices.rootConfig,
      },
      async init({ runtime, sourceEvents, events, config }) {
        runtime.addRuntimeObserverProvider(argoCdRuntimeObserverProvider);
        const options = readArgoCdOptions(config);
        if (!options?.instances.some(i => i.notificationSecret)) return;
        const notifications = new ArgoCdNotifications({
          events,
          observer: new ArgoCdRuntimeObserver(options),
        });
        sourceEvents.addSourceEventsHandler({
          name: 'argocd',
          start: promotion => notifications.subscribe(promotion),
        });
      },
    });
  },
});

/**
 * The events backend's HTTP ingress for Argo CD notifications, `POST /api/events/http/argocd`,
 * checking each against its instance's `notifications.secret` before it is published; added
 * only when an instance has one.
 *
 * @public
 */
export const eventsModuleArgoCdNotifications = createBackendModule({
  pluginId: 'events',
  moduleId: 'argocd-notifications',
  register(env) {
    env.registerInit({
      deps: {
        events: eventsExtensionPoint,
        config: coreServices.rootConfig,
      },
      async init({ events, config }) {
        const instances =
          readArgoCdOptions(config)?.instances.filter(
            i => i.notificationSecret,
          ) ?? [];
        if (instances.length === 0) return;
        events.addHttpPostIngress({
          topic: ARGOCD_NOTIFICATION_TOPIC,
          validator: argoCdNotificationValidator(instances),
        });
      },
    });
  },
});
