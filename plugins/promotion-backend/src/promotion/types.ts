import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { PromotionTarget } from '@mainline/plugin-promotion-common';

/** Who asks for a write, as manifest commits, tags, audit rows and notifications name them. */
export interface Actor {
  entityRef: string;
  name: string;
  email: string;
}

/** The caller of a write: credentials for permission checks, and the actor. */
export interface WriteContext {
  credentials: BackstageCredentials;
  actor: Actor;
}

/** The entity a write is for, as the catalog describes it. */
export interface EntityContext {
  entityRef: string;
  target: PromotionTarget;
  owners: string[];
  /** The systems it is part of (`partOf`), for write-scope grants by system. */
  systems?: string[];
  /**
   * Where the catalog read the entity from (`backstage.io/managed-by-location`, set by the catalog
   * itself): the write-scope guard's evidence of who wrote its annotations.
   */
  location?: string;
}

/** One rule checked before anything is changed. */
export interface PolicyCheck {
  name: string;
  passed: boolean;
  reason: string;
}
