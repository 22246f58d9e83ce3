import { expect } from 'chai';
import pg from 'pg';
import { Roles, RUNTIME_ROLES } from '../../src/db/roles.ts';
import { scramSha256Secret } from '../../src/db/rolePassword.ts';
import { SqlState } from '../../src/db/sqlstate.ts';
import { StrataError } from '../../src/errors.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { setUpLoginRole } from '../../src/tenancy/loginRole.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, waitForScan } from '../support/http.ts';
import { createTestLogin, type TestLogin } from '../support/loginRole.ts';
import { serveAs, type Serving } from '../support/serveAs.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('runtime login role', () => {
  let stack: Stack;
  let login: TestLogin;
  let acme: ProvisionedTenant;

  before(async () => {
    // pg-boss starts here as the superuser, as it did before a runtime login existed.
    stack = await startStack('login_role', { api: false, workers: false, boss: true });
    acme = await createTenant(stack, 'acme');
    login = await createTestLogin(stack, 'login');
  });
  after(async () => {
    await stack?.close();
    await login?.drop();
  });

  /** Run `work` in a transaction that is rolled back afterwards. */
  async function inRolledBack<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      return await work(client);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  describe('setting up', () => {
    it('makes a NOINHERIT login without privileged attributes', async () => {
      const { rows } = await stack.services.pool.query(
        `SELECT rolcanlogin, rolinherit, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication
           FROM pg_roles WHERE rolname = $1`,
        [login.role],
      );
      expect(rows[0]).to.deep.equal({
        rolcanlogin: true,
        rolinherit: false,
        rolsuper: false,
        rolbypassrls: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
      });
    });

    it('makes it a member of each runtime role and not of the owner', async () => {
      const { rows } = await stack.services.pool.query(
        `SELECT m.roleid::regrole::text AS role FROM pg_auth_members m WHERE m.member = $1::regrole ORDER BY 1`,
        [login.role],
      );
      expect(rows.map((row) => row.role)).to.have.members([...RUNTIME_ROLES]);
    });

    it('gives it the pg-boss schema and everything in it', async () => {
      const { rows } = await stack.services.pool.query(
        `SELECT count(*)::int AS foreign_owned FROM pg_class
          WHERE relnamespace = 'pgboss'::regnamespace AND relowner <> $1::regrole`,
        [login.role],
      );
      expect(rows[0].foreign_owned).to.equal(0);
      const schema = await stack.services.pool.query("SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'pgboss'");
      expect(schema.rows[0].owner).to.equal(login.role);
    });

    it('changes nothing when run again', async () => {
      const result = await inRolledBack((client) => setUpLoginRole(client, { role: login.role }));
      expect(result).to.deep.equal({ created: false, passwordSet: false, granted: [], revoked: [], jobsObjectsAdopted: 0 });
    });

    it('repairs a login set up the old way, as the migration login', async () => {
      const { result, attributes } = await inRolledBack(async (client) => {
        await client.query(`GRANT ${Roles.owner} TO ${login.role}`);
        await client.query(`ALTER ROLE ${login.role} INHERIT CREATEROLE`);
        const result = await setUpLoginRole(client, { role: login.role });
        const attributes = await client.query('SELECT rolinherit, rolcreaterole FROM pg_roles WHERE rolname = $1', [login.role]);
        return { result, attributes: attributes.rows[0] };
      });
      expect(result.revoked).to.deep.equal([Roles.owner]);
      expect(attributes).to.deep.equal({ rolinherit: false, rolcreaterole: false });
    });

    for (const name of ['strata_owner', 'pg_monitor', 'StrataApp', 'strata-app']) {
      it(`rejects the login name ${name}`, async () => {
        let failure: unknown;
        try {
          await inRolledBack((client) => setUpLoginRole(client, { role: name }));
        } catch (error) {
          failure = error;
        }
        expect(failure).to.be.instanceOf(StrataError);
        expect((failure as StrataError).code).to.equal('INVALID_ROLE_NAME');
      });
    }

    it('stores the SCRAM secret PostgreSQL computes for the password', async () => {
      const password = 'correct horse battery staple';
      const stored = await inRolledBack(async (client) => {
        await client.query("SET LOCAL password_encryption = 'scram-sha-256'");
        await client.query(`ALTER ROLE ${login.role} PASSWORD ${client.escapeLiteral(password)}`);
        return (await client.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [login.role])).rows[0].rolpassword as string;
      });
      const salt = Buffer.from(/^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(stored)![1]!, 'base64');
      expect(scramSha256Secret(password, salt)).to.equal(stored);
    });
  });

  describe('connected as the login', () => {
    let client: pg.Client;

    before(async () => {
      client = new pg.Client({ connectionString: login.url });
      await client.connect();
    });
    after(async () => client?.end());

    async function attempt(sql: string): Promise<string | undefined> {
      try {
        await client.query(sql);
        return undefined;
      } catch (error) {
        return (error as { code?: string }).code;
      }
    }

    it('reads the registry but no tenant schema before SET ROLE', async () => {
      expect(await attempt('SELECT id FROM control.tenant')).to.equal(undefined);
      expect(await attempt(`SELECT * FROM ${acme.schemaName}.scan`)).to.equal(SqlState.insufficientPrivilege);
    });

    it('cannot change the registry or read the migration ledgers', async () => {
      expect(await attempt("UPDATE control.tenant SET status = 'ACTIVE'")).to.equal(SqlState.insufficientPrivilege);
      expect(await attempt('SELECT * FROM control.mikro_orm_migrations')).to.equal(SqlState.insufficientPrivilege);
    });

    it('cannot SET ROLE to the owner of the tenant tables', async () => {
      expect(await attempt(`SET ROLE ${Roles.owner}`)).to.equal(SqlState.insufficientPrivilege);
    });

    it('cannot create a schema', async () => {
      expect(await attempt('CREATE SCHEMA sneaky')).to.equal(SqlState.insufficientPrivilege);
    });
  });

  describe('serving', () => {
    let serving: Serving;

    before(async () => {
      serving = await serveAs(stack, login.url);
    });
    after(async () => serving?.close());

    it('passes the self-check without the override', () => {
      expect(serving.selfCheck.login).to.equal(login.role);
      expect(serving.selfCheck.waived).to.deep.equal([]);
    });

    it('ingests and plans a scan', async () => {
      const url = serving.api.url;
      const opened = await call(url, 'POST', '/v1/scans', { token: acme.agentToken, json: scanRequest() });
      expect(opened.status).to.equal(201);
      const guid = opened.body.scanGuid as string;

      const chunk = await putChunk(url, acme.agentToken, guid, 0, `${HEADER}"D:\\a","old.txt",10,1,1,1\n"D:\\a","older.txt",20,1,1,1\n`);
      expect(chunk.status).to.equal(200);
      const completed = await call(url, 'POST', `/v1/scans/${guid}/complete`, {
        token: acme.agentToken,
        json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 },
      });
      expect(completed.status).to.equal(200);
      expect((await waitForScan(url, acme.agentToken, guid)).fileCount).to.equal(2);

      const plan = await planColdFiles(serving.services.pool, acme, { olderThanSeconds: 86_400, plannedBy: 'test', apply: true });
      expect(plan.plannedFiles).to.equal(2);
    });
  });
});
