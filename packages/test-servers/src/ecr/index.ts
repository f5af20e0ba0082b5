export { startEcrTestServer } from './EcrTestServer';
export type {
  EcrTestServer,
  EcrTestServerOptions,
  EcrTestRequest,
} from './EcrTestServer';
