export { ApprovalPanel } from './ApprovalPanel';
