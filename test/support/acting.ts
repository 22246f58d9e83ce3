import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, quote, scanRequest, waitForScan } from './http.ts';
import type { Stack } from './stack.ts';

export interface TestFile {
  dir: string;
  name: string;
  size: number;
  /** Unix seconds used as access, modification and creation time unless given. */
  atime: number;
  mtime?: number;
  frn?: string;
}

/** Scan one share through the API with the given files and wait until the scan is OK. */
export async function ingestShare(
  stack: Stack,
  tenant: ProvisionedTenant,
  share: string,
  files: TestFile[],
  pathStyle: 'windows' | 'posix' = 'windows',
): Promise<void> {
  const api = stack.api!.url;
  const opened = await call(api, 'POST', '/v1/scans', {
    token: tenant.agentToken,
    json: scanRequest({ shareName: share, pathStyle, rootPath: pathStyle === 'windows' ? 'D:\\' : '/' }),
  });
  expect(opened.status).to.equal(201);

  const withFrn = files.some((file) => file.frn !== undefined);
  const header = withFrn ? HEADER.replace('\n', ',frn\n') : HEADER;
  const lines = files.map((file) => {
    const times = `${file.atime},${file.mtime ?? file.atime},${Math.min(file.atime, file.mtime ?? file.atime)}`;
    return `${quote(file.dir)},${quote(file.name)},${file.size},${times}${withFrn ? `,${file.frn ?? ''}` : ''}\n`;
  });
  const put = await putChunk(api, tenant.agentToken, opened.body.scanGuid, 0, header + lines.join(''));
  expect(put.status, JSON.stringify(put.body)).to.equal(200);
  await call(api, 'POST', `/v1/scans/${opened.body.scanGuid}/complete`, {
    token: tenant.agentToken,
    json: { chunkCount: 1, rowCount: files.length, unreadableCount: 0 },
  });
  expect((await waitForScan(api, tenant.agentToken, opened.body.scanGuid)).status).to.equal('OK');
}

/** Claim actions as an agent would. */
export function claim(stack: Stack, token: string, body: Record<string, unknown>) {
  return call(stack.api!.url, 'POST', '/v1/actions/claim', { token, json: body });
}

/** Report a batch of results as an agent would. */
export function report(stack: Stack, token: string, results: Record<string, unknown>[]) {
  return call(stack.api!.url, 'POST', '/v1/actions/results', { token, json: { results } });
}

export const SHA_A = 'a'.repeat(64);
