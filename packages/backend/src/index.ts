import { createBackend } from '@backstage/backend-defaults';
import { eventsModuleArgoCdNotifications } from '@mainline/plugin-promotion-backend-module-argocd';

const backend = createBackend();

backend.add(import('@backstage/plugin-app-backend'));
backend.add(import('@backstage/plugin-proxy-backend'));
backend.add(import('@backstage/plugin-events-backend'));
// Checks GitHub webhook signatures (events.modules.github.webhookSecret) and routes them by type.
backend.add(import('@backstage/plugin-events-backend-module-github'));

backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
// The browser tests' sign-in identities (auth.providers.e2e-*, e2e-tests/app-config.e2e.yaml):
// registers nothing without them, and refuses them in a production start.
backend.add(import('./e2eSignIn'));

backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(
  import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'),
);
backend.add(import('@backstage/plugin-catalog-backend-module-logs'));

backend.add(import('@backstage/plugin-permission-backend'));
backend.add(
  import('@backstage/plugin-permission-backend-module-allow-all-policy'),
);

backend.add(import('@backstage/plugin-scaffolder-backend'));
backend.add(import('@backstage/plugin-scaffolder-backend-module-github'));
backend.add(
  import('@backstage/plugin-scaffolder-backend-module-notifications'),
);
backend.add(import('@mainline/plugin-scaffolder-backend-module-promotion'));

// Lunr in memory on SQLite; the pg module takes over when the database is PostgreSQL.
backend.add(import('@backstage/plugin-search-backend'));
backend.add(import('@backstage/plugin-search-backend-module-pg'));
backend.add(import('@backstage/plugin-search-backend-module-catalog'));

backend.add(import('@backstage/plugin-notifications-backend'));
backend.add(import('@backstage/plugin-signals-backend'));
backend.add(import('@backstage/plugin-user-settings-backend'));
backend.add(import('@backstage/plugin-mcp-actions-backend'));

backend.add(import('@mainline/plugin-promotion-backend'));
// The promotion plugin's adapters: the embedded default, GitHub, GitOps manifests, ECR and S3, OCI.
backend.add(import('@mainline/plugin-promotion-backend-module-local'));
backend.add(import('@mainline/plugin-promotion-backend-module-github'));
backend.add(import('@mainline/plugin-promotion-backend-module-gitops'));
backend.add(import('@mainline/plugin-promotion-backend-module-aws'));
backend.add(import('@mainline/plugin-promotion-backend-module-oci'));
// What runs: Argo CD Applications (inert until promotion.argocd.instances is configured).
backend.add(import('@mainline/plugin-promotion-backend-module-argocd'));
// Argo CD notifications at POST /api/events/http/argocd (only for instances with notifications.secret).
backend.add(eventsModuleArgoCdNotifications);
// Demo data for the embedded default (promotion.local.demoData): never part of a production start.
if (process.env.NODE_ENV !== 'production') {
  backend.add(import('@mainline/plugin-promotion-backend-module-demo'));
}

backend.start();
