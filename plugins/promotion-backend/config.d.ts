import { HumanDuration } from '@backstage/types';

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
        /**
         * Approvals a promotion to this environment needs from members of the entity's owner
         * group (nested groups count; never the requester, the commit's author or its pull
         * request's author) before it proceeds. A component or its System overrides the count
         * with the annotation `mainline.dev/approvals-<environment>`.
         */
        approvals?: {
          /** How many distinct approvers (0 or absent: none needed). */
          count: number;
        };
        /**
         * For entities whose runtime an observer serves (Argo CD, Lambda, the local runtime): the
         * artifact must have run synced and healthy, with its digest, in this earlier
         * environment for at least `for` (e.g. `30m`, `PT1H`). Refused in the checks, before
         * anything changes. Without configured environments, demo asks stage for 30m and prod
         * asks demo for 1h; an entity no observer serves is not asked.
         */
        requireRunningIn?: {
          environment: string;
          for: string | HumanDuration;
        };
        /**
         * The deploy-time soak: the commit was deployed to `after` (an earlier environment) at
         * least `for` ago, e.g. `{ after: demo, for: 24h }`. Measured from its successful deploy
         * there. A System or component overrides it with `mainline.dev/soak.<environment>:
         * <after>/<duration>` (or `none`).
         */
        soak?: {
          after: string;
          /** `24h`, `90m`, `2d`, `1w`, or ISO 8601 (`PT36H`). */
          for: string;
        };
        /**
         * GitHub check runs or commit statuses (by name or context) that must be green on the
         * commit, e.g. `[build, stage-validation]`. A System or component overrides them with
         * `mainline.dev/required-checks.<environment>: a,b` (or `none`).
         */
        requiredChecks?: string[];
      };
      /**
       * The last step of a promotion of an entity whose runtime is observed: wait until the
       * environment runs the artifact (synced to the manifest commit, healthy, the digest).
       */
      verify?: {
        /** How long to wait before the promotion fails with `timeout` (default 10m). */
        timeout?: string | HumanDuration;
        /**
         * When verification fails, roll the environment back at once to the last version
         * verified running there (a rollback recorded in the ledger, linked to the failed
         * promotion, performed with the same steps). A rollback whose own verification fails
         * is not rolled back again. Default false.
         */
        rollback?: boolean;
      };
    }>;
    /** How verify steps poll the runtime: from `minPoll` (default 2s), doubling to `maxPoll` (30s). */
    verify?: {
      minPoll?: string | HumanDuration;
      maxPoll?: string | HumanDuration;
    };
    /**
     * Freeze windows, defined once: promotions to the environments, Systems and Domains a window
     * names are refused while it is open, unless an emergency override (a reason and the
     * `promotion.freeze.override` permission; audited and told to the owners) goes with the
     * request. Rollbacks are never frozen.
     */
    freezes?: Array<{
      /** Shown in the refusal, e.g. `Year-end freeze`. */
      name: string;
      description?: string;
      /** A one-off window's start, ISO 8601 with an offset, e.g. `2026-12-20T00:00:00+01:00`. */
      start?: string;
      /** A one-off window's end (exclusive). */
      end?: string;
      /**
       * A recurring window opens at every time of this cron expression (five fields, or six with
       * seconds) in `timeZone`, e.g. `0 16 * * 5` (Fridays 16:00).
       */
      cron?: string;
      /** How long a recurring window stays open: `9h`, `63h`, `2d` or ISO 8601 (`P2DT15H`). */
      duration?: string;
      /** The IANA time zone of `cron`, e.g. `Europe/Berlin`. Default `UTC`. */
      timeZone?: string;
      /** The environments it freezes; all when absent. */
      environments?: string[];
      /** Systems it freezes (`system:default/storefront` or `storefront`). */
      systems?: string[];
      /**
       * Domains whose Systems it freezes (`domain:default/commerce`). With neither systems nor
       * domains, the window freezes everything.
       */
      domains?: string[];
    }>;
    tags?: {
      /**
       * Create release tags as annotated tags (tagger, date and message; the default) or as
       * lightweight tags.
       */
      annotated?: boolean;
      /**
       * Promote release tags people push in GitHub (the default): a tag matching an
       * environment's pattern, from the `create`/`push` webhook or the reconcile pass, becomes a
       * promotion with the same checks, lock, audit and notifications; a refusal is reported as
       * a `mainline/<environment>` commit status. False leaves pushed tags alone.
       */
      fromPushes?: boolean;
      /**
       * How often the reconcile pass lists the tags of every repository a promotable entity uses,
       * for pushes whose webhook never arrived (default 300). Each pass is one tag listing per
       * repository (git's ref advertisement, outside the API rate limit).
       */
      reconcileIntervalSeconds?: number;
    };
    /**
     * What an entity may write. Permissions decide who may act on an entity; the write scope
     * decides which repository, manifest file, artifact location and Serverless service a write
     * through that entity may change, since an entity's annotations are written by whoever
     * registered it. A resource is the entity's when a grant below gives it to the entity, when
     * the entity was defined in a `file:` location, or when the entity was defined in the very
     * repository it names (on the main branch) and no entity of another owner claims the same
     * manifest file, artifact location or Serverless service.
     */
    writeScope?: {
      /**
       * Administrator grants. A grant applies to an entity matching every selector it gives
       * (`owners`, `systems`, `namespaces`; at least one) and gives it the resources it lists.
       * Patterns: `*` within a path segment, `**` across segments, `?` one character.
       */
      grants?: Array<{
        /** Entity refs of owners, e.g. `group:default/payments` (kind defaults to group). */
        owners?: string[];
        /**
         * Systems, e.g. `system:default/storefront`; an entity counts as part of one only when
         * the system's owner owns the entity too.
         */
        systems?: string[];
        /**
         * Catalog namespaces. Anyone who can register an entity chooses its namespace: use this
         * only where the namespace's entities come from a source only administrators control.
         */
        namespaces?: string[];
        /** Source repositories (`owner/name` patterns, case-insensitive), e.g. `payments/*`. */
        repositories?: string[];
        /** Manifest files: a repository pattern and the file patterns inside it. */
        manifests?: Array<{
          /** E.g. `org/deployments`. */
          repository: string;
          /** E.g. `apps/checkout/**`. */
          paths: string[];
        }>;
        /**
         * Artifact locations, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/*`,
         * `s3://builds/payments/*`, `local/*`.
         */
        artifactLocations?: string[];
        /** Serverless service names (the embedded default's recorded deploys). */
        serverlessServices?: string[];
      }>;
      /**
       * Treat entities defined in `file:` locations as granted everything they name. A stock
       * catalog registers only `url` locations through its API, so `file:` ones come from
       * `catalog.locations` and the files they include. Default true; set false when the catalog
       * allows other location types to be registered.
       */
      trustFileLocations?: boolean;
      /**
       * Refuse resources no grant gives unless the entity was defined in the repository it
       * names. Default true.
       */
      requireProvenance?: boolean;
      /** How long the catalog's claims are reused before they are read again. Default 10. */
      claimsCacheSeconds?: number;
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
    /** The DORA metrics computed from the promotion ledger (`GET /v1/dora`). */
    dora?: {
      /**
       * How long after a prod release a yank of its commit, a rollback from it or a hotfix
       * released after it counts as that release's failure, in hours. Default 168 (a week).
       */
      failureWindowHours?: number;
      /**
       * How many of main's newest commits are read per component for lead times (the lineage's
       * limit; commits older than these have no lead time). Default 500.
       */
      commitLimit?: number;
    };
    /**
     * Where service and manifest repositories are read and written. `local` (the default when
     * `promotion.local.dataDir` is set) serves `<dataDir>/git/<owner>/<name>.git`; `github` reads
     * the `github.com/project-slug` repository through the matching `integrations.github` entry
     * (GitHub App or token; GitHub Enterprise through its `apiBaseUrl`). Each is provided by its
     * backend module (`-module-local`, `-module-github`); another module can add another name, and
     * a name no installed module provides stops the start, listing the installed ones.
     */
    source?: {
      provider?: string;
    };
    /** GitHub mode: how deploys reach GitHub. */
    github?: {
      /**
       * The host of the `integrations.github` entry to use for repositories named by
       * `github.com/project-slug`. Default `github.com`.
       */
      host?: string;
      /**
       * GitHub requests (REST) and GraphQL points kept back for people's own promotions, per
       * integration and resource: while GitHub's remaining budget (as its `x-ratelimit-*`
       * headers last said) is under this, background work (the follower's polling, the pushed
       * tags' reconciliation) skips its rounds until the window resets. Default 1000.
       */
      rateReserve?: number;
      /**
       * Environments whose manifest change is proposed as a pull request on the manifest
       * repository instead of committed directly (e.g. `[prod]` where changes need review). The
       * promotion stays running until the pull request is merged (or fails when it is closed).
       */
      manifestPullRequests?: string[];
      /**
       * The Lambda deploy workflow in each Serverless service's repository, started by
       * `workflow_dispatch` with the inputs `stage`, `sha`, `version`, `request` and `actor`: on the
       * release tag for a deploy of one (what a tag-deployed environment's branch policy allows),
       * else on the environment's branch. Default `mainline-deploy.yaml`.
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
     * (`s3://<bucket>/<prefix>`), and OCI registries (`<host>/<repository>`). AWS credentials
     * come from the `aws` section (`@backstage/integration-aws-node`: accounts, role assumption).
     *
     * An annotation cannot introduce a host: a location naming a registry, ECR account or bucket
     * configured nowhere here (or in `aws.accounts`) is refused before any request.
     */
    artifacts?: {
      /**
       * Registry hosts artifact locations may name without credentials of their own, reached
       * over https: OCI registries read anonymously (`ghcr.io`), ECR registry hosts
       * (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`) of accounts not in `aws.accounts`, and
       * storage hosts a registry redirects blob reads to.
       */
      allowedHosts?: string[];
      /**
       * Hosts reached over plain http (and thereby allowed), e.g. a loopback test registry or
       * its login realm. Every other host is https only, login realms included.
       */
      insecureHosts?: string[];
      ecr?: {
        /** An ECR API endpoint other than the region's (VPC endpoints, tests). */
        endpoint?: string;
        /**
         * The regions in which the `aws.accounts` accounts' ECR registries may be used. Default:
         * any region (the API host is always the region's AWS endpoint, or `endpoint`).
         */
        regions?: string[];
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
        /** The buckets `s3://` artifact locations may name; any other bucket is refused. */
        buckets?: string[];
      };
      oci?: {
        /**
         * The OCI registries artifact locations may name, with their credentials (optional) and
         * transport. Hosts listed neither here nor in `allowedHosts` are refused.
         */
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
          /** Plain http to this host (a loopback test registry); https otherwise. */
          insecure?: boolean;
          /**
           * Hosts besides `host` whose login realm may be used and may receive these
           * credentials, e.g. `auth.docker.io` for `registry-1.docker.io`. A login challenge
           * naming any other realm host is refused; realms are https unless listed in
           * `insecureHosts`.
           */
          authHosts?: string[];
        }>;
      };
    };
    /** The per-environment locks that let one promotion at a time run. */
    locks?: {
      /**
       * Seconds a promotion's lease on its environment lasts unless renewed. The instance running
       * the steps renews it every third of this, and the follower while a step waits for a pull
       * request or a workflow run (for at least three follower intervals, so that it stays live
       * between two checks); once it runs out, the worker is taken to be gone and the
       * reconciler recovers the promotion. Default 30.
       */
      leaseSeconds?: number;
    };
    /** The reconciler that recovers promotions whose worker stopped (killed, cut off). */
    recovery?: {
      /**
       * How often running promotions with a run-out lease are looked for, on every replica, the
       * first time one second after start. Default 15.
       */
      intervalSeconds?: number;
    };
    /** Promotions whose deploy completes outside the request (pull requests, workflow runs). */
    followUp?: {
      /**
       * How often every waiting promotion is checked; webhooks (`github.workflow_run`,
       * `github.pull_request`) check sooner. Default 30.
       */
      intervalSeconds?: number;
    };
    /** The release board (`GET /v1/board`). */
    board?: {
      /**
       * Lineages one board read reads from upstream at most when a service's is neither cached nor
       * snapshotted under its current generation (no snapshot first, then the oldest); the rest
       * are served from their persisted snapshot, marked with its age, or shown as being read,
       * while the background warmer reads them within the rate budget. Default 100.
       */
      coldReadsPerRequest?: number;
      /**
       * How long one board read waits for those upstream reads. A row still being read then is
       * served from its snapshot (or shown as being read); its read goes on and the next page
       * load has it. Default 2.
       */
      coldReadWaitSeconds?: number;
    };
    /** Reading what runs (`GET …/runtime`, and `POST /v1/runtime/query` for the release board). */
    runtime?: {
      /**
       * How long, in seconds, a batch read (the board) reuses an entity's observation; a write
       * through Mainline or a webhook that invalidates the entity's lineage invalidates it too,
       * and the single read of one entity (the Environments tab) always observes afresh.
       * Default 10; 0 observes on every read.
       */
      cacheTtlSeconds?: number;
      /** Observations one backend makes at once for batch reads, whoever asks. Default 16. */
      concurrency?: number;
    };
    /**
     * The background lineage warmer: keeps every service's lineage snapshot fresh within GitHub's
     * rate budget, slowing down as the remaining budget falls towards `github.rateReserve` and
     * stopping there.
     */
    warmer?: {
      /** Default true. */
      enabled?: boolean;
      /** Seconds between rounds (one replica at a time). Default 10. */
      intervalSeconds?: number;
      /** Lineages read per round at full pace. Default 20. */
      perRound?: number;
      /** Lineages read at once within a round. Default 4. */
      concurrency?: number;
      /** Minutes after which an unchanged service's snapshot is read again. Default 60. */
      refreshAfterMinutes?: number;
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
       * restarts; delete `<dataDir>/demo.json` to generate them again). Needs the demo module
       * (`@mainline/plugin-promotion-backend-module-demo`); generation runs in the background and
       * lineage answers 503 until it is done.
       */
      demoData?: boolean;
      /**
       * The embedded runtime, for entities annotated `mainline.dev/local-runtime`: it applies the
       * local manifest repository this long after each commit (default 3s) and reports what
       * runs, so their promotions end with a verify step.
       */
      runtime?: {
        applyDelay?: string | HumanDuration;
      };
      /**
       * With `demoData`: record the demo's twelve weeks of promotions (and one prod rollback) in
       * the promotion ledger, so that the DORA card and the promotions lists have a history.
       * Default false (a test backend starts from an empty ledger); the repository's app-config
       * sets it.
       */
      demoHistory?: boolean;
    };
  };
}
