import { PromotionAdapters } from '../../adapters';
import { PromotionRecord } from '../../database/PromotionStore';
import { Actor, EntityContext } from '../types';

/** What a step acts on: the entity, its promotion (later steps read what earlier ones changed). */
export interface StepContext {
  entity: EntityContext;
  record: PromotionRecord;
  adapters: PromotionAdapters;
  actor: Actor;
}

/** What one step did, as its row shows it. */
export interface StepOutcome {
  detail: string;
  url?: string;
  /** The step completes outside the request; the follower polls this reference. */
  pending?: string;
}

/** Whether a step's change is already in the upstream, as a recovery reads it. */
export interface UpstreamState {
  state: 'done' | 'todo' | 'conflict';
  detail: string;
}

/** One step of a promotion: what it does, and how a recovery finds whether it was done. */
export interface PromotionStepRunner {
  run(context: StepContext): Promise<StepOutcome>;
  inspect(context: Omit<StepContext, 'actor'>): Promise<UpstreamState>;
}
