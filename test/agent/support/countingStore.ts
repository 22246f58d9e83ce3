/** The real filesystem Tier-2 store, counting its uploads so tests can see that nothing was copied twice. */
import type { Readable } from 'node:stream';

import { FsStore } from '../../../src/tier2/fsStore.ts';
import type { PutOptions } from '../../../src/tier2/tier2Store.ts';

export class CountingFsStore extends FsStore {
  /** The folder objects are stored under, as `<root>/<key>`. */
  readonly folder: string;
  puts = 0;
  /** Runs after each put, to stand for a disk that changes what was written. */
  afterPut: (() => Promise<void>) | undefined;

  constructor(root: string) {
    super(root);
    this.folder = root;
  }

  override async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<void> {
    this.puts++;
    await super.put(key, body, options);
    await this.afterPut?.();
  }
}
