import fs from 'node:fs';
import path from 'node:path';

// The adopter's guide shows the frontend snippets as text; the files behind them are type-checked
// (root tsconfig includes docs/snippets, and the adoption check compiles them inside a fresh app).
// This keeps the text the adopter copies identical to the checked files.
const repoRoot = path.resolve(__dirname, '../../..');
const guide = fs.readFileSync(path.join(repoRoot, 'docs/adopting.md'), 'utf8');

describe('docs/adopting.md', () => {
  const blocks = [
    ...guide.matchAll(/<!-- snippet: (\S+) -->\n\n```tsx\n([\s\S]*?)```/g),
  ];

  it('shows both frontend snippets', () => {
    expect(blocks.map(b => b[1])).toEqual([
      'docs/snippets/new-frontend-system.tsx',
      'docs/snippets/legacy-frontend-system.tsx',
    ]);
  });

  it.each(blocks.map(b => [b[1], b[2]]))(
    'shows %s exactly as the type-checked file',
    (file, text) => {
      expect(text).toBe(fs.readFileSync(path.join(repoRoot, file), 'utf8'));
    },
  );
});
