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
      /** Checks every promotion to this environment must pass before anything changes. */
      policy?: {
        /**
         * The commit must have been deployed to this earlier environment first (the default
         * prod policy is `demo`).
         */
        requireBeenIn?: string;
      };
    }>;
    tags?: {
      /**
       * Create release tags as annotated tags (tagger, date and message; the default) or as
       * lightweight tags.
       */
      annotated?: boolean;
    };
    /** The source of truth branch of every service repository. Default `main`. */
    mainBranch?: string;
    /** The branch of the GitOps manifest repository Argo CD watches. Default `main`. */
    manifestBranch?: string;
    lineage?: {
      /** Commits returned when a request gives no `limit`. Default 50 (at most 500). */
      defaultLimit?: number;
      /**
       * How long an assembled lineage is served from `coreServices.cache` before it is read from
       * upstream again; writes through Mainline invalidate it at once. Default 60.
       */
      cacheTtlSeconds?: number;
    };
    /**
     * The embedded default: local bare git repositories, a filesystem artifact registry and
     * recorded Serverless deploys, for entities whose artifact location is `local/<name>` or
     * `local://<prefix>`.
     */
    local?: {
      /**
       * Directory holding `git/<owner>/<name>.git`, `artifacts/` and `deployments/`; relative
       * paths are resolved against the backend's working directory.
       */
      dataDir: string;
      /**
       * Generate the demo repositories, artifacts and deployments on first start (kept across
       * restarts; delete `<dataDir>/demo.json` to generate them again).
       */
      demoData?: boolean;
    };
  };
}
