require('node:http')
  .createServer((_req, res) => res.end('${{ values.name }}\n'))
  .listen(process.env.PORT ?? 8080);
