import {
  AuditorService,
  AuthService,
  BackstageCredentials,
} from '@backstage/backend-plugin-api';
import {
  Entity,
  RELATION_OWNED_BY,
  parseEntityRef,
  parseLocationRef,
} from '@backstage/catalog-model';
import { Config } from '@backstage/config';
import { InputError, NotAllowedError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { minimatch } from 'minimatch';
import {
  ARTIFACT_KINDS,
  PROMOTION_ANNOTATIONS,
} from '@mainline/plugin-promotion-common';
import { EntityContext, PolicyCheck, WriteContext } from '../promotion/types';
import { EntityTargets, relatedRefs } from './EntityTargets';

/**
 * A write outside the entity's scope: a 403 like any refused permission, carrying its
 * `write-scope` check so that a repository-wide release can report it among a component's checks.
 */
export class WriteScopeRefusal extends NotAllowedError {
  constructor(readonly check: PolicyCheck) {
    super(check.reason);
  }
}

/** What a write does to the entity's resources. */
export type WriteAction = 'promote' | 'rollback' | 'yank';

/** Something outside Mainline a write changes. */
export interface WriteResource {
  kind: 'repository' | 'manifest' | 'artifact location' | 'serverless service';
  /** As messages name it, e.g. `mainline-demo/deployments:apps/checkout/overlays/prod/kustomization.yaml`. */
  name: string;
  /** The name compared between entities (case folded where the upstream ignores case). */
  key: string;
}

/** The rule that decided a write-scope verdict. */
export type WriteScopeRule = 'grant' | 'provenance' | 'claim-conflict';

export type WriteScopeVerdict =
  | { allowed: true; check: PolicyCheck }
  | {
      allowed: false;
      check: PolicyCheck;
      rule: Exclude<WriteScopeRule, 'grant'>;
      resource: WriteResource;
    };

/** One `promotion.writeScope.grants` entry: which entities may write which resources. */
export interface WriteScopeGrant {
  owners: string[];
  systems: string[];
  namespaces: string[];
  repositories: string[];
  manifests: Array<{ repository: string; paths: string[] }>;
  artifactLocations: string[];
  serverlessServices: string[];
}

export interface WriteScopeOptions {
  grants: WriteScopeGrant[];
  /** Entities defined in `file:` locations count as granted everything they name. */
  trustFileLocations: boolean;
  /** Resources no grant covers need an entity defined in its own repository. */
  requireProvenance: boolean;
  /** The host whose repository URLs prove provenance (GitHub mode); none on the embedded default. */
  repositoryHost?: string;
  /** The branch a provenance location must point at. */
  mainBranch: string;
  /** How long the catalog's claims are reused, in milliseconds. */
  claimsTtlMs: number;
}

/** The entity's answer to "may this entity write there", kept for reuse by claim checks. */
interface Standing {
  entity: EntityContext;
  /** Set when the entity was defined where only administrators put files. */
  adminDefined: boolean;
}

const SELECTORS = ['owners', 'systems', 'namespaces'] as const;

/**
 * Reads `promotion.writeScope`, failing start-up with a message naming a bad entry: a grant
 * without selectors would give every entity in the catalog what it lists.
 */
export function readWriteScopeOptions(config: Config): WriteScopeOptions {
  const scope = config.getOptionalConfig('promotion.writeScope');
  const grants = (scope?.getOptionalConfigArray('grants') ?? []).map(
    (grant, index) => {
      const where = `promotion.writeScope.grants[${index}]`;
      const list = (key: string) => grant.getOptionalStringArray(key) ?? [];
      const read: WriteScopeGrant = {
        owners: list('owners').map(ref =>
          normalizeRef(ref, 'group', `${where}.owners`),
        ),
        systems: list('systems').map(ref =>
          normalizeRef(ref, 'system', `${where}.systems`),
        ),
        namespaces: list('namespaces').map(n => n.toLocaleLowerCase('en-US')),
        repositories: list('repositories'),
        manifests: (grant.getOptionalConfigArray('manifests') ?? []).map(m => ({
          repository: m.getString('repository'),
          paths: m.getStringArray('paths'),
        })),
        artifactLocations: list('artifactLocations'),
        serverlessServices: list('serverlessServices'),
      };
      if (SELECTORS.every(key => read[key].length === 0)) {
        throw new InputError(
          `${where} must name the entities it is for (owners, systems or namespaces)`,
        );
      }
      return read;
    },
  );
  const provider =
    config.getOptionalString('promotion.source.provider') ??
    (config.getOptionalString('promotion.local.dataDir') ? 'local' : 'github');
  return {
    grants,
    trustFileLocations: scope?.getOptionalBoolean('trustFileLocations') ?? true,
    requireProvenance: scope?.getOptionalBoolean('requireProvenance') ?? true,
    repositoryHost:
      provider === 'github'
        ? (
            config.getOptionalString('promotion.github.host') ?? 'github.com'
          ).toLocaleLowerCase('en-US')
        : undefined,
    mainBranch: config.getOptionalString('promotion.mainBranch') ?? 'main',
    claimsTtlMs: (scope?.getOptionalNumber('claimsCacheSeconds') ?? 10) * 1000,
  };
}

function normalizeRef(ref: string, defaultKind: string, where: string) {
  try {
    const { kind, namespace, name } = parseEntityRef(ref, {
      defaultKind,
      defaultNamespace: 'default',
    });
    return `${kind}:${namespace}/${name}`.toLocaleLowerCase('en-US');
  } catch (error) {
    throw new InputError(`${where}: "${ref}" is not an entity reference`);
  }
}

const lower = (value: string) => value.toLocaleLowerCase('en-US');

/**
 * `*` within one path segment, `**` across segments, `?` one character, `[...]` one of a set
 * (minimatch, with dot segments matched like any other); braces, negation and extglobs are off, so
 * a registry host or an S3 URL is written as it is.
 */
export function globMatches(pattern: string, value: string): boolean {
  return minimatch(value, pattern, {
    dot: true,
    nobrace: true,
    noext: true,
    nonegate: true,
    nocomment: true,
  });
}

/**
 * One spelling per artifact location, so that two entities naming the same image repository or
 * package prefix differently are still seen as claiming the same thing: `oci://` dropped, Docker
 * Hub's aliases and implicit `library/` spelled out, image names case folded (OCI names are
 * lower case), trailing slashes dropped.
 */
export function normalizeArtifactLocation(location: string): string {
  const trimmed = location.trim().replace(/\/+$/, '');
  if (/^(s3|local):\/\//.test(trimmed)) {
    const [scheme, rest] = trimmed.split('://');
    const slash = rest.indexOf('/');
    return slash < 0
      ? `${scheme}://${lower(rest)}`
      : `${scheme}://${lower(rest.slice(0, slash))}${rest.slice(slash)}`;
  }
  const bare = lower(trimmed.replace(/^oci:\/\//i, ''));
  const [host, ...path] = bare.split('/');
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) {
    return `docker.io/${
      path.length === 1 ? `library/${path[0]}` : path.join('/')
    }`;
  }
  return bare;
}

/**
 * The write-scope guard: a promotion, rollback or yank may change only the repository, manifest
 * file, artifact location and Serverless service that belong to the entity it is made for.
 * Permissions say who may act on an entity; this says what an entity may act on, since its
 * annotations are written by whoever registered it.
 *
 * A resource belongs to the entity when
 * - a `promotion.writeScope.grants` entry for its owner, system or namespace lists it, or the
 *   entity was defined in a `file:` location (only administrators put those in a stock catalog);
 * - otherwise, when the entity was defined in the very repository it names, on its main branch
 *   (provenance: whoever wrote its annotations can write that repository), and no entity of
 *   another owner claims the same manifest file, artifact location or Serverless service.
 * A granted claim wins over claims nobody granted; two granted claims of different owners on one
 * resource refuse both, since the grants overlap.
 */
export class WriteScope {
  private claims:
    | { at: number; index: Promise<Map<string, EntityContext[]>> }
    | undefined;
  private readonly systemOwners = new Map<
    string,
    { at: number; owners: Promise<string[]> }
  >();

  constructor(
    private readonly deps: {
      catalog: CatalogService;
      auth: AuthService;
      auditor: AuditorService;
      environments: string[];
      options: WriteScopeOptions;
    },
  ) {}

  /** The resources an action on the entity changes. */
  resources(
    entity: EntityContext,
    scope: { action: WriteAction; environment?: string },
  ): WriteResource[] {
    const { target } = entity;
    const repository: WriteResource = {
      kind: 'repository',
      name: target.sourceRepo,
      key: lower(target.sourceRepo),
    };
    const artifact: WriteResource = {
      kind: 'artifact location',
      name: target.artifactLocation,
      key: normalizeArtifactLocation(target.artifactLocation),
    };
    if (scope.action === 'yank') return [artifact];
    const deploy = scope.environment
      ? this.deployResources(entity, scope.environment)
      : [];
    if (scope.action === 'rollback') {
      // A Lambda rollback runs the deploy workflow of the service's own repository.
      return target.artifactKind === 'archive'
        ? [repository, ...deploy]
        : deploy;
    }
    return [repository, artifact, ...deploy];
  }

  private deployResources(
    entity: EntityContext,
    environment: string,
  ): WriteResource[] {
    const { target } = entity;
    if (target.artifactKind === 'image' && target.manifestRepo) {
      const file = target.manifestPath!.replace(
        /\{environment\}/g,
        environment,
      );
      return [
        {
          kind: 'manifest',
          name: `${target.manifestRepo}:${file}`,
          key: `${lower(target.manifestRepo)}:${file}`,
        },
      ];
    }
    if (target.serverlessService) {
      return [
        {
          kind: 'serverless service',
          name: target.serverlessService,
          key: lower(target.serverlessService),
        },
      ];
    }
    return [];
  }

  /** The verdict as a dry run shows it. */
  async check(
    entity: EntityContext,
    scope: { action: WriteAction; environment?: string },
  ): Promise<PolicyCheck> {
    return (await this.verdict(entity, scope)).check;
  }

  /**
   * Refuses (403, audited as refused) a write through an entity that does not own what it would
   * change; called with the permission check, before anything upstream is read or written.
   */
  async enforce(
    entity: EntityContext,
    scope: {
      action: WriteAction;
      environment?: string;
      sha?: string;
      tag?: string;
    },
    ctx: WriteContext,
  ): Promise<void> {
    const verdict = await this.verdict(entity, scope);
    if (verdict.allowed) return;
    const error = new WriteScopeRefusal(verdict.check);
    const event = await this.deps.auditor.createEvent({
      eventId: 'write-scope',
      severityLevel: 'high',
      // With the request the auditor names the caller (a person or a service principal).
      ...(ctx.request ? { request: ctx.request } : {}),
      meta: {
        entityRef: entity.entityRef,
        action: scope.action,
        environment: scope.environment,
        sha: scope.sha,
        tag: scope.tag,
        rule: verdict.rule,
        resource: verdict.resource.name,
        actor: ctx.actor.entityRef,
        reason: verdict.check.reason,
      },
    });
    await event.fail({ error });
    throw error;
  }

  async verdict(
    entity: EntityContext,
    scope: { action: WriteAction; environment?: string },
  ): Promise<WriteScopeVerdict> {
    const { options } = this.deps;
    const resources = this.resources(entity, scope);
    const standing = this.standing(entity);
    const provenance = this.provenance(entity);
    const how: string[] = [];
    for (const resource of resources) {
      const grant = await this.grantFor(standing, resource);
      if (!grant && options.requireProvenance && !provenance.ok) {
        return this.refuse(
          'provenance',
          resource,
          `${entity.entityRef} may not write ${resource.kind} ${resource.name}: ${provenance.problem}, and no promotion.writeScope grant gives it to the entity's owner, system or namespace`,
        );
      }
      if (resource.kind !== 'repository') {
        const rivals = await this.rivals(standing, resource, Boolean(grant));
        if (rivals.length > 0) {
          const [rival] = rivals;
          return this.refuse(
            'claim-conflict',
            resource,
            `${entity.entityRef} may not write ${resource.kind} ${
              resource.name
            }: ${rival.entityRef} (owned by ${
              rival.owners.join(', ') || 'nobody'
            }) claims it too${
              grant ? ', and promotion.writeScope grants it to both owners' : ''
            }`,
          );
        }
      }
      const evidence = provenance.ok
        ? provenance.evidence
        : 'provenance not required';
      how.push(`${resource.name} (${grant ?? evidence})`);
    }
    return {
      allowed: true,
      check: {
        name: 'write-scope',
        passed: true,
        reason: `${entity.entityRef} may write ${how.join(', ')}`,
      },
    };
  }

  private refuse(
    rule: 'provenance' | 'claim-conflict',
    resource: WriteResource,
    reason: string,
  ): WriteScopeVerdict {
    return {
      allowed: false,
      rule,
      resource,
      check: {
        name: 'write-scope',
        passed: false,
        reason: `${rule}: ${reason}`,
      },
    };
  }

  private standing(entity: EntityContext): Standing {
    let adminDefined = false;
    if (this.deps.options.trustFileLocations && entity.location) {
      try {
        adminDefined = parseLocationRef(entity.location).type === 'file';
      } catch {
        adminDefined = false;
      }
    }
    return { entity, adminDefined };
  }

  /** What grants the entity the resource, as messages name it; undefined when nothing does. */
  private async grantFor(
    standing: Standing,
    resource: WriteResource,
  ): Promise<string | undefined> {
    if (standing.adminDefined) {
      return `defined in ${standing.entity.location}`;
    }
    const { grants } = this.deps.options;
    for (let index = 0; index < grants.length; index++) {
      const grant = grants[index];
      if (
        grantsResource(grant, resource) &&
        (await this.selects(grant, standing.entity))
      ) {
        return `promotion.writeScope.grants[${index}]`;
      }
    }
    return undefined;
  }

  /** Whether every selector the grant gives matches the entity. */
  private async selects(
    grant: WriteScopeGrant,
    entity: EntityContext,
  ): Promise<boolean> {
    const owners = entity.owners.map(lower);
    if (grant.owners.length && !grant.owners.some(o => owners.includes(o))) {
      return false;
    }
    if (grant.namespaces.length) {
      const { namespace } = parseEntityRef(entity.entityRef);
      if (!grant.namespaces.includes(lower(namespace))) return false;
    }
    if (grant.systems.length) {
      // Anyone can declare their entity part of a system; it counts only when the system's owner
      // owns the entity too.
      const systems = (entity.systems ?? [])
        .map(lower)
        .filter(s => grant.systems.includes(s));
      for (const system of systems) {
        const systemOwners = (await this.ownersOf(system)).map(lower);
        if (systemOwners.some(o => owners.includes(o))) return true;
      }
      return false;
    }
    return true;
  }

  /**
   * Whether the entity was defined in the repository it names, on its main branch: then its
   * annotations were written by someone who can write that repository.
   */
  private provenance(
    entity: EntityContext,
  ): { ok: true; evidence: string } | { ok: false; problem: string } {
    const { repositoryHost, mainBranch } = this.deps.options;
    const repo = entity.target.sourceRepo;
    if (!entity.location) {
      return {
        ok: false,
        problem: 'the catalog does not say where the entity was defined',
      };
    }
    const outside = {
      ok: false as const,
      problem: `it was not defined in ${repo} on ${mainBranch} but in ${entity.location}`,
    };
    let url: URL;
    try {
      const ref = parseLocationRef(entity.location);
      if (ref.type !== 'url' || !repositoryHost) return outside;
      url = new URL(ref.target);
    } catch {
      return outside;
    }
    if (lower(url.host) !== repositoryHost) return outside;
    let segments: string[];
    try {
      segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    } catch {
      return outside;
    }
    const [owner, name, view, ...rest] = segments;
    if (
      !owner ||
      !name ||
      segments.some(s => s.includes('/')) ||
      lower(`${owner}/${name.replace(/\.git$/i, '')}`) !== lower(repo) ||
      (view !== 'blob' && view !== 'tree') ||
      // A branch named like the main branch plus a folder cannot exist beside it in git.
      !`${rest.join('/')}/`.startsWith(`${mainBranch}/`)
    ) {
      return outside;
    }
    return { ok: true, evidence: `defined in ${repo} on ${mainBranch}` };
  }

  /** Entities of other owners claiming the resource that stand in the entity's way. */
  private async rivals(
    standing: Standing,
    resource: WriteResource,
    granted: boolean,
  ): Promise<EntityContext[]> {
    const owners = standing.entity.owners.map(lower);
    const claimants = (
      (await this.claimIndex()).get(resource.key) ?? []
    ).filter(
      other =>
        other.entityRef !== standing.entity.entityRef &&
        !other.owners.some(o => owners.includes(lower(o))),
    );
    if (!granted) return claimants;
    const rivals: EntityContext[] = [];
    for (const other of claimants) {
      if (await this.grantFor(this.standing(other), resource))
        rivals.push(other);
    }
    return rivals;
  }

  /**
   * Every promotable entity's manifest files, artifact location and Serverless service, read with
   * the plugin's own credentials (a caller's read permissions must not hide a rival claim), and
   * kept briefly: one catalog query serves the checks of a burst of writes.
   */
  private claimIndex(): Promise<Map<string, EntityContext[]>> {
    const now = Date.now();
    if (this.claims && now - this.claims.at < this.deps.options.claimsTtlMs) {
      return this.claims.index;
    }
    const index = this.readClaims();
    this.claims = { at: now, index };
    index.catch(() => {
      if (this.claims?.index === index) this.claims = undefined;
    });
    return index;
  }

  private async readClaims(): Promise<Map<string, EntityContext[]>> {
    const { items } = await this.deps.catalog.getEntities(
      {
        filter: {
          [`metadata.annotations.${PROMOTION_ANNOTATIONS.artifactKind}`]: [
            ...ARTIFACT_KINDS,
          ],
        },
        fields: [
          'kind',
          'metadata.name',
          'metadata.namespace',
          'metadata.annotations',
          'relations',
          'spec.owner',
          'spec.system',
        ],
      },
      { credentials: await this.ownCredentials() },
    );
    const index = new Map<string, EntityContext[]>();
    for (const item of items) {
      const read = EntityTargets.read(item);
      if (!read.ok) continue;
      const keys = new Set(
        this.deps.environments.flatMap(environment =>
          this.resources(read.entity, { action: 'promote', environment })
            .filter(r => r.kind !== 'repository')
            .map(r => r.key),
        ),
      );
      for (const key of keys) {
        index.set(key, [...(index.get(key) ?? []), read.entity]);
      }
    }
    return index;
  }

  private ownersOf(systemRef: string): Promise<string[]> {
    const now = Date.now();
    const cached = this.systemOwners.get(systemRef);
    if (cached && now - cached.at < this.deps.options.claimsTtlMs) {
      return cached.owners;
    }
    const owners = this.ownCredentials()
      .then(credentials =>
        this.deps.catalog.getEntityByRef(systemRef, { credentials }),
      )
      .then((system: Entity | undefined) =>
        system ? relatedRefs(system, RELATION_OWNED_BY, 'owner') : [],
      );
    this.systemOwners.set(systemRef, { at: now, owners });
    owners.catch(() => this.systemOwners.delete(systemRef));
    return owners;
  }

  private ownCredentials(): Promise<BackstageCredentials> {
    return this.deps.auth.getOwnServiceCredentials();
  }
}

function grantsResource(grant: WriteScopeGrant, resource: WriteResource) {
  switch (resource.kind) {
    case 'repository':
      return grant.repositories.some(p => globMatches(lower(p), resource.key));
    case 'artifact location':
      return grant.artifactLocations.some(p =>
        globMatches(normalizeArtifactLocation(p), resource.key),
      );
    case 'serverless service':
      return grant.serverlessServices.some(p =>
        globMatches(lower(p), resource.key),
      );
    case 'manifest': {
      const colon = resource.key.indexOf(':');
      const repo = resource.key.slice(0, colon);
      const file = resource.key.slice(colon + 1);
      return grant.manifests.some(
        m =>
          globMatches(lower(m.repository), repo) &&
          m.paths.some(p => globMatches(p, file)),
      );
    }
    default:
      return false;
  }
}
