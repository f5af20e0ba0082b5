import { Document, isAlias, isScalar, parseDocument } from 'yaml';

/**
 * A tag scalar's text as written, not as YAML resolves it: `1.0`, `2024.10` and an all-digit short
 * sha such as `0123456` are tags, not numbers. Undefined for a missing or null tag.
 */
function tagText(doc: Document, node: unknown): string | undefined {
  const scalar = isAlias(node) ? node.resolve(doc) : node;
  if (
    !isScalar(scalar) ||
    scalar.value === null ||
    scalar.value === undefined
  ) {
    return undefined;
  }
  const text = scalar.source ?? String(scalar.value);
  return text === '' ? undefined : text;
}

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
    const found = images.findIndex(
      i =>
        typeof i?.name === 'string' &&
        (i.name === imageName || i.name.split('/').pop() === base),
    );
    let index = found;
    if (index < 0 && images.length === 1) {
      index = 0;
    }
    return index < 0
      ? undefined
      : tagText(doc, doc.getIn(['images', index, 'newTag'], true));
  }
  return tagText(doc, doc.getIn(['image', 'tag'], true));
}
