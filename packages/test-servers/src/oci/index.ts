export { startDockerRegistry } from './DockerRegistry';
export type { DockerRegistryServer } from './DockerRegistry';
