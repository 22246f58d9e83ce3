import { testServer } from './database.ts';

/**
 * Root hooks: report which PostgreSQL the run uses, and stop it at the end. Each test
 * file still gets a database of its own.
 */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(120_000);
    const server = await testServer();
    console.log(`  PostgreSQL for tests: ${server.source}`);
  },

  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    const server = await testServer();
    await server.stop();
  },
};
