import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface S3rverServer {
  /** The endpoint for `S3Client` (`http://127.0.0.1:PORT`). */
  endpoint: string;
  /** The options `@aws-sdk/client-s3` needs to talk to s3rver (see s3ClientOptions). */
  clientOptions: ReturnType<typeof s3ClientOptions>;
  /** Where s3rver keeps the objects. */
  directory: string;
  /**
   * Sets an object's last-modified time, as if it had been uploaded then (fixtures that replay a
   * build history). s3rver answers LastModified from the stored file's mtime.
   */
  setLastModified(bucket: string, key: string, at: Date): Promise<void>;
  close(): Promise<void>;
}

/**
 * Client options for s3rver and other S3-compatible stores: path-style addressing (no bucket
 * subdomains on loopback) and checksums only when required (otherwise the SDK frames streamed
 * uploads with aws-chunked bytes that s3rver stores as content).
 */
export function s3ClientOptions(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  };
}

/** Starts s3rver (npm) on a free loopback port with the given buckets. */
export async function startS3rver(
  options: { buckets?: string[]; directory?: string } = {},
): Promise<S3rverServer> {
  const directory =
    options.directory ??
    (await fs.mkdtemp(path.join(os.tmpdir(), 'mainline-s3rver-')));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      // Beside this file in the source tree (the package is only ever run from source).
      // eslint-disable-next-line no-restricted-syntax
      path.join(__dirname, 's3rverProcess.cjs'),
      directory,
      (options.buckets ?? []).join(','),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', data => resolve(Number(String(data).trim())));
    child.once('exit', code =>
      reject(new Error(`s3rver exited with code ${code} before listening`)),
    );
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    clientOptions: s3ClientOptions(endpoint),
    directory,
    async setLastModified(bucket, key, at) {
      const parts = key.split('/');
      const name = parts.pop()!;
      const file = path.join(
        directory,
        bucket,
        ...parts,
        `${name}._S3rver_object`,
      );
      // s3rver answers a PUT of a body it holds in memory before its write stream has even
      // opened the file (`writeStream.end(buffer)` and resolve), so right after the SDK's send()
      // the file can be missing, or still be written, which would move its mtime again. Set it
      // and check that it held.
      const wanted = at.getTime();
      for (let attempt = 0; ; attempt++) {
        try {
          await fs.utimes(file, at, at);
          await new Promise(resolve => setTimeout(resolve, 20));
          const { mtimeMs } = await fs.stat(file);
          if (Math.abs(mtimeMs - wanted) < 1000) return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
        if (attempt >= 100) {
          throw new Error(`s3rver never stored ${bucket}/${key}`);
        }
        await new Promise(resolve => setTimeout(resolve, 20));
      }
    },
    close: async () => {
      await new Promise<void>(resolve => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      if (!options.directory) {
        await fs.rm(directory, { recursive: true, force: true });
      }
    },
  };
}
