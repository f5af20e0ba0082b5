const http = require('node:http');

/** The service: answers every request with its name. */
function createServer() {
  return http.createServer((_req, res) => res.end('${{ values.name }}\n'));
}

if (require.main === module) {
  createServer().listen(process.env.PORT ?? 8080);
}

module.exports = { createServer };
