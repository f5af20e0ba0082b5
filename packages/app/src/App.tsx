import { createApp } from '@backstage/frontend-defaults';
import { navModule } from './modules/nav';

/**
 * Plugins are discovered from this package's dependencies (`app.packages: all` in app-config),
 * among them @mainline/plugin-promotion; modules here only shape the app itself.
 */
export default createApp({
  features: [navModule],
});
