import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import {
  authProvidersExtensionPoint,
  createProxyAuthenticator,
  createProxyAuthProviderFactory,
} from '@backstage/plugin-auth-node';

/**
 * Sign-in identities for the browser harness only: each `auth.providers.e2e-<name>` with a
 * `userEntityRef` becomes a provider `e2e-<name>` that signs whoever asks in as that catalog
 * user, with no credentials at all. The guest provider is a single identity; an approval test
 * needs a requester and an approver in two browser contexts (docs/governance.md). Nothing is
 * registered without such a key, and a production start with one stops.
 */
export const PROVIDER_PREFIX = 'e2e-';

/** The harness identities configured under `auth.providers`: provider id → user entity ref. */
export function e2eIdentities(
  providers: { keys(): string[]; getString(key: string): string } | undefined,
): Map<string, string> {
  const identities = new Map<string, string>();
  for (const id of providers?.keys() ?? []) {
    if (!id.startsWith(PROVIDER_PREFIX)) continue;
    identities.set(id, providers!.getString(`${id}.userEntityRef`));
  }
  return identities;
}

const authenticator = createProxyAuthenticator({
  defaultProfileTransform: async () => ({ profile: {} }),
  initialize: () => undefined,
  async authenticate() {
    return { result: {} };
  },
});

export default createBackendModule({
  pluginId: 'auth',
  moduleId: 'e2e-sign-in',
  register(reg) {
    reg.registerInit({
      deps: {
        providers: authProvidersExtensionPoint,
        config: coreServices.rootConfig,
      },
      async init({ providers, config }) {
        const identities = e2eIdentities(
          config.getOptionalConfig('auth.providers'),
        );
        if (identities.size === 0) return;
        if (process.env.NODE_ENV === 'production') {
          throw new Error(
            `auth.providers.${[...identities.keys()].join(
              ', ',
            )} sign anyone in without credentials and are for the browser tests only; remove them from a production configuration`,
          );
        }
        for (const [providerId, entityRef] of identities) {
          providers.registerProvider({
            providerId,
            factory: createProxyAuthProviderFactory({
              authenticator,
              signInResolver: async (_, ctx) =>
                ctx.signInWithCatalogUser({ entityRef }),
            }),
          });
        }
      },
    });
  },
});
