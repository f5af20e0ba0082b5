import { PromotionStepRunner } from './types';

/** Adds the release tag to the commit's artifact: the same digest, one more tag. */
export const retagStep: PromotionStepRunner = {
  async run({ record, adapters }) {
    const artifact = await adapters.artifacts.addTag(
      adapters.artifactLocation,
      record.sha,
      record.tag!,
    );
    return {
      detail: `${artifact.uri} tagged ${record.tag}; digest ${artifact.digest} unchanged`,
    };
  },

  async inspect({ record, adapters }) {
    const artifact = await adapters.artifacts.getArtifact(
      adapters.artifactLocation,
      record.sha,
    );
    return artifact?.tags.includes(record.tag!)
      ? { state: 'done', detail: `${artifact.uri} carries ${record.tag}` }
      : { state: 'todo', detail: `the artifact lacks ${record.tag}` };
  },
};
