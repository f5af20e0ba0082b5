export { LineageTable } from './LineageTable';
