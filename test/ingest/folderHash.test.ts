import { expect } from 'chai';
import pg from 'pg';
import { folderHash } from '../../src/ingest/folderHash.ts';
import { testServer } from '../support/database.ts';

/** Strings of every length from 0 to 40 bytes and beyond, ASCII and multi-byte, seeded. */
function samples(): string[] {
  const alphabet = ['a', 'Z', '\\', '/', 'é', '設', '😀', ' ', '"', '\u0301', 'ß', '0', '\n'];
  let state = 7;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };

  const out = ['', 'C:\\', '/'];
  for (let length = 1; length <= 40; length++) {
    for (let i = 0; i < 12; i++) out.push(Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
  }
  out.push('D:\\Shares\\'.repeat(400));
  return out;
}

describe('folderHash', () => {
  it("equals PostgreSQL's hashtextextended", async () => {
    const server = await testServer();
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const paths = samples();
      const { rows } = await client.query<{ path: string; hash: string }>(
        'SELECT path, hashtextextended(path, 0)::text AS hash FROM unnest($1::text[]) WITH ORDINALITY AS s (path, n) ORDER BY n',
        [paths],
      );

      expect(rows.map((row) => folderHash(row.path).toString())).to.deep.equal(rows.map((row) => row.hash));
      expect(rows.length).to.equal(paths.length);
    } finally {
      await client.end();
    }
  });

});
