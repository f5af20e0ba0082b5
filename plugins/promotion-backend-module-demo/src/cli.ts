/*
 * Generates the embedded default's demo data without starting Backstage:
 *   yarn demo:generate [dataDir]       (default: data/promotion)
 * The backend records the demo's tombstones in its database on its next start.
 */
import path from 'node:path';
import { generateDemoData } from './generateDemoData';

const dataDir = path.resolve(process.argv[2] ?? 'data/promotion');
const started = Date.now();
generateDemoData(dataDir).then(
  manifest => {
    process.stdout.write(
      `Generated demo data for ${manifest.services.join(', ')} in ${dataDir} (${
        Date.now() - started
      } ms); ${manifest.yanks.length} yanked commits\n`,
    );
  },
  error => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  },
);
