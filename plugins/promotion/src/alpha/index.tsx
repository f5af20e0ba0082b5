import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import { isPromotionAvailable } from '@mainline/plugin-promotion-common';
import { PromotionClient, promotionApiRef } from '../api';

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
 * The promotion plugin for apps on Backstage's new frontend system.
 *
 * @alpha
 */
export default createFrontendPlugin({
  pluginId: 'promotion',
  info: { packageJson: () => import('../../package.json') },
  extensions: [promotionApi, environmentsEntityContent, environmentsEntityCard],
});
