import { isDeepStrictEqual } from 'node:util';
import {
  Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  Node,
  parseDocument,
  Scalar,
  YAMLMap,
} from 'yaml';
import { parseYamlPath, REGISTRY_TAG } from '@mainline/plugin-promotion-common';

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
  yamlPath?: string,
): Array<string | number> | undefined {
  if (yamlPath !== undefined) {
    const steps = parseYamlPath(yamlPath);
    if (!steps) throw new Error(`"${yamlPath}" is not a YAML path`);
    return steps;
  }
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
 * name, else the only one), a Helm values file's `image.tag`, or the key at `yamlPath` when the
 * entity names one (e.g. `app.image.tag`).
 *
 * @public
 */
export function readImageTag(
  content: string,
  imageName: string,
  yamlPath?: string,
): string | undefined {
  const doc = parse(content);
  const at = tagPath(doc, imageName, yamlPath);
  return at ? tagText(doc, doc.getIn(at, true)) : undefined;
}

/**
 * The tag as a YAML scalar in the style the file used: quoted as it was quoted, else plain unless
 * a YAML 1.2 or 1.1 reader (Helm's, kustomize's) would take the plain text for a number, boolean
 * or null, e.g. an all-digit short sha.
 */
function scalarText(tag: string, type: string | undefined): string {
  if (type === Scalar.QUOTE_SINGLE) {
    return `'${tag}'`;
  }
  const plainIsString =
    type !== Scalar.QUOTE_DOUBLE &&
    parse(tag).toJS() === tag &&
    parseDocument(tag, { version: '1.1' }).toJS() === tag;
  return plainIsString ? tag : `"${tag}"`;
}

/** The column of an offset in the text. */
function columnOf(content: string, offset: number): number {
  return offset - (content.lastIndexOf('\n', offset - 1) + 1);
}

/**
 * Splices the new tag into the file text where the node that held it was, or as a new key after
 * the entry's first key (same indentation), so the rest of the file stays byte for byte as it
 * was: comments, blank lines, indentation and quoting. Undefined when the entry is a flow mapping
 * or the node a block scalar, which the caller rewrites through the Document API instead.
 */
function splice(
  content: string,
  entry: YAMLMap,
  key: string,
  tag: string,
): string | undefined {
  const node = entry.get(key, true) as Node | undefined;
  if (node) {
    if (!node.range) return undefined;
    const [start, end] = node.range;
    if (
      isScalar(node) &&
      (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED)
    ) {
      return undefined;
    }
    const type = isScalar(node) ? node.type : undefined;
    const text = scalarText(tag, type);
    // An empty value (`newTag:`) has an empty range right after the colon.
    const gap =
      start === end && !/\s/.test(content[start - 1] ?? '') ? ' ' : '';
    return `${content.slice(0, start)}${gap}${text}${content.slice(end)}`;
  }
  const first = entry.items[0];
  if (entry.flow || !first || !isNode(first.key) || !first.key.range) {
    return undefined;
  }
  const column = columnOf(content, first.key.range[0]);
  const afterFirst =
    isNode(first.value) && first.value.range
      ? first.value.range[1]
      : first.key.range[1];
  const crlf = content.includes('\r\n');
  let at = content.indexOf('\n', afterFirst);
  if (at < 0) at = content.length;
  else if (crlf && content[at - 1] === '\r') at -= 1;
  const line = `${crlf ? '\r\n' : '\n'}${' '.repeat(
    column,
  )}${key}: ${scalarText(tag, undefined)}`;
  return `${content.slice(0, at)}${line}${content.slice(at)}`;
}

/**
 * Rewrites the image tag `readImageTag` reads (kustomize `images[].newTag` of the entry for the
 * image, or Helm `image.tag`), changing nothing else: the new tag is spliced into the text where
 * the old one was, so comments, blank lines, indentation and quoting are kept and the manifest
 * commit's diff is that one line. A missing `newTag`/`tag` key is added to the entry. Fails when
 * the file has no entry for the image, when a kustomize entry pins a digest (the tag would not
 * change what runs), or when the tag is not a valid image tag.
 *
 * @public
 */
export function writeImageTag(
  content: string,
  imageName: string,
  tag: string,
  yamlPath?: string,
): string {
  if (!REGISTRY_TAG.test(tag)) {
    throw new Error(`"${tag}" is not a valid image tag`);
  }
  const doc = parse(content);
  const at = tagPath(doc, imageName, yamlPath);
  const entry = at ? doc.getIn(at.slice(0, -1), true) : undefined;
  if (!at || !isMap(entry)) {
    if (yamlPath !== undefined) {
      throw new Error(
        `the file has no mapping at ${yamlPath} to set the tag in`,
      );
    }
    throw new Error(
      isMap(doc.contents) && doc.contents.has('images')
        ? `the kustomize images list has no entry for ${imageName}`
        : `no image entry for ${imageName}: neither kustomize images[].newTag nor Helm image.tag`,
    );
  }
  const key = String(at[at.length - 1]);
  if (key === 'newTag' && entry.has('digest')) {
    throw new Error(
      `the kustomize images entry for ${imageName} pins a digest, which a new tag would not change`,
    );
  }

  let updated = splice(content, entry, key, tag);
  if (updated === undefined) {
    entry.set(key, doc.createNode(tag));
    updated = doc.toString();
  }

  // Nothing but the tag may have changed: compare with the original, the tag set in its data.
  const expected = parse(content).toJS();
  let parent = expected;
  for (const step of at.slice(0, -1)) parent = parent[step];
  parent[key] = tag;
  const actual = parse(updated).toJS();
  if (
    !isDeepStrictEqual(actual, expected) ||
    readImageTag(updated, imageName, yamlPath) !== tag
  ) {
    throw new Error(
      `cannot set the tag of ${imageName} without changing anything else (is it an anchor used elsewhere?)`,
    );
  }
  return updated;
}
