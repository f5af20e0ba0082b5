import { filePatchesOfDiff, patchIdentity } from './patchId';

describe('patchIdentity', () => {
  const diff = (removed: string[]) =>
    [
      'diff --git a/deploy/values.yaml b/deploy/values.yaml',
      'index 1111111..2222222 100644',
      '--- a/deploy/values.yaml',
      '+++ b/deploy/values.yaml',
      '@@ -1,3 +1,1 @@',
      ...removed.map(line => `-${line}`),
      ' image: x',
      '',
    ].join('\n');

  it('counts content lines that look like file headers (a removed `---` or `-- x`)', () => {
    const [file] = filePatchesOfDiff(diff(['---', '-- comment']));
    expect(file.filename).toBe('deploy/values.yaml');
    expect(file.patch?.startsWith('@@')).toBe(true);

    const withHeaderLikeLines = patchIdentity([file]);
    expect(withHeaderLikeLines).toMatch(/^[0-9a-f]{40}$/);
    expect(patchIdentity(filePatchesOfDiff(diff(['---'])))).not.toBe(
      withHeaderLikeLines,
    );
    // GitHub's `patch` starts at the first hunk as well: the same change, the same id.
    expect(
      patchIdentity([
        {
          filename: 'deploy/values.yaml',
          patch: '@@ -10,3 +10,1 @@\n----\n--- comment\n image: x',
        },
      ]),
    ).toBe(withHeaderLikeLines);
  });
});
