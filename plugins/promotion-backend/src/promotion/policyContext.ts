import { AuthService } from '@backstage/backend-plugin-api';
import {
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { PromotionAdapters } from '../adapters';
import { artifactMatchesCommit } from '@mainline/plugin-promotion-node';
import { PromotionStore } from '../database/PromotionStore';
import type { Facts } from './facts';
import {
  DeployTime,
  FreezeOverride,
  FreezeWindow,
  PolicyAnnotationError,
  ReportedCheck,
  deploySoakRule,
  effectivePolicies,
  freezeRule,
  parseDuration,
  requiredChecksRule,
} from './policies';
import { runsIn } from './rules';
import { EntityContext, PolicyCheck } from './types';

/** How many of an entity's newest ledger rows are looked through for a deploy time. */
const LEDGER_ROWS = 200;

/**
 * The commit's deploy time in an environment, from what was read: the deployment when the
 * environment still runs it, else the ledger's newest succeeded promotion or rollback of it there,
 * else (an environment every merge deploys, which has moved on) its artifact's build.
 */
export function deployTimeOf(input: {
  facts: Pick<Facts, 'sha' | 'deployments' | 'tags' | 'artifacts'>;
  environment: EnvironmentDefinition;
  ledger: Array<{
    environment: string;
    sha: string;
    status: string;
    updatedAt: string;
  }>;
}): DeployTime | undefined {
  const { facts, environment } = input;
  const deployment = facts.deployments[environment.name];
  if (deployment && runsIn(facts, environment.name, facts.sha)) {
    return { deployedAt: deployment.deployedAt, source: 'deployment' };
  }
  const recorded = input.ledger
    .filter(
      p =>
        p.environment === environment.name &&
        p.sha === facts.sha &&
        p.status === 'succeeded',
    )
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  if (recorded) return { deployedAt: recorded.updatedAt, source: 'ledger' };
  if (environment.trigger.type === 'branch') {
    const artifact = facts.artifacts.find(a =>
      artifactMatchesCommit(a, facts.sha),
    );
    if (artifact) return { deployedAt: artifact.createdAt, source: 'build' };
  }
  return undefined;
}

/**
 * Reads what the policies (`policies.ts`) look at for one promotion, in the checks round and
 * before any side effect: the Systems the entity is part of (their annotations and Domain, from
 * the catalog), the commit's deploy time for a soak, and its checks for required checks; then
 * runs the rules.
 */
export class PolicyReader {
  constructor(
    private readonly options: {
      catalog: CatalogService;
      auth: AuthService;
      store: PromotionStore;
      environments: EnvironmentDefinition[];
      freezes: FreezeWindow[];
      /** The clock (tests). */
      now?: () => Date;
    },
  ) {}

  private async systems(
    entity: EntityContext,
  ): Promise<Array<{ ref: string; entity: Entity | undefined }>> {
    const refs = entity.systems ?? [];
    if (refs.length === 0) return [];
    const { items } = await this.options.catalog.getEntitiesByRefs(
      { entityRefs: refs, fields: ['kind', 'metadata', 'spec.domain'] },
      { credentials: await this.options.auth.getOwnServiceCredentials() },
    );
    return refs.map((ref, i) => ({ ref, entity: items[i] ?? undefined }));
  }

  /** The policy checks of promoting the facts' commit to `environment` (none when none apply). */
  async checks(input: {
    entity: EntityContext;
    environment: EnvironmentDefinition;
    facts: Facts;
    adapters: PromotionAdapters;
    override?: FreezeOverride;
  }): Promise<PolicyCheck[]> {
    const { entity, environment, facts } = input;
    const now = this.options.now?.() ?? new Date();
    const systems = await this.systems(entity);
    const domains = systems.flatMap(({ entity: system }) => {
      const domain = (system?.spec as { domain?: unknown } | undefined)?.domain;
      if (typeof domain !== 'string' || !domain) return [];
      try {
        return [
          stringifyEntityRef(
            parseEntityRef(domain, {
              defaultKind: 'domain',
              defaultNamespace: system?.metadata.namespace ?? 'default',
            }),
          ),
        ];
      } catch {
        return [];
      }
    });
    const checks: PolicyCheck[] = [];
    const freeze = freezeRule(
      this.options.freezes,
      { environment: environment.name, systems: entity.systems ?? [], domains },
      now,
      input.override,
    );
    if (freeze) checks.push(freeze);

    const configuredSoak = environment.policy.soak;
    let effective;
    try {
      effective = effectivePolicies({
        environment: environment.name,
        environments: this.options.environments.map(e => e.name),
        configured: {
          soak: configuredSoak && {
            ...configuredSoak,
            forMs: parseDuration(configuredSoak.for)!,
          },
          requiredChecks: environment.policy.requiredChecks,
        },
        layers: [
          ...systems.map(s => ({
            entityRef: s.ref,
            annotations: s.entity?.metadata.annotations ?? {},
          })),
          {
            entityRef: entity.entityRef,
            annotations: entity.annotations ?? {},
          },
        ],
      });
    } catch (error) {
      if (!(error instanceof PolicyAnnotationError)) throw error;
      checks.push({
        name: error.annotation.includes('soak') ? 'soak' : 'required-checks',
        passed: false,
        reason: error.message,
        data: { invalidAnnotation: error.annotation },
      });
      return checks;
    }

    if (effective.soak) {
      const after = this.options.environments.find(
        e => e.name === effective.soak!.after,
      );
      const ledger = after
        ? await this.options.store.history([entity.entityRef], {
            limit: LEDGER_ROWS,
          })
        : [];
      checks.push(
        deploySoakRule(
          facts.sha,
          effective.soak,
          after
            ? deployTimeOf({ facts, environment: after, ledger })
            : undefined,
          now,
        ),
      );
    }
    if (effective.requiredChecks.length > 0) {
      const source = input.adapters.source;
      const reported: ReportedCheck[] | undefined = source.listCommitChecks
        ? await source.listCommitChecks(entity.target.sourceRepo, facts.sha)
        : undefined;
      const check = requiredChecksRule(
        facts.sha,
        effective.requiredChecks,
        reported,
      );
      if (check) checks.push(check);
    }
    return checks;
  }
}
