export { startS3rver, s3ClientOptions } from './S3rver';
export type { S3rverServer } from './S3rver';
