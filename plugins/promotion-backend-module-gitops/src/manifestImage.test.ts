import { readImageTag, writeImageTag } from './manifestImage';

function kustomization(images: string): string {
  return [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '  - ../../base',
    'images:',
    images,
    '',
  ].join('\n');
}

describe('readImageTag', () => {
  describe('kustomize images[].newTag', () => {
    it('reads the only image entry, whatever its name', () => {
      const content = kustomization(
        '  - name: something-else\n    newTag: a1b2c3d',
      );
      expect(readImageTag(content, 'local/checkout')).toBe('a1b2c3d');
    });

    it('chooses the entry named like the image repository', () => {
      const content = kustomization(
        [
          '  - name: redis',
          '    newTag: "7.2"',
          '  - name: ghcr.io/acme/checkout-worker',
          '    newTag: 1111111',
          '  - name: ghcr.io/acme/checkout',
          '    newTag: rc-4',
        ].join('\n'),
      );
      expect(readImageTag(content, 'local/checkout')).toBe('rc-4');
      expect(readImageTag(content, 'ghcr.io/acme/checkout-worker')).toBe(
        '1111111',
      );
      expect(
        readImageTag(
          content,
          '123456789012.dkr.ecr.eu-west-1.amazonaws.com/redis',
        ),
      ).toBe('7.2');
    });

    it('is undefined when several entries exist and none is the image', () => {
      const content = kustomization(
        '  - name: redis\n    newTag: "7.2"\n  - name: postgres\n    newTag: "16"',
      );
      expect(readImageTag(content, 'local/checkout')).toBeUndefined();
    });

    it.each([
      ['1.0', '1.0'],
      ['2024.10', '2024.10'],
      ['0123456', '0123456'],
      ['1234567', '1234567'],
      ['1234e56', '1234e56'],
      ['0x1f', '0x1f'],
      ['"1.0"', '1.0'],
      ["'0123456'", '0123456'],
      ['v1.2.3', 'v1.2.3'],
    ])(
      'returns the tag %s as the string written (%s), never a number',
      (written, expected) => {
        const content = kustomization(
          `  - name: checkout\n    newTag: ${written}`,
        );
        const tag = readImageTag(content, 'local/checkout');
        expect(typeof tag).toBe('string');
        expect(tag).toBe(expected);
      },
    );

    it.each([
      ['missing', '  - name: checkout\n    newName: ghcr.io/acme/checkout'],
      ['empty', '  - name: checkout\n    newTag:'],
      ['null', '  - name: checkout\n    newTag: null'],
      ['a list', '  - name: checkout\n    newTag: [a, b]'],
    ])('is undefined when the tag is %s', (_, images) => {
      expect(readImageTag(kustomization(images), 'local/checkout')).toBe(
        undefined,
      );
    });

    it('follows an alias to the tag', () => {
      const content = [
        'x-tag: &tag 0123456',
        'images:',
        '  - name: checkout',
        '    newTag: *tag',
        '',
      ].join('\n');
      expect(readImageTag(content, 'local/checkout')).toBe('0123456');
    });

    it('skips entries without a usable name', () => {
      const content = kustomization(
        '  - newTag: "1"\n  - name: 42\n    newTag: "2"\n  - name: checkout\n    newTag: "3"',
      );
      expect(readImageTag(content, 'local/checkout')).toBe('3');
    });
  });

  describe('Helm values image.tag', () => {
    it('reads image.tag', () => {
      const content =
        'replicaCount: 2\nimage:\n  repository: ghcr.io/acme/checkout\n  tag: rc-2\n';
      expect(readImageTag(content, 'local/checkout')).toBe('rc-2');
    });

    it('returns a numeric-looking tag as written', () => {
      expect(readImageTag('image:\n  tag: 1.0\n', 'local/checkout')).toBe(
        '1.0',
      );
      expect(readImageTag('image:\n  tag: 2024.10\n', 'local/checkout')).toBe(
        '2024.10',
      );
    });

    it.each([
      ['no image', 'replicaCount: 2\n'],
      ['no tag', 'image:\n  repository: ghcr.io/acme/checkout\n'],
      ['a null tag', 'image:\n  tag: ~\n'],
      ['an image string', 'image: ghcr.io/acme/checkout:1.0\n'],
    ])('is undefined with %s', (_, content) => {
      expect(readImageTag(content, 'local/checkout')).toBeUndefined();
    });
  });

  it.each([
    ['an empty file', ''],
    ['a comment only', '# nothing here\n'],
    ['a scalar document', 'just text\n'],
    ['a list document', '- a\n- b\n'],
  ])('is undefined for %s', (_, content) => {
    expect(readImageTag(content, 'local/checkout')).toBeUndefined();
  });

  it('throws on invalid YAML', () => {
    expect(() =>
      readImageTag('images:\n  - name: [checkout\n', 'local/checkout'),
    ).toThrow(/not valid YAML/);
    expect(() =>
      readImageTag('image:\n  tag: a\n tag: b\n', 'local/checkout'),
    ).toThrow(/not valid YAML/);
  });
});

