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

/** Where the image tag lives in a parsed environment file, or undefined when it has none. */
function tagPath(
  doc: Document,
  imageName: string,
): Array<string | number> | undefined {
  const value = doc.toJS() as Record<string, unknown> | null;
  if (!value || typeof value !== 'object') {
    return undefined;
  }
  if (Array.isArray(value.images)) {
    const images = value.images as Array<{ name?: unknown }>;
    const base = imageName.split('/').pop() ?? imageName;
    let index = images.findIndex(
      i =>
        typeof i?.name === 'string' &&
        (i.name === imageName || i.name.split('/').pop() === base),
    );
    if (index < 0 && images.length === 1) {
      index = 0;
    }
    return index < 0 ? undefined : ['images', index, 'newTag'];
  }
  return ['image', 'tag'];
}

function parse(content: string): Document {
  const doc = parseDocument(content);
  if (doc.errors.length > 0) {
    throw new Error(`not valid YAML: ${doc.errors[0].message}`);
  }
  return doc;
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
  const doc = parse(content);
  const at = tagPath(doc, imageName);
  return at ? tagText(doc, doc.getIn(at, true)) : undefined;
}

/**
 * Rewrites the image tag `readImageTag` reads, keeping every comment and the rest of the file as
 * it was. Fails when the file pins no image of that name.
 */
export function writeImageTag(
  content: string,
  imageName: string,
  tag: string,
): string {
  const doc = parse(content);
  const at = tagPath(doc, imageName);
  if (!at || (at[0] === 'image' && !doc.hasIn(['image']))) {
    throw new Error(
      `no image entry for ${imageName} (kustomize images[].newTag or Helm image.tag)`,
    );
  }
  doc.setIn(at, doc.createNode(tag));
  return doc.toString();
}
