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
}

/** One rule checked before anything is changed. */
export interface PolicyCheck {
  name: string;
  passed: boolean;
  reason: string;
}
