import { AuthService } from '@backstage/backend-plugin-api';
import {
  Entity,
  RELATION_CHILD_OF,
  RELATION_MEMBER_OF,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { Identity } from './rules';

/** The annotation Backstage's GitHub org provider sets on users: their GitHub login. */
const GITHUB_LOGIN = 'github.com/user-login';

/** How deep nested groups are followed (a cycle or a very deep tree stops here). */
const MAX_DEPTH = 10;

type Member = Identity & { entityRef: string };

function identityOf(user: Entity): Member {
  const profile = (user.spec as { profile?: { email?: string } } | undefined)
    ?.profile;
  const login = user.metadata.annotations?.[GITHUB_LOGIN];
  return {
    entityRef: stringifyEntityRef(user),
    emails: profile?.email ? [profile.email] : [],
    logins: login ? [login] : [],
  };
}

/**
 * Who may approve, as the catalog tells it: the users that are members of the owner groups or of
 * any group below them (`childOf`, followed down), and what each user is known by (their
 * profile email and GitHub login) for telling them apart from a commit's authors. Read with the
 * plugin's own credentials: whether the caller can see a group must not change who may approve.
 */
export class ApproverDirectory {
  constructor(
    private readonly options: { catalog: CatalogService; auth: AuthService },
  ) {}

  private async credentials() {
    return this.options.auth.getOwnServiceCredentials();
  }

  /** The owner groups and every group nested in them, by ref. */
  async groupsUnder(owners: string[]): Promise<string[]> {
    const credentials = await this.credentials();
    const seen = new Set(
      owners.filter(ref => parseEntityRef(ref).kind.toLowerCase() === 'group'),
    );
    let frontier = [...seen];
    for (let depth = 0; frontier.length > 0 && depth < MAX_DEPTH; depth++) {
      const { items } = await this.options.catalog.getEntities(
        {
          filter: {
            kind: 'group',
            [`relations.${RELATION_CHILD_OF}`]: frontier,
          },
          fields: ['kind', 'metadata.name', 'metadata.namespace'],
        },
        { credentials },
      );
      frontier = items
        .map(g => stringifyEntityRef(g))
        .filter(ref => !seen.has(ref));
      for (const ref of frontier) seen.add(ref);
    }
    return [...seen].sort();
  }

  /**
   * The users of the owner groups (nested groups included), and a user that owns the entity
   * directly, with what they are known by.
   */
  async members(owners: string[]): Promise<Member[]> {
    const credentials = await this.credentials();
    const groups = await this.groupsUnder(owners);
    const users = new Map<string, Member>();
    if (groups.length > 0) {
      const { items } = await this.options.catalog.getEntities(
        {
          filter: { kind: 'user', [`relations.${RELATION_MEMBER_OF}`]: groups },
        },
        { credentials },
      );
      for (const user of items) {
        const member = identityOf(user);
        users.set(member.entityRef, member);
      }
    }
    for (const ref of owners) {
      if (parseEntityRef(ref).kind.toLowerCase() !== 'user') continue;
      const member = await this.user(ref);
      if (member) users.set(member.entityRef, member);
    }
    return [...users.values()].sort((a, b) =>
      a.entityRef.localeCompare(b.entityRef),
    );
  }

  /** A user with what they are known by; just the ref when the catalog has no such user. */
  async identity(userRef: string): Promise<Member> {
    return (
      (await this.user(userRef)) ?? {
        entityRef: userRef,
        emails: [],
        logins: [],
      }
    );
  }

  private async user(ref: string): Promise<Member | undefined> {
    const entity = await this.options.catalog.getEntityByRef(ref, {
      credentials: await this.credentials(),
    });
    return entity ? identityOf(entity) : undefined;
  }

  /** An entity's annotations (undefined when the catalog has no such entity). */
  async annotationsOf(
    ref: string,
  ): Promise<Record<string, string> | undefined> {
    const entity = await this.options.catalog.getEntityByRef(ref, {
      credentials: await this.credentials(),
    });
    return entity?.metadata.annotations;
  }
}
