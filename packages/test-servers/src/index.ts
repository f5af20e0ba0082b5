export * from './github';
export * from './ecr';
export * from './s3';
export * from './oci';
export * from './runner';
export * from './argocd';
export * from './lambda';
