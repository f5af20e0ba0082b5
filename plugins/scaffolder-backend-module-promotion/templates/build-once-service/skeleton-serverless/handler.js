exports.main = async () => ({ statusCode: 200, body: '${{ values.name }}' });
