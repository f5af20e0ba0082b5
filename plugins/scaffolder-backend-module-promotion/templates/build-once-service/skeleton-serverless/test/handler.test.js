const assert = require('node:assert');
const test = require('node:test');
const { main } = require('../handler');

test('answers 200 with the service name', async () => {
  assert.deepStrictEqual(await main({}), {
    statusCode: 200,
    body: '${{ values.name }}',
  });
});
