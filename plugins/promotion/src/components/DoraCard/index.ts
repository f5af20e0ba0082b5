export { DoraCard, duration } from './DoraCard';
export type { DoraCardProps } from './DoraCard';
export { EntityDoraCard } from './EntityDoraCard';
