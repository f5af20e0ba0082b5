import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { startS3rver } from '@mainline/test-servers';
import { mockClient } from 'aws-sdk-client-mock';
import { S3PackageCodeHashes } from './S3PackageCodeHashes';

jest.setTimeout(120_000);

const BUCKET = 'packages';
const SHA = '0123456789abcdef0123456789abcdef01234567';
const location = { bucket: BUCKET, prefix: 'invoices' };

describe('S3PackageCodeHashes', () => {
  it('hashes the zips of a stage folder once per ETag, listing afresh every call', async () => {
    const s3 = await startS3rver({ buckets: [BUCKET] });
    try {
      const client = new S3Client(s3.clientOptions);
      const operations: string[] = [];
      client.middlewareStack.add(
        (next, context) => async args => {
          operations.push(context.commandName!.replace(/Command$/, ''));
          return next(args);
        },
        { step: 'initialize' },
      );
      const code = Buffer.from('PK\u0003\u0004 one build');
      const put = (Key: string, Body: Buffer) =>
        client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
      await put(`invoices/${SHA}/stage/invoices.zip`, code);
      await put(
        `invoices/${SHA}/stage/serverless-state.json`,
        Buffer.from('{}'),
      );
      await put(`invoices/${SHA}/prod/invoices.zip`, code);
      const hashes = new S3PackageCodeHashes(async () => client);
      const expected = crypto
        .createHash('sha256')
        .update(code)
        .digest('base64');

      expect(await hashes.codeSha256s(location, SHA, 'stage')).toEqual({
        'invoices.zip': expected,
      });
      expect(await hashes.codeSha256s(location, SHA, 'stage')).toEqual({
        'invoices.zip': expected,
      });
      // s3rver records no checksums: the first call streams the zip, the second lists only.
      expect(operations.filter(o => o !== 'PutObject')).toEqual([
        'ListObjectsV2',
        'GetObject',
        'ListObjectsV2',
      ]);

      // Replaced bytes have another ETag: hashed again.
      const rebuilt = Buffer.from('PK\u0003\u0004 another build');
      await put(`invoices/${SHA}/stage/invoices.zip`, rebuilt);
      expect(await hashes.codeSha256s(location, SHA, 'stage')).toEqual({
        'invoices.zip': crypto
          .createHash('sha256')
          .update(rebuilt)
          .digest('base64'),
      });
      expect(await hashes.codeSha256s(location, SHA, 'demo')).toBeUndefined();
    } finally {
      await s3.close();
    }
  });

  // S3 itself answers a stored checksum in the GetObject headers; s3rver cannot.
  it('takes S3 stored full-object ChecksumSHA256 without reading the body, but not a multipart one', async () => {
    const mock = mockClient(S3Client);
    const stored = crypto.createHash('sha256').update('zip').digest('base64');
    mock.on(ListObjectsV2Command).resolves({
      Contents: [
        { Key: `invoices/${SHA}/stage/a.zip`, ETag: '"1"' },
        { Key: `invoices/${SHA}/stage/b.zip`, ETag: '"2"' },
      ],
    });
    let bodiesRead = 0;
    const body = (text: string) =>
      Readable.from(
        (function* chunks() {
          bodiesRead++;
          yield Buffer.from(text);
        })(),
      ) as any;
    mock
      .on(GetObjectCommand, { Key: `invoices/${SHA}/stage/a.zip` })
      .resolves({
        ChecksumSHA256: stored,
        ChecksumType: 'FULL_OBJECT',
        Body: body('unread'),
      })
      .on(GetObjectCommand, { Key: `invoices/${SHA}/stage/b.zip` })
      .resolves({
        ChecksumSHA256: `${stored}-3`,
        ChecksumType: 'COMPOSITE',
        Body: body('parts'),
      });
    const hashes = new S3PackageCodeHashes(async () => new S3Client({}));
    expect(await hashes.codeSha256s(location, SHA, 'stage')).toEqual({
      'a.zip': stored,
      'b.zip': crypto.createHash('sha256').update('parts').digest('base64'),
    });
    expect(bodiesRead).toBe(1);
    mock.restore();
  });
});
