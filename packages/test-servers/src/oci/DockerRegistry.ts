import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface DockerRegistryServer {
  /** `http://127.0.0.1:PORT`, the registry's base (the distribution API is under `/v2/`). */
  url: string;
  /** `127.0.0.1:PORT`, as an image reference names the registry. */
  host: string;
  /** Uploads a blob (if absent) and returns its digest. */
  pushBlob(repository: string, blob: Buffer): Promise<string>;
  /** Stores exact manifest bytes under a reference (tag or digest); returns the digest. */
  putManifest(
    repository: string,
    reference: string,
    manifest: Buffer,
    mediaType?: string,
  ): Promise<string>;
  /**
   * Pushes a single-platform OCI image (its config as JSON, its layers) under every tag; returns
   * the manifest's digest.
   */
  pushImage(
    repository: string,
    tags: string[],
    image: { config: object; layers: Buffer[] },
  ): Promise<string>;
  close(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

const digestOf = (data: Buffer) =>
  `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

/**
 * Starts Debian's `docker-registry` (the CNCF distribution registry) on a free loopback port,
 * storage in a temporary directory, deletes enabled (a yank deletes manifests by digest).
 */
export async function startDockerRegistry(): Promise<DockerRegistryServer> {
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry']);
  } catch {
    throw new Error(
      'docker-registry is not installed: apt-get install -y --no-install-recommends docker-registry',
    );
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mainline-registry-'));
  const port = await freePort();
  const configFile = path.join(dir, 'config.yml');
  await fs.writeFile(
    configFile,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      'health:',
      '  storagedriver:',
      '    enabled: false',
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', data => {
    stderr += String(data);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`docker-registry exited: ${stderr.slice(-500)}`);
    }
    try {
      if ((await fetch(`${url}/v2/`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`docker-registry did not answer on ${url}`);
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }

  const server: DockerRegistryServer = {
    url,
    host: `127.0.0.1:${port}`,
    async pushBlob(repository, blob) {
      const digest = digestOf(blob);
      const head = await fetch(`${url}/v2/${repository}/blobs/${digest}`, {
        method: 'HEAD',
      });
      if (head.ok) return digest;
      const start = await fetch(`${url}/v2/${repository}/blobs/uploads/`, {
        method: 'POST',
      });
      if (start.status !== 202) {
        throw new Error(
          `blob upload to ${repository} refused: ${start.status}`,
        );
      }
      const location = new URL(start.headers.get('location')!, url);
      location.searchParams.set('digest', digest);
      const put = await fetch(location, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: blob,
      });
      if (put.status !== 201) {
        throw new Error(
          `blob ${digest} refused: ${put.status} ${await put.text()}`,
        );
      }
      return digest;
    },
    async putManifest(repository, reference, manifest, mediaType) {
      const type =
        mediaType ??
        (JSON.parse(manifest.toString('utf8')).mediaType as string) ??
        'application/vnd.oci.image.manifest.v1+json';
      const put = await fetch(
        `${url}/v2/${repository}/manifests/${reference}`,
        {
          method: 'PUT',
          headers: { 'content-type': type },
          body: manifest,
        },
      );
      if (put.status !== 201) {
        throw new Error(
          `manifest ${reference} refused: ${put.status} ${await put.text()}`,
        );
      }
      return put.headers.get('docker-content-digest') ?? digestOf(manifest);
    },
    async pushImage(repository, tags, image) {
      const config = Buffer.from(JSON.stringify(image.config));
      const descriptor = async (mediaType: string, blob: Buffer) => ({
        mediaType,
        digest: await server.pushBlob(repository, blob),
        size: blob.length,
      });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: await descriptor(
            'application/vnd.oci.image.config.v1+json',
            config,
          ),
          layers: await Promise.all(
            image.layers.map(layer =>
              descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer),
            ),
          ),
        }),
      );
      let digest = digestOf(manifest);
      for (const tag of tags) {
        digest = await server.putManifest(repository, tag, manifest);
      }
      return digest;
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
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}
