import {
  BackstagePlugin,
  RouteRef,
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
export const rootRouteRef: RouteRef = createRouteRef({ id: 'promotion' });

/** @public */
export const releaseBoardRouteRef: RouteRef = createRouteRef({
  id: 'promotion:release-board',
});

// Exported values carry explicit types so the declaration files name only core-plugin-api, not
// whatever copy of frontend-plugin-api the inferred types would point into (TS2742).
/**
 * The promotion plugin for apps on Backstage's legacy frontend system.
 *
 * @public
 */
export const promotionPlugin: BackstagePlugin<{
  root: RouteRef;
  releaseBoard: RouteRef;
}> = createPlugin({
  id: 'promotion',
  apis: [
    createApiFactory({
      api: promotionApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new PromotionClient({ discoveryApi, fetchApi }),
    }),
  ],
  routes: { root: rootRouteRef, releaseBoard: releaseBoardRouteRef },
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

/**
 * The release board page: services × environments across the catalog (legacy frontend system;
 * mount it on a route such as `/release-board`).
 *
 * @public
 */
export const ReleaseBoardPage = promotionPlugin.provide(
  createRoutableExtension({
    name: 'ReleaseBoardPage',
    component: () =>
      import('./components/ReleaseBoard').then(m => m.ReleaseBoardPage),
    mountPoint: releaseBoardRouteRef,
  }),
);

/**
 * The Release board tab of a System entity: its services × environments (legacy frontend system).
 *
 * @public
 */
export const EntityReleaseBoardContent = promotionPlugin.provide(
  createRoutableExtension({
    name: 'EntityReleaseBoardContent',
    component: () =>
      import('./components/ReleaseBoard').then(
        m => m.SystemReleaseBoardContent,
      ),
    mountPoint: rootRouteRef,
  }),
);

/**
 * The DORA card (deployment frequency, lead time, change failure rate, time to restore, with
 * weekly trends) of a component, a System or a Group's services (legacy frontend system).
 *
 * @public
 */
export const EntityDoraCard = promotionPlugin.provide(
  createComponentExtension({
    name: 'EntityDoraCard',
    component: {
      lazy: () => import('./components/DoraCard').then(m => m.EntityDoraCard),
    },
  }),
);
