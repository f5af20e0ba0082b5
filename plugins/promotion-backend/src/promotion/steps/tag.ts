import { ConflictError } from '@backstage/errors';
import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { PromotionRecord, PromotionStore } from '../../database/PromotionStore';
import { chooseReleaseTag, short } from '../rules';
import {
  PromotionStepRunner,
  StepContext,
  StepOutcome,
  UpstreamState,
} from './types';

/** What the steps of a promotion by `tag` say they will do. */
export function promotionStepDetails(
  tag: string,
  sha: string,
  environment: string,
) {
  return {
    tag: `create tag ${tag} on ${short(sha)}`,
    retag: `add ${tag} to the artifact of ${short(sha)}`,
    deploy: `point ${environment} at ${tag}`,
  };
}

/**
 * Puts the release tag on the commit. A tag an unfinished promotion of the same entity and
 * environment already put there is adopted instead; a tag the promotion chose itself that another
 * commit took since its checks is chosen again.
 */
export class TagStep implements PromotionStepRunner {
  constructor(
    private readonly options: {
      store: PromotionStore;
      environments: EnvironmentDefinition[];
      annotatedTags: boolean;
    },
  ) {}

  async run(context: StepContext): Promise<StepOutcome> {
    const { entity, record, adapters } = context;
    const adopted = await this.adoptUnfinishedTag(context);
    if (adopted) return adopted;
    const { created, taken } = await this.createReleaseTag(context);
    return {
      detail: `${
        created
          ? `created tag ${record.tag} on ${short(record.sha)}`
          : `tag ${record.tag} was already on ${short(record.sha)}`
      }${
        taken.length
          ? ` (${taken.join(', ')} chosen first, taken meanwhile)`
          : ''
      }`,
      url: adapters.source.webUrl(
        entity.target.sourceRepo,
        `releases/tag/${record.tag}`,
      ),
    };
  }

  async inspect({
    entity,
    record,
    adapters,
  }: Omit<StepContext, 'actor'>): Promise<UpstreamState> {
    const tag = (await adapters.source.listTags(entity.target.sourceRepo)).find(
      t => t.name === record.tag,
    );
    if (!tag) return { state: 'todo', detail: `no tag ${record.tag}` };
    if (tag.sha !== record.sha) {
      return {
        state: 'conflict',
        detail: `tag ${record.tag} marks ${short(tag.sha)}, not ${short(
          record.sha,
        )}; tags are never moved`,
      };
    }
    return {
      state: 'done',
      detail: `tag ${record.tag} is on ${short(record.sha)}`,
    };
  }

  /**
   * A release tag that an unfinished promotion of the same entity and environment (running, or
   * failed and left so) already put on this commit becomes this promotion's tag: tagging again
   * would leave two release tags on one commit.
   */
  private async adoptUnfinishedTag({
    entity,
    record,
    adapters,
  }: StepContext): Promise<StepOutcome | undefined> {
    const others = (
      await this.options.store.listUnfinished(
        entity.entityRef,
        record.environment,
        record.sha,
      )
    ).filter(p => p.id !== record.id && p.tag && p.tag !== record.tag);
    if (others.length === 0) return undefined;
    const tags = await adapters.source.listTags(entity.target.sourceRepo);
    const onCommit = (name: string | null) =>
      tags.some(t => t.name === name && t.sha === record.sha);
    if (onCommit(record.tag)) return undefined;
    const adopted = others.find(p => onCommit(p.tag));
    if (!adopted?.tag) return undefined;
    await this.options.store.adoptTag(record.id, adopted.tag);
    record.tag = adopted.tag;
    record.version = adopted.tag;
    return {
      detail: `adopted tag ${adopted.tag}, which unfinished promotion ${
        adopted.id
      } put on ${short(record.sha)}`,
      url: adapters.source.webUrl(
        entity.target.sourceRepo,
        `releases/tag/${adopted.tag}`,
      ),
    };
  }

  /**
   * Creates the promotion's release tag. A tag the promotion chose itself that another commit
   * took since its checks (another component of the repository promoted at the same time) is
   * chosen again, the next free one, and recorded with the details of the steps after it (in the
   * record passed along too, which the later steps read); a tag that was given is a conflict.
   */
  private async createReleaseTag({
    entity,
    record,
    adapters,
    actor,
  }: StepContext): Promise<{ created: boolean; taken: string[] }> {
    const repo = entity.target.sourceRepo;
    const taken: string[] = [];
    for (;;) {
      try {
        const { created } = await adapters.source.createTag(repo, {
          name: record.tag!,
          sha: record.sha,
          annotated: this.options.annotatedTags,
          message: `Promote ${short(record.sha)} to ${
            record.environment
          }\n\nRequested-by: ${actor.entityRef}`,
          tagger: { name: actor.name, email: actor.email },
        });
        return { created, taken };
      } catch (error) {
        if ((error as Error)?.name !== 'ConflictError') throw error;
        const tags = await adapters.source.listTags(repo);
        const holder = tags.find(t => t.name === record.tag);
        // Not taken by another commit (a ref in the way): choosing again would not help.
        if (!holder || holder.sha === record.sha) throw error;
        if (!record.tagAutomatic) {
          throw new ConflictError(
            `tag ${record.tag} was created on ${short(
              holder.sha,
            )} after this promotion's checks; tags are never moved: promote ${short(
              record.sha,
            )} again with another tag`,
          );
        }
        if (taken.length >= 5) throw error;
        const trigger = this.options.environments.find(
          e => e.name === record.environment,
        )?.trigger;
        const next = chooseReleaseTag(
          tags,
          trigger?.type === 'tag' ? trigger.pattern : 'rc-*',
          entity.target.versioning,
        );
        taken.push(record.tag!);
        await this.rechoose(record, next);
      }
    }
  }

  /** Records a newly chosen tag with the details of the steps after it. */
  private async rechoose(record: PromotionRecord, next: string) {
    const details = promotionStepDetails(next, record.sha, record.environment);
    const later = Object.fromEntries(
      record.steps
        .filter(step => step.name !== 'checks' && step.name in details)
        .map(step => [step.name, details[step.name as keyof typeof details]]),
    );
    await this.options.store.setReleaseTag(record.id, next, later);
    record.tag = next;
    record.version = next;
    for (const step of record.steps) {
      if (later[step.name]) step.detail = later[step.name];
    }
  }
}
