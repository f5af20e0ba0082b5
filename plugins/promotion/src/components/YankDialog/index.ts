export { YankDialog } from './YankDialog';
