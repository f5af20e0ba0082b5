import {
  createApiFactory,
  createComponentExtension,
  createPlugin,
  createRoutableExtension,
  createRouteRef,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { PromotionClient, promotionApiRef } from './api';

/** @public */
export const rootRouteRef = createRouteRef({ id: 'promotion' });

/**
 * The promotion plugin for apps on Backstage's legacy frontend system.
 *
 * @public
 */
export const promotionPlugin = createPlugin({
  id: 'promotion',
  apis: [
    createApiFactory({
      api: promotionApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new PromotionClient({ discoveryApi, fetchApi }),
    }),
  ],
  routes: { root: rootRouteRef },
});

/**
 * The Environments tab of an entity page (legacy frontend system).
 *
 * @public
 */
export const EntityEnvironmentsContent = promotionPlugin.provide(
  createRoutableExtension({
    name: 'EntityEnvironmentsContent',
    component: () =>
      import('./components/EnvironmentsContent').then(
        m => m.EnvironmentsContent,
      ),
    mountPoint: rootRouteRef,
  }),
);

/**
 * The Environments card of an entity overview page (legacy frontend system).
 *
 * @public
 */
export const EntityEnvironmentsCard = promotionPlugin.provide(
  createComponentExtension({
    name: 'EntityEnvironmentsCard',
    component: {
      lazy: () =>
        import('./components/EnvironmentsCard').then(m => m.EnvironmentsCard),
    },
  }),
);
