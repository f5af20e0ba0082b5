export interface Config {
  promotion?: {
    runtime?: {
      /**
       * The Lambda runtime observer: what each environment of a Serverless service runs
       * (`<service>-<environment>-*` functions, as Serverless v3 names them). Unset, no Lambda
       * is observed. Credentials come from `aws.accounts` (`@backstage/integration-aws-node`).
       */
      lambda?: {
        /** The region of the functions (of every environment without its own). */
        region: string;
        /** The account of the functions, one of `aws.accounts`; default the main account. */
        accountId?: string;
        /** Environments in another account or region, e.g. `prod: { accountId: '…' }`. */
        environments?: {
          [environment: string]: { region?: string; accountId?: string };
        };
        /**
         * The alias whose version runs, for services that publish versions (`live`); an
         * entity's `mainline.dev/lambda-alias` overrides it. Default: `$LATEST` runs.
         */
        alias?: string;
        /**
         * A Lambda API endpoint other than the region's (VPC endpoints, tests); plain http only
         * for a host in `promotion.artifacts.insecureHosts`.
         */
        endpoint?: string;
      };
    };
  };
}
