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
    /**
     * How long the catalog's answer about an entity serves the same caller's further reads of
     * it (lineage, target, compare, promotion and yank lists), in seconds. Each read still
     * verifies the caller's token; a refused or failed lookup is never reused, and writes always
     * look the entity up afresh. Default 5; 0 asks the catalog on every read.
     */
    catalogReadCacheSeconds?: number;
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
     * Where service and manifest repositories are read and written. `local` (the default when
     * `promotion.local.dataDir` is set) serves `<dataDir>/git/<owner>/<name>.git`; `github` reads
     * the `github.com/project-slug` repository through the matching `integrations.github` entry
     * (GitHub App or token; GitHub Enterprise through its `apiBaseUrl`).
     */
    source?: {
      provider?: 'local' | 'github';
    };
    /** GitHub mode: how deploys reach GitHub. */
    github?: {
      /**
       * The host of the `integrations.github` entry to use for repositories named by
       * `github.com/project-slug`. Default `github.com`.
       */
      host?: string;
      /**
       * Environments whose manifest change is proposed as a pull request on the manifest
       * repository instead of committed directly (e.g. `[prod]` where changes need review). The
       * promotion stays running until the pull request is merged (or fails when it is closed).
       */
      manifestPullRequests?: string[];
      /**
       * The Lambda deploy workflow in each Serverless service's repository, started by
       * `workflow_dispatch` with the inputs `stage`, `sha`, `version`, `request` and `actor`. Default
       * `mainline-deploy.yaml`.
       */
      deployWorkflow?: string;
      /** Minutes a dispatched deploy run may take to appear before the deploy fails. Default 10. */
      deployStartTimeoutMinutes?: number;
      /**
       * How Serverless services deploy in GitHub mode: `workflow` (the default) dispatches
       * `deployWorkflow` and follows its run; `recorded` keeps the embedded default's records
       * under `promotion.local.dataDir` (for trying GitHub mode with the demo data).
       */
      lambdaDeploys?: 'workflow' | 'recorded';
    };
    /**
     * Artifact registries, chosen by each entity's `mainline.dev/artifact-location`: ECR image
     * repositories (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), S3 package prefixes
     * (`s3://<bucket>/<prefix>`), and any OCI registry (`<host>/<repository>`). AWS credentials
     * come from the `aws` section (`@backstage/integration-aws-node`: accounts, role assumption).
     */
    artifacts?: {
      ecr?: {
        /** An ECR API endpoint other than the region's (VPC endpoints, tests). */
        endpoint?: string;
      };
      s3?: {
        /** The buckets' region. Default us-east-1. */
        region?: string;
        /** The AWS account whose credentials read the buckets (default: the main account). */
        accountId?: string;
        /** An S3-compatible store (MinIO, Ceph) instead of AWS. */
        endpoint?: string;
        /** Path-style addressing (`<endpoint>/<bucket>/<key>`), which most compatible stores need. */
        forcePathStyle?: boolean;
      };
      oci?: {
        /** Credentials per registry host; hosts not listed are read anonymously. */
        registries?: Array<{
          /** E.g. `ghcr.io`, `harbor.example.com`, `registry-1.docker.io`. */
          host: string;
          username?: string;
          /**
           * Password or access token for `username`: sent as basic auth, or exchanged for a
           * bearer token when the registry asks for one.
           * @visibility secret
           */
          password?: string;
          /**
           * A bearer token used as is.
           * @visibility secret
           */
          token?: string;
          /** Plain HTTP (loopback hosts always are). */
          insecure?: boolean;
        }>;
      };
    };
    /** Promotions whose deploy completes outside the request (pull requests, workflow runs). */
    followUp?: {
      /**
       * How often every waiting promotion is checked; webhooks (`github.workflow_run`,
       * `github.pull_request`) check sooner. Default 30.
       */
      intervalSeconds?: number;
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
