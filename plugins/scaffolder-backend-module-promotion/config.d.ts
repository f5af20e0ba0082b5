export interface Config {
  promotion?: {
    /** Settings of the promotion scaffolder actions. */
    scaffolder?: {
      /**
       * An ECR API endpoint other than the region's, for `promotion:aws:ecr:create` (VPC
       * endpoints, tests). AWS credentials come from the `aws` section.
       */
      ecrEndpoint?: string;
    };
  };
}
