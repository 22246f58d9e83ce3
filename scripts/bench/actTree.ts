/**
 * The tree the act benchmark tiers: small and medium files with sizes skewed toward
 * small ones, as on a typical file server, generated from a seed so runs compare.
 */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { SeededRandom } from '../faults/random.ts';

/** Size classes: share of files, smallest and largest size in bytes. */
const SIZE_CLASSES: readonly { share: number; min: number; max: number }[] = [
  { share: 0.6, min: 1024, max: 16 * 1024 },
  { share: 0.25, min: 16 * 1024, max: 256 * 1024 },
  { share: 0.12, min: 256 * 1024, max: 1024 * 1024 },
  { share: 0.03, min: 1024 * 1024, max: 4 * 1024 * 1024 },
];

const FILES_PER_FOLDER = 100;

/** Bytes of seeded noise that files take their content from, at seeded offsets. */
const NOISE_BYTES = 8 * 1024 * 1024;

export interface ActTree {
  files: number;
  bytes: number;
}

/** Draws one file size: a size class by its share, then a size within it, uniform on a log scale. */
export function drawSize(random: SeededRandom): number {
  let pick = random.next();
  for (const sizeClass of SIZE_CLASSES) {
    pick -= sizeClass.share;
    if (pick < 0 || sizeClass === SIZE_CLASSES.at(-1)) {
      const logSize = Math.log(sizeClass.min) + random.next() * (Math.log(sizeClass.max) - Math.log(sizeClass.min));
      return Math.round(Math.exp(logSize));
    }
  }
  throw new Error('unreachable: the size classes cover [0, 1)');
}

/**
 * Writes `files` files under `root`, 100 per folder, each with distinct content, and
 * sets their access and modification times to `timeUnix` so the plan selects them.
 */
export async function writeActTree(root: string, files: number, seed: number, timeUnix: number): Promise<ActTree> {
  const random = new SeededRandom(seed);
  const noise = Buffer.alloc(NOISE_BYTES);
  for (let offset = 0; offset < NOISE_BYTES; offset += 4) {
    noise.writeUInt32LE(Math.floor(random.next() * 2 ** 32), offset);
  }

  let bytes = 0;
  for (let index = 0; index < files; index++) {
    const folder = path.join(root, `dept-${Math.floor(index / (FILES_PER_FOLDER * 10))}`, `folder-${Math.floor(index / FILES_PER_FOLDER)}`);
    if (index % FILES_PER_FOLDER === 0) {
      await mkdir(folder, { recursive: true });
    }

    const size = drawSize(random);
    const offset = random.integer(0, NOISE_BYTES - size);
    const content = Buffer.from(noise.subarray(offset, offset + size));

    // The index in the first bytes makes every file's content, and so its hash, distinct.
    content.write(`file ${index}\n`, 0, 'latin1');
    const filePath = path.join(folder, `document ${index}.dat`);
    await writeFile(filePath, content);
    await utimes(filePath, timeUnix, timeUnix);
    bytes += size;
  }
  return { files, bytes };
}
