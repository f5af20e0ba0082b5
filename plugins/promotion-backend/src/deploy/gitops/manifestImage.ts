import { parseDocument } from 'yaml';

/**
 * Reads the image tag an environment file pins, in the formats GitOps repositories use:
 * a kustomization's `images[].newTag` (the entry whose `name` ends with the image repository's
 * name, else the only one), or a Helm values file's `image.tag`.
 */
export function readImageTag(
  content: string,
  imageName: string,
): string | undefined {
  const doc = parseDocument(content);
  if (doc.errors.length > 0) {
    throw new Error(`not valid YAML: ${doc.errors[0].message}`);
  }
  const value = doc.toJS() as Record<string, unknown> | null;
  if (!value || typeof value !== 'object') {
    return undefined;
  }
  if (Array.isArray(value.images)) {
    const images = value.images as Array<{
      name?: string;
      newName?: string;
      newTag?: unknown;
    }>;
    const base = imageName.split('/').pop() ?? imageName;
    const entry =
      images.find(
        i => i.name === imageName || i.name?.split('/').pop() === base,
      ) ?? (images.length === 1 ? images[0] : undefined);
    return entry?.newTag === undefined ? undefined : String(entry.newTag);
  }
  const image = value.image as { tag?: unknown } | undefined;
  return image?.tag === undefined ? undefined : String(image.tag);
}
