export { startLambdaTestServer } from './LambdaTestServer';
export type {
  LambdaTestServer,
  LambdaTestServerOptions,
  LambdaTestRequest,
  LambdaFunctionSeed,
  LambdaCodeSeed,
  LambdaState,
  LambdaLastUpdateStatus,
} from './LambdaTestServer';
