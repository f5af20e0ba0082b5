export { EnvironmentLanes } from './EnvironmentLanes';
