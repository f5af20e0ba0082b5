import { readImageTag } from './manifestImage';

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
