// packages/app/src/App.tsx of an app on the new frontend system. With `app.packages: all` in
// app-config (the create-app default) adding @mainline/plugin-promotion to packages/app's
// dependencies is all it takes; list the plugin as a feature only when features are listed by hand.
import { createApp } from '@backstage/frontend-defaults';
import catalogPlugin from '@backstage/plugin-catalog/alpha';
import promotionPlugin from '@mainline/plugin-promotion/alpha';

export default createApp({
  features: [catalogPlugin, promotionPlugin],
});
