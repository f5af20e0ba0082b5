import {
  BackstageCredentials,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { Actor } from '../promotion/types';

/**
 * Names the caller of a write for tags, manifest commits and audit rows: a user by their catalog
 * profile, a service (e.g. a CI job yanking a failed commit) by its subject.
 */
export class Actors {
  constructor(
    private readonly userInfo: UserInfoService,
    private readonly catalog: CatalogService,
  ) {}

  async of(credentials: BackstageCredentials): Promise<Actor> {
    const principal = credentials.principal as {
      type: string;
      subject?: string;
    };
    if (principal.type !== 'user') {
      const subject = principal.subject ?? 'unknown';
      return {
        entityRef: `service:${subject}`,
        name: subject,
        email: 'noreply@mainline.invalid',
      };
    }
    const { userEntityRef } = await this.userInfo.getUserInfo(credentials);
    const user = await this.catalog
      .getEntityByRef(userEntityRef, { credentials })
      .catch(() => undefined);
    const profile = (
      user?.spec as { profile?: { displayName?: string; email?: string } }
    )?.profile;
    const { name } = parseEntityRef(userEntityRef);
    return {
      entityRef: userEntityRef,
      name: profile?.displayName ?? name,
      email: profile?.email ?? `${name}@users.noreply.mainline.invalid`,
    };
  }
}
