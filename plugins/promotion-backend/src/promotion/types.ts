import { BackstageCredentials } from '@backstage/backend-plugin-api';
import type { Request } from 'express';
import {
  PromotionCheckData,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';

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
  /**
   * The HTTP request that asked for the write, when one did: auditor events are created with it,
   * so that they name the user who acted rather than the plugin.
   */
  request?: Request;
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
  /** The entity's annotations, for the runtime observers (`argocd/app-name`, …) and the policy overrides (`mainline.dev/soak.<environment>`, …). */
  annotations?: Record<string, string>;
}

/**
 * What a check found, for a client to act on without reading the sentence: the commit to
 * promote instead, the tag in the way, the environment a commit must have been in, the annotation
 * missing or malformed, the resource concerned, the entity that claims it. One type with the API's:
 * generated from `CheckData` in the OpenAPI document.
 */
export type CheckData = PromotionCheckData;

/** One rule checked before anything is changed. */
export interface PolicyCheck {
  name: string;
  passed: boolean;
  reason: string;
  data?: CheckData;
}
