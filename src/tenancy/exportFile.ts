import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { StrataError } from '../errors.ts';

/**
 * A tenant export file is three parts: the line `STRATA-TENANT-EXPORT 1`, one line of
 * JSON (the manifest below), then a pg_dump archive in custom format of the tenant's
 * schema, byte for byte. The manifest's SHA-256 of the archive detects a damaged or
 * truncated file; it does not authenticate the file.
 */
const MAGIC = 'STRATA-TENANT-EXPORT 1';
const MAX_HEADER_BYTES = 1024 * 1024;

export interface ExportManifest {
  exportedAt: string;
  tenant: {
    id: string;
    code: string;
    name: string;
    status: 'ACTIVE' | 'SUSPENDED';
    schemaName: string;
    schemaVersion: string | null;
  };
  /** The schema's own migration ledger, in order. */
  migrations: string[];
  source: { serverVersion: string; pgDumpVersion: string };
  archive: { sha256: string; bytes: number };
}

/** Write the export file: header, manifest, then the archive copied from `archivePath`. */
export async function writeExportFile(file: string, manifest: Omit<ExportManifest, 'archive'>, archivePath: string): Promise<ExportManifest> {
  const archive = { sha256: await sha256OfFile(archivePath), bytes: (await stat(archivePath)).size };
  const complete: ExportManifest = { ...manifest, archive };

  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  out.write(`${MAGIC}\n${JSON.stringify(complete)}\n`);
  await pipeline(createReadStream(archivePath), out);
  return complete;
}

/**
 * Read and check an export file's manifest, and verify the archive's length and
 * SHA-256. Returns the manifest and where the archive starts.
 */
export async function readExportFile(file: string): Promise<{ manifest: ExportManifest; archiveOffset: number }> {
  const handle = await open(file, 'r');
  let header: Buffer;
  try {
    const buffer = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    header = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }

  const firstEnd = header.indexOf('\n');
  if (firstEnd === -1 || header.subarray(0, firstEnd).toString('latin1') !== MAGIC) {
    throw invalidFile(`${file} is not a Strata tenant export (it does not start with "${MAGIC}")`);
  }
  const secondEnd = header.indexOf('\n', firstEnd + 1);
  if (secondEnd === -1) throw invalidFile(`${file} has no complete manifest line`);

  const manifest = parseManifest(header.subarray(firstEnd + 1, secondEnd).toString('utf8'), file);
  const archiveOffset = secondEnd + 1;
  const size = (await stat(file)).size;
  if (size - archiveOffset !== manifest.archive.bytes) {
    throw invalidFile(`${file} contains ${size - archiveOffset} archive bytes, but its manifest says ${manifest.archive.bytes}; the file is truncated or damaged`);
  }
  const digest = await sha256OfFile(file, archiveOffset);
  if (digest !== manifest.archive.sha256) throw invalidFile(`${file}: the archive's SHA-256 does not match its manifest; the file is damaged`);

  return { manifest, archiveOffset };
}

/** Return a stream of the archive part of a checked export file, for pg_restore's stdin. */
export function archiveStream(file: string, archiveOffset: number): Readable {
  return createReadStream(file, { start: archiveOffset });
}

function parseManifest(text: string, file: string): ExportManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidFile(`${file}: the manifest is not valid JSON (${(error as Error).message})`);
  }

  const manifest = value as ExportManifest;
  const tenant = manifest?.tenant;
  const valid =
    typeof tenant?.id === 'string' &&
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(tenant.id) &&
    typeof tenant.code === 'string' &&
    typeof tenant.name === 'string' &&
    (tenant.status === 'ACTIVE' || tenant.status === 'SUSPENDED') &&
    tenant.schemaName === `t_${tenant.code}` &&
    Array.isArray(manifest.migrations) &&
    manifest.migrations.every((name) => typeof name === 'string') &&
    typeof manifest.archive?.sha256 === 'string' &&
    Number.isSafeInteger(manifest.archive?.bytes);
  if (!valid) throw invalidFile(`${file}: the manifest lacks a field or has one of the wrong form`);
  return manifest;
}

async function sha256OfFile(file: string, start = 0): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { start })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function invalidFile(message: string): StrataError {
  return StrataError.invalid('INVALID_EXPORT', message);
}
