import { execFileSync } from 'node:child_process';
import path from 'node:path';

describe('openapi.generated.ts', () => {
  it('matches openapi.yaml (regenerate with node scripts/openapi-generate.mjs plugins/promotion-backend)', () => {
    const root = path.resolve(__dirname, '../../../..');
    expect(() =>
      execFileSync(
        process.execPath,
        [
          'scripts/openapi-generate.mjs',
          'plugins/promotion-backend',
          '--check',
        ],
        { cwd: root, stdio: 'pipe' },
      ),
    ).not.toThrow();
  });
});
