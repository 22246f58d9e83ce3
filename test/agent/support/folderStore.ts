/**
 * A minimal Tier-2 store on a local folder, for the agent's unit tests until the real
 * FsStore is available: each object is a file under the root, written to a temporary
 * name and renamed into place.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';

import type { PutOptions, Tier2Object, Tier2Page, Tier2Store } from '../../../src/tier2/tier2Store.ts';

export class FolderStore implements Tier2Store {
  readonly kind = 'fs' as const;
  readonly root: string;
  puts = 0;

  constructor(root: string) {
    this.root = root;
  }

  async put(key: string, body: Readable, options: PutOptions): Promise<void> {
    const target = this.#path(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.part`;
    await pipeline(body, createWriteStream(temp));
    await writeFile(`${temp}.sha256`, options.sha256);
    await rename(`${temp}.sha256`, `${target}.sha256`);
    await rename(temp, target);
    this.puts++;
  }

  async head(key: string): Promise<Tier2Object | null> {
    try {
      const stats = await stat(this.#path(key));
      const sha256 = await readFile(`${this.#path(key)}.sha256`, 'utf8').catch(() => undefined);
      return { key, sizeBytes: stats.size, sha256, lastModified: stats.mtime };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return null;
      }
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    await stat(this.#path(key));
    return createReadStream(this.#path(key));
  }

  async list(): Promise<Tier2Page> {
    throw new Error('FolderStore.list is not used by the agent tests');
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
    await rm(`${this.#path(key)}.sha256`, { force: true });
  }

  async move(): Promise<void> {
    throw new Error('FolderStore.move is not used by the agent tests');
  }

  #path(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }
}