describe('writeImageTag', () => {
  const KUSTOMIZATION = [
    '# demo overlay: Argo CD syncs this file',
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '- ../../base    # shared manifests',
    '',
    'images:',
    '- name: redis',
    "  newTag: '7.2'",
    '- name: ghcr.io/acme/checkout',
    '  newTag: rc-3   # set by Mainline',
    '  newName: ghcr.io/acme/checkout',
    '',
  ].join('\n');

  it('changes only the tag of the entry for the image, keeping comments and layout', () => {
    const updated = writeImageTag(KUSTOMIZATION, 'local/checkout', 'rc-4');

    expect(updated).toBe(
      KUSTOMIZATION.replace(
        '  newTag: rc-3   # set by Mainline',
        '  newTag: rc-4   # set by Mainline',
      ),
    );
    expect(readImageTag(updated, 'local/checkout')).toBe('rc-4');
    expect(readImageTag(updated, 'redis')).toBe('7.2');
  });

  it.each([
    ['plain', 'newTag: rc-3', 'newTag: v1.2.0'],
    ['double-quoted', 'newTag: "rc-3"', 'newTag: "v1.2.0"'],
    ['single-quoted', "newTag: 'rc-3'", "newTag: 'v1.2.0'"],
    ['empty', 'newTag:', 'newTag: v1.2.0'],
    ['null', 'newTag: null', 'newTag: v1.2.0'],
    ['an alias', 'newTag: *tag', 'newTag: v1.2.0'],
    ['a list', 'newTag: [a, b]', 'newTag: v1.2.0'],
  ])('replaces a %s tag in place', (_, before, after) => {
    const content = `x-tag: &tag rc-1\nimages:\n  - name: checkout\n    ${before}\n`;
    expect(writeImageTag(content, 'local/checkout', 'v1.2.0')).toBe(
      `x-tag: &tag rc-1\nimages:\n  - name: checkout\n    ${after}\n`,
    );
  });

  it.each([
    '1234567',
    '0123456',
    '1234e56',
    '2024.10',
    'true',
    'yes',
    'on',
    'null',
    '1_000',
  ])('quotes %s, which a YAML reader would not take for a string', tag => {
    const content = 'images:\n  - name: checkout\n    newTag: rc-1\n';
    const updated = writeImageTag(content, 'local/checkout', tag);
    expect(updated).toBe(`images:\n  - name: checkout\n    newTag: "${tag}"\n`);
    expect(readImageTag(updated, 'local/checkout')).toBe(tag);
  });

  it('adds the tag to an entry that has none, at the entry’s indentation', () => {
    const content = [
      'images:',
      '- name: checkout # the service',
      '  newName: ghcr.io/acme/checkout',
      '- name: redis',
      '  newTag: "7.2"',
      '',
    ].join('\n');
    expect(writeImageTag(content, 'local/checkout', 'rc-2')).toBe(
      [
        'images:',
        '- name: checkout # the service',
        '  newTag: rc-2',
        '  newName: ghcr.io/acme/checkout',
        '- name: redis',
        '  newTag: "7.2"',
        '',
      ].join('\n'),
    );
  });

  it('rewrites a flow-style entry', () => {
    const updated = writeImageTag(
      'images: [{name: checkout, newTag: rc-1}]\n',
      'local/checkout',
      'rc-2',
    );
    expect(updated).toBe('images: [{name: checkout, newTag: rc-2}]\n');
    expect(
      readImageTag(
        writeImageTag('images: [{name: checkout}]\n', 'local/checkout', 'rc-2'),
        'local/checkout',
      ),
    ).toBe('rc-2');
  });

  it('keeps CRLF line breaks', () => {
    const content = 'images:\r\n- name: checkout\r\n  newName: x\r\n';
    expect(writeImageTag(content, 'local/checkout', 'rc-2')).toBe(
      'images:\r\n- name: checkout\r\n  newTag: rc-2\r\n  newName: x\r\n',
    );
  });

  describe('Helm values', () => {
    it('rewrites image.tag, keeping the rest', () => {
      const content = [
        'replicaCount: 3',
        'image:',
        '    repository: ghcr.io/acme/checkout  # ECR in prod',
        '    tag: "2024.10"',
        '    pullPolicy: IfNotPresent',
        '',
      ].join('\n');
      expect(writeImageTag(content, 'local/checkout', 'v2024.11.0')).toBe(
        content.replace('tag: "2024.10"', 'tag: "v2024.11.0"'),
      );
    });

    it('adds a tag to an image map without one', () => {
      const content = 'image:\n  repository: ghcr.io/acme/checkout\n';
      expect(writeImageTag(content, 'local/checkout', 'rc-1')).toBe(
        'image:\n  repository: ghcr.io/acme/checkout\n  tag: rc-1\n',
      );
    });

    it('rewrites a block scalar tag through the document', () => {
      const updated = writeImageTag(
        'image:\n  tag: |\n    rc-1\nreplicaCount: 2\n',
        'local/checkout',
        'rc-2',
      );
      expect(readImageTag(updated, 'local/checkout')).toBe('rc-2');
      expect(updated).toContain('replicaCount: 2');
    });
  });

  it.each([
    [
      'no entry for the image',
      'images:\n  - name: redis\n    newTag: "7"\n  - name: pg\n    newTag: "16"\n',
      /no entry for local\/checkout/,
    ],
    ['no image map', 'replicaCount: 2\n', /no image entry for local\/checkout/],
    ['an image string', 'image: ghcr.io/acme/checkout:1.0\n', /no image entry/],
    ['an empty file', '', /no image entry/],
    [
      'a digest pinned',
      'images:\n  - name: checkout\n    newTag: rc-1\n    digest: sha256:abc\n',
      /pins a digest/,
    ],
    ['invalid YAML', 'images:\n  - name: [checkout\n', /not valid YAML/],
    [
      'an anchor used elsewhere',
      'images:\n  - name: checkout\n    newTag: &t rc-1\nalso: *t\n',
      /without changing anything else/,
    ],
  ])('fails with %s', (_, content, message) => {
    expect(() => writeImageTag(content, 'local/checkout', 'rc-2')).toThrow(
      message,
    );
  });

  it.each(['', '-rc', 'rc 1', 'rc-1\nnewName: evil', 'a'.repeat(129), 'rc:1'])(
    'refuses the image tag %j',
    tag => {
      expect(() =>
        writeImageTag(
          'images:\n  - name: checkout\n    newTag: rc-1\n',
          'local/checkout',
          tag,
        ),
      ).toThrow(/not a valid image tag/);
    },
  );
});

describe('an image tag at a YAML path named by the entity', () => {
  const application = [
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Application',
    'spec:',
    '  source:',
    '    helm:',
    '      valuesObject:',
    '        workers:',
    '          - name: checkout',
    '            image:',
    '              tag: rc-1 # set by Mainline',
    '',
  ].join('\n');
  const at = 'spec.source.helm.valuesObject.workers[0].image.tag';

  it('reads and rewrites only that key, keeping the comment', () => {
    expect(readImageTag(application, 'local/checkout', at)).toBe('rc-1');
    const updated = writeImageTag(application, 'local/checkout', 'v1.2.0', at);
    expect(updated).toBe(application.replace('tag: rc-1 #', 'tag: v1.2.0 #'));
  });

  it('says when the path leads nowhere, or is not a path', () => {
    expect(
      readImageTag(application, 'local/checkout', 'spec.nothing.tag'),
    ).toBe(undefined);
    expect(() =>
      writeImageTag(application, 'local/checkout', 'v1', 'spec.nothing.tag'),
    ).toThrow(/no mapping at spec.nothing.tag/);
    expect(() =>
      readImageTag(application, 'local/checkout', 'spec..tag'),
    ).toThrow(/not a YAML path/);
  });
});
