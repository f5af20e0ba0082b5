import {
  ApiBlueprint,
  PageBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { convertLegacyRouteRef } from '@backstage/core-compat-api';
import BoardIcon from '@material-ui/icons/ViewModule';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import { isPromotionAvailable } from '@mainline/plugin-promotion-common';
import { PromotionClient, promotionApiRef } from '../api';
import { releaseBoardRouteRef as legacyReleaseBoardRouteRef } from '../plugin';

const promotionApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: promotionApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new PromotionClient({ discoveryApi, fetchApi }),
    }),
});

/**
 * The Environments tab, shown on components that carry the promotion annotations. Its filter can
 * be replaced in app-config under `app.extensions`.
 *
 * @alpha
 */
export const environmentsEntityContent = EntityContentBlueprint.make({
  name: 'environments',
  params: {
    path: 'environments',
    title: 'Environments',
    group: 'deployment',
    filter: entity =>
      entity.kind.toLocaleLowerCase('en-US') === 'component' &&
      isPromotionAvailable(entity),
    loader: () =>
      import('../components/EnvironmentsContent').then(m => (
        <m.EnvironmentsContent />
      )),
  },
});

/**
 * The Environments card for the entity overview page.
 *
 * @alpha
 */
export const environmentsEntityCard = EntityCardBlueprint.make({
  name: 'environments',
  params: {
    filter: entity =>
      entity.kind.toLocaleLowerCase('en-US') === 'component' &&
      isPromotionAvailable(entity),
    loader: () =>
      import('../components/EnvironmentsCard').then(m => (
        <m.EnvironmentsCard />
      )),
  },
});

/**
 * The DORA card of components that carry the promotion annotations, and of System entities
 * (their services added up).
 *
 * @alpha
 */
export const doraEntityCard = EntityCardBlueprint.make({
  name: 'dora',
  params: {
    filter: entity => {
      const kind = entity.kind.toLocaleLowerCase('en-US');
      return (
        kind === 'system' ||
        (kind === 'component' && isPromotionAvailable(entity))
      );
    },
    loader: () =>
      import('../components/DoraCard').then(m => <m.EntityDoraCard />),
  },
});

// The legacy plugin's ref, so links to the release board resolve in either frontend system.
const releaseBoardRouteRef = convertLegacyRouteRef(legacyReleaseBoardRouteRef);

/**
 * The release board page at `/release-board`, with its item in the app's navigation.
 *
 * @alpha
 */
export const releaseBoardPage = PageBlueprint.make({
  name: 'release-board',
  params: {
    path: '/release-board',
    title: 'Release board',
    icon: <BoardIcon />,
    routeRef: releaseBoardRouteRef,
    loader: () =>
      import('../components/ReleaseBoard').then(m => (
        <>
          <m.RateBudgetCard />
          <m.ReleaseBoard />
        </>
      )),
  },
});

/**
 * The Release board tab of System entities: the system's services × environments.
 *
 * @alpha
 */
export const releaseBoardEntityContent = EntityContentBlueprint.make({
  name: 'release-board',
  params: {
    path: 'release-board',
    title: 'Release board',
    group: 'deployment',
    filter: entity => entity.kind.toLocaleLowerCase('en-US') === 'system',
    loader: () =>
      import('../components/ReleaseBoard').then(m => (
        <m.SystemReleaseBoardContent />
      )),
  },
});

/**
 * The promotion plugin for apps on Backstage's new frontend system.
 *
 * @alpha
 */
export default createFrontendPlugin({
  pluginId: 'promotion',
  info: { packageJson: () => import('../../package.json') },
  routes: { releaseBoard: releaseBoardRouteRef },
  extensions: [
    promotionApi,
    environmentsEntityContent,
    environmentsEntityCard,
    doraEntityCard,
    releaseBoardPage,
    releaseBoardEntityContent,
  ],
});
