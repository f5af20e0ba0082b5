// An app on the legacy frontend system: the parts of packages/app/src/App.tsx,
// components/catalog/EntityPage.tsx and components/Root/Root.tsx that Mainline adds to. The plugin
// registers its API itself (promotionPlugin's `apis`), so createApp needs no change.
import { FlatRoutes } from '@backstage/core-app-api';
import { SidebarItem } from '@backstage/core-components';
import { EntityLayout, EntitySwitch } from '@backstage/plugin-catalog';
import {
  EntityEnvironmentsCard,
  EntityEnvironmentsContent,
  EntityReleaseBoardContent,
  ReleaseBoardPage,
  isPromotionAvailable,
} from '@mainline/plugin-promotion';
import Grid from '@material-ui/core/Grid';
import BoardIcon from '@material-ui/icons/ViewModule';
import { Route } from 'react-router-dom';

// App.tsx: the release board page, beside the app's other routes.
export const routes = (
  <FlatRoutes>
    {/* ...the app's routes... */}
    <Route path="/release-board" element={<ReleaseBoardPage />} />
  </FlatRoutes>
);

// EntityPage.tsx: the Environments tab (and overview card) on service pages, shown only for
// components that carry the promotion annotations.
export const serviceEntityPage = (
  <EntityLayout>
    <EntityLayout.Route path="/" title="Overview">
      <Grid container spacing={3}>
        {/* ...the overview's other cards... */}
        <EntitySwitch>
          <EntitySwitch.Case if={isPromotionAvailable}>
            <Grid item md={6}>
              <EntityEnvironmentsCard />
            </Grid>
          </EntitySwitch.Case>
        </EntitySwitch>
      </Grid>
    </EntityLayout.Route>
    <EntityLayout.Route
      path="/environments"
      title="Environments"
      if={isPromotionAvailable}
    >
      <EntityEnvironmentsContent />
    </EntityLayout.Route>
  </EntityLayout>
);

// EntityPage.tsx: the release board of a system, as a tab of the system page.
export const systemPage = (
  <EntityLayout>
    {/* ...the system page's other tabs... */}
    <EntityLayout.Route path="/release-board" title="Release board">
      <EntityReleaseBoardContent />
    </EntityLayout.Route>
  </EntityLayout>
);

// Root.tsx: the board's item in the sidebar, inside the app's <Sidebar>.
export const sidebarItem = (
  <SidebarItem icon={BoardIcon} to="release-board" text="Release board" />
);
