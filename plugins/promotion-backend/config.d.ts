export interface Config {
  /** Settings of the Mainline promotion backend. */
  promotion?: {
    /**
     * The deployment environments, in promotion order. When absent: stage (from main), demo (from
     * `rc-*` tags) and prod (from `v*` tags, production).
     */
    environments?: Array<{
      /** Lower-case name, used in API paths and manifest file names, e.g. `stage`. */
      name: string;
      /** Set for the environment that follows a branch, e.g. `main`. */
      branch?: string;
      /** Set for an environment reached by tagging, e.g. `rc-*` or `v*`. */
      tagPattern?: string;
      /** Production environments need the separate production promotion permission. */
      production?: boolean;
    }>;
  };
}
