import crypto from 'node:crypto';

/**
 * One file of a commit's change, as GitHub's commit API returns it (`patch` holds the hunks).
 *
 * @public
 */
export interface FilePatch {
  filename: string;
  patch?: string;
}

/**
 * A commit's patch identity: the same change gives the same id wherever it was applied, so a
 * cherry-pick made without `-x` is still traced to its main commit. Like `git patch-id --stable`
 * it ignores hunk positions (line numbers move between branches), whitespace and file order; only
 * the added and removed lines of each file count. Undefined when the change has no text lines
 * (binary files only, or an empty commit).
 *
 * @public
 */
export function patchIdentity(files: FilePatch[]): string | undefined {
  const parts = files
    .map(file => {
      const lines = (file.patch ?? '')
        .split('\n')
        // Hunks only (no file headers), so `---` / `+++` here are content: a removed `-- x`.
        .filter(line => line.startsWith('+') || line.startsWith('-'))
        .map(line => line.replace(/\s+/g, ''));
      return lines.length ? `${file.filename}\n${lines.join('\n')}` : '';
    })
    .filter(Boolean)
    .sort();
  if (parts.length === 0) return undefined;
  return crypto.createHash('sha1').update(parts.join('\n\0')).digest('hex');
}

/**
 * Splits `git diff-tree -p` output into files, keeping each file's hunks.
 *
 * @public
 */
export function filePatchesOfDiff(diff: string): FilePatch[] {
  const files: FilePatch[] = [];
  for (const section of diff.split(/^diff --git /m).slice(1)) {
    const plus = /^\+\+\+ (?:b\/(.*)|\/dev\/null)$/m.exec(section);
    const minus = /^--- (?:a\/(.*)|\/dev\/null)$/m.exec(section);
    const filename =
      plus?.[1] ?? minus?.[1] ?? /^a\/(\S+) b\//.exec(section)?.[1];
    if (!filename) continue;
    const hunks = section.indexOf('\n@@');
    files.push({
      filename,
      patch: hunks >= 0 ? section.slice(hunks + 1) : undefined,
    });
  }
  return files;
}
