const assert = require('node:assert');
const { once } = require('node:events');
const test = require('node:test');
const { createServer } = require('../index');

test('answers with the service name', async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const res = await fetch(`http://127.0.0.1:${server.address().port}/`);
    assert.strictEqual(res.status, 200);
    assert.strictEqual(await res.text(), '${{ values.name }}\n');
  } finally {
    server.close();
  }
});
