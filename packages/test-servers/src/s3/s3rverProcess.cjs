// Runs s3rver in its own process (started with --openssl-legacy-provider, which its
// continuation tokens need) and prints the port it listens on.
const S3rver = require('s3rver');

const [directory, buckets] = process.argv.slice(2);
new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: (buckets ?? '')
    .split(',')
    .filter(Boolean)
    .map(name => ({ name })),
})
  .run()
  .then(({ port }) => process.stdout.write(`${port}\n`));
