import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, startHeldUpload } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { startApiChild, type ApiChild } from './support/apiChild.ts';

/**
 * PostgreSQL ends a connection that a request has checked out, between two statements, as a fast
 * shutdown, a failover or pg_terminate_backend does. The request may fail, but the
 * `strata api` process must stay up for the others and for the client's retry.
 */
describe('API when PostgreSQL ends a connection', () => {
  const APPLICATION = 'faults-ended-connection-api';
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let child: ApiChild;

  before(async () => {
    stack = await startStack('ended_connection', { api: false, workers: true });
    tenant = await createTenant(stack, 'acme');

    child = await startApiChild(stack, APPLICATION);
  });

  after(async () => {
    await child?.stop();
    await stack?.close();
  });

  it('survives the end of a connection in a transaction', async () => {
    const request = scanRequest();
    const token = tenant.agentToken;
    const csv = `${HEADER}"D:\\x","a.txt",10,100,200,300\n`;
    await call(child.api.url!, 'POST', '/v1/scans', { token, json: request });
    expect((await putChunk(child.api.url!, token, request.scanGuid, 0, csv, { gzip: false })).status).to.equal(200);

    // A repeat of a received chunk reads its whole body inside the transaction, to
    // compare hashes. Holding the body open keeps the connection idle in that transaction.
    const held = await startHeldUpload(child.api.url!, token, request.scanGuid, 0, csv, 500);
    const { rows } = await stack.services.pool.query(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
        WHERE application_name = $1 AND state = 'idle in transaction'`,
      [APPLICATION],
    );
    expect(rows.map((row) => row.ended)).to.deep.equal([true]);

    // Give an 'error' event on the connection time to arrive before the body goes on.
    await new Promise((resolve) => setTimeout(resolve, 500));
    held.release();
    const response = await held.response.catch((error: unknown) => error);
    expect(child.unexpectedExits, `the API exited; its log is in ${child.logFolder}`).to.deep.equal([]);
    expect(response).to.be.instanceOf(Response);
    expect((response as Response).status).to.equal(500);

    // The ledger replays the first receipt to the client's retry.
    const retry = await putChunk(child.api.url!, token, request.scanGuid, 0, csv, { gzip: false });
    expect(retry.status).to.equal(200);
    expect(retry.body.replayed).to.equal(true);
  });
});
