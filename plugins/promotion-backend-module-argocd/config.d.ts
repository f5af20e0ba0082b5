export interface Config {
  promotion?: {
    /**
     * Argo CD instances whose Applications tell what runs in each environment. Entities are
     * found through the annotations of the Backstage Argo CD plugins: `argocd/app-name` (with
     * `appNamePattern` per environment), `argocd/app-selector` (a label selector) and
     * `argocd/instance-name` (which instance; without it every instance is asked).
     */
    argocd?: {
      /**
       * The Application of an environment, from the `argocd/app-name` annotation (or, with
       * `argocd/app-selector`, the entity's name) as `{name}` and the environment as
       * `{environment}`. Default `{name}-{environment}`.
       */
      appNamePattern?: string;
      /**
       * With `argocd/app-selector`, the Application label naming its environment, tried before
       * the name pattern. Default `mainline.dev/environment`.
       */
      environmentLabel?: string;
      instances: Array<{
        /** What `argocd/instance-name` names. */
        name: string;
        /**
         * The API server's base URL. https, unless its host is in
         * `promotion.artifacts.insecureHosts`.
         */
        url: string;
        /**
         * A bearer token (an Argo CD account's API token) with read access to the Applications.
         * @visibility secret
         */
        token: string;
        /** The namespace the Applications live in, when not the instance's default. */
        appNamespace?: string;
        /**
         * Notifications from this instance's notifications controller (webhooks to
         * `POST /api/events/http/argocd`), which wake waiting verify steps at once.
         */
        notifications?: {
          /**
           * The shared secret the webhook sends in the `x-mainline-argocd-secret` header (at
           * least 16 characters); a notification without it is refused with 401.
           * @visibility secret
           */
          secret: string;
        };
      }>;
    };
  };
}
