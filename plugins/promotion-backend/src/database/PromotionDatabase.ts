import type {
  PromotionRecord,
  PromotionStatus,
  StepName,
  StepStatus,
} from './PromotionStore';
import type { Yank } from './YankStore';

/** What a new promotion or rollback is recorded with; the store sets status, times and steps. */
export type NewPromotion = Omit<
  PromotionRecord,
  | 'createdAt'
  | 'updatedAt'
  | 'steps'
  | 'error'
  | 'status'
  | 'rollbackOf'
  | 'onBehalfOf'
  | 'rolledBackBy'
> & {
  /** An automatic rollback: the failed promotion it restores from, and who had asked for that. */
  rollbackOf?: string;
  onBehalfOf?: string;
  /** Set when the promotion waits for approvals before it proceeds (`awaiting-approval`). */
  approval?: { required: number; context: string };
};

/** A promotion without its steps, as lists, exports and adoption look-ups return it. */
export type PromotionSummary = Omit<PromotionRecord, 'steps'>;

/** Which promotion a lease, lock or end state is about. */
export interface PromotionLocator {
  id: string;
  entityRef: string;
  environment: string;
}

/**
 * Promotions and rollbacks with their steps. The engine records every step before and after it
 * acts, so a promotion's progress is never held only in memory.
 */
export interface PromotionRecords {
  /**
   * Inserts a promotion with its planned steps; the same idempotency key for the entity returns
   * the existing promotion instead (`created: false`).
   */
  create(
    record: NewPromotion,
    steps: Array<{ name: StepName; status: StepStatus; detail: string | null }>,
  ): Promise<{ promotion: PromotionRecord; created: boolean }>;
  findByIdempotencyKey(
    entityRef: string,
    key: string,
  ): Promise<PromotionRecord | undefined>;
  get(entityRef: string, id: string): Promise<PromotionRecord | undefined>;
  /** Like `get`, but a missing promotion is a NotFoundError. */
  require(entityRef: string, id: string): Promise<PromotionRecord>;
  /** The entity's promotions and rollbacks, newest first. */
  list(
    entityRef: string,
    options: { limit: number },
  ): Promise<PromotionRecord[]>;
  setStep(
    id: string,
    name: StepName,
    status: StepStatus,
    detail: string | null,
    links?: { url?: string | null; pending?: string | null },
  ): Promise<void>;
  /** A release tag chosen again at the tag step, with the step details that name it. */
  setReleaseTag(
    id: string,
    tag: string,
    details: Partial<Record<StepName, string>>,
  ): Promise<void>;
  setStatus(
    id: string,
    status: PromotionStatus,
    error: string | null,
  ): Promise<void>;
  /**
   * Records the end state and frees the environment at once; false for every caller but the
   * first (who alone may audit and notify).
   */
  end(
    record: PromotionLocator,
    status: 'succeeded' | 'failed',
    error: string | null,
  ): Promise<boolean>;
  /** Finishes a step still waiting for `pending`; true for exactly one of concurrent callers. */
  completeWaitingStep(
    id: string,
    name: StepName,
    pending: string,
    status: 'succeeded' | 'failed',
    detail: string,
    url: string | null,
  ): Promise<boolean>;
  /** Promotions whose step waits for an external completion: the follower's work list. */
  listWaiting(limit?: number): Promise<PromotionRecord[]>;
  /** Changes the release tag of a promotion that adopts one an unfinished promotion created. */
  adoptTag(id: string, tag: string): Promise<void>;
  /** Running or failed promotions of `sha` with a tag, newest first: tags a new one may adopt. */
  listUnfinished(
    entityRef: string,
    environment: string,
    sha: string,
  ): Promise<PromotionSummary[]>;
  /** Another running or succeeded promotion that took over this one's release tag. */
  findAdopter(
    record: PromotionLocator & { tag: string | null },
  ): Promise<PromotionSummary | undefined>;
  /** Whether Mainline itself released `tag` for one of the entities. */
  promotedWithTag(entityRefs: string[], tag: string): Promise<boolean>;
  /** A promotion the rules refused before anything changed, recorded as failed at its checks. */
  recordRefused(record: NewPromotion, reason: string): Promise<PromotionRecord>;
}

/** What the release board and the history export read. */
export interface PromotionHistory {
  /** The newest promotion or rollback per entity and environment. */
  latestPerEnvironment(entityRefs: string[]): Promise<PromotionSummary[]>;
  /** Promotions and rollbacks of the entities, newest first. */
  history(
    entityRefs: string[],
    options: { since?: Date; limit: number },
  ): Promise<PromotionSummary[]>;
}

/**
 * One running promotion per entity and environment, across replicas: a lease its worker renews,
 * and that the reconciler claims when the worker stopped.
 */
export interface EnvironmentLeases {
  /** How long a lease lasts unless renewed. */
  readonly leaseMs: number;
  /** Takes the environment's lease, or throws a ConflictError naming who holds it. */
  acquireLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<void>;
  /** Claims a run-out lease of a running promotion; true for exactly one of concurrent callers. */
  claimExpired(record: PromotionLocator): Promise<boolean>;
  lease(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<{ held: boolean; live: boolean; expiresAt: string | null }>;
  /** Running promotions whose worker stopped: the reconciler's work list. */
  listStalled(limit?: number): Promise<PromotionRecord[]>;
  /** False when the lease is no longer this instance's: the caller must stop. */
  renewLease(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<boolean>;
  /** Keeps a waiting promotion's lease live, whichever instance follows it. */
  touchLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<boolean>;
  releaseLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<void>;
}

/** Webhook deliveries already acted on, so that a redelivery does nothing twice. */
export interface WebhookDeliveries {
  /** False when the delivery was seen before. */
  firstDelivery(deliveryId: string, topic: string): Promise<boolean>;
  /** Forgets deliveries older than the retention; answers how many. */
  pruneDeliveries(olderThan: Date): Promise<number>;
}

/** Release tags people push in GitHub: each becomes at most one promotion. */
export interface PushedTagClaims {
  /** True for the one path (webhook or reconcile pass, on any replica) that saw the tag first. */
  claimPushedTag(entry: {
    repo: string;
    tag: string;
    sha: string | null;
    source: 'webhook' | 'reconcile';
  }): Promise<boolean>;
  settlePushedTag(
    repo: string,
    tag: string,
    outcome: 'promoted' | 'refused' | 'mainline' | 'ignored' | 'failed',
    detail: string,
  ): Promise<void>;
  /** Gives a claimed tag back when nothing was recorded for it, so it is tried again. */
  releasePushedTag(repo: string, tag: string): Promise<void>;
  pushedTagsOf(
    repo: string,
  ): Promise<{ baselined: boolean; tags: Set<string> }>;
  /** Records a repository's existing release tags as history, not pushes to act on. */
  baselineTags(
    repo: string,
    tags: Array<{ name: string; sha: string }>,
  ): Promise<void>;
}

/** Tombstones of yanked commits. */
export interface YankRecords {
  /** The entity's tombstones, newest first. */
  listForEntity(entityRef: string): Promise<Yank[]>;
  /** Records a tombstone; the same commit again keeps the first one. */
  record(yank: Yank): Promise<void>;
}

/**
 * Everything the promotion engine needs from the promotions tables, implemented by
 * `PromotionStore` on any database Backstage supports (SQLite and PostgreSQL are tested). Code
 * that needs less takes the narrower interface it uses.
 */
export interface PromotionDatabase
  extends PromotionRecords,
    PromotionHistory,
    EnvironmentLeases,
    WebhookDeliveries,
    PushedTagClaims {}
