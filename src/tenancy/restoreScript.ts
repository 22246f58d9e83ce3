import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { StrataError } from '../errors.ts';
import { quoteLiteral, quoteName, takeStatements, tokenize, unquote, type Token } from './sqlTokens.ts';

/** The old and new schema name and tenant id of a restore. */
export interface TenantRename {
  fromSchema: string;
  toSchema: string;
  fromTenantId: string;
  toTenantId: string;
}

export interface RestoreStats {
  statements: number;
  tables: number;
  rows: number;
}

/**
 * Execute a pg_restore script (`pg_restore --file=-`) of one tenant schema on
 * `client`, inside the caller's transaction, renaming the tenant on the way:
 *
 * - In statements, an identifier equal to the old schema name becomes the new one, as
 *   does a string literal equal to it (a pinned function `search_path`) or starting
 *   with `<old schema>.` (a `regclass` literal such as `nextval('t_a.seq')`). A string
 *   literal equal to the old tenant id becomes the new id (the tenant CHECK of a
 *   stager-owned partition). Dollar-quoted bodies are not changed; the caller checks
 *   afterwards that none still names the old schema or tenant.
 * - In COPY data, the `tenant_id` column of every row must hold the old tenant id and
 *   is replaced with the new one. Any other value rejects the restore.
 *
 * Only statement kinds that pg_dump writes for a schema are run, and COPY and setval
 * must target the new schema; anything else rejects the restore.
 *
 * NOTE: this guards against a script that is damaged or made for another purpose,
 * not against a forged one: a function body in the file runs whenever it is called.
 * Import only files exported by Strata.
 */
export async function executeRestoreScript(client: pg.ClientBase, lines: AsyncIterable<string>, rename: TenantRename): Promise<RestoreStats> {
  const stats: RestoreStats = { statements: 0, tables: 0, rows: 0 };
  let pending = '';
  let lineNumber = 0;

  // Checked statements are sent together, one round trip per batch, in script order.
  let batch: string[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await client.query(batch.join('\n'));
    batch = [];
    batchBytes = 0;
  };

  const iterator = lines[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    const line = next.value;
    lineNumber++;

    if (line.startsWith('\\') && isBlank(pending)) {
      checkMetaCommand(line, lineNumber);
      continue;
    }
    pending += `${line}\n`;
    if (!line.includes(';')) continue;

    const { statements, rest } = takeStatements(pending);
    pending = rest;
    for (const [index, tokens] of statements.entries()) {
      const statement = rewriteStatement(tokens, rename);
      const copy = copyTarget(tokens, statement, rename, lineNumber);
      stats.statements++;

      if (copy) {
        // The rows follow on the next line, so COPY must end its line.
        if (index !== statements.length - 1 || !isBlank(pending)) {
          throw invalidScript(`line ${lineNumber}: COPY … FROM stdin must be the last statement on its line`);
        }
        await flush();
        stats.tables++;
        stats.rows += await copyRows(client, statement, copy.tenantColumn, iterator, rename, () => ++lineNumber);
      } else {
        checkAllowed(statement, rename, lineNumber);
        batch.push(statement);
        batchBytes += statement.length;
        if (batchBytes > MAX_BATCH_CHARS) await flush();
      }
    }
  }

  if (!isBlank(pending)) {
    throw invalidScript(`the script ends inside a statement: ${pending.trim().slice(0, 80)}`);
  }
  await flush();
  return stats;
}

const MAX_BATCH_CHARS = 1024 * 1024;

/** Rewrite names and literals in one statement as `executeRestoreScript` describes. */
export function rewriteStatement(tokens: Token[], rename: TenantRename): string {
  return tokens
    .map((token) => {
      if (token.kind === 'word' && token.text.toLowerCase() === rename.fromSchema) return quoteName(rename.toSchema);
      if (token.kind === 'quoted' && unquote(token) === rename.fromSchema) return quoteName(rename.toSchema);
      if (token.kind === 'string') return rewriteLiteral(unquote(token), rename) ?? token.text;
      return token.text;
    })
    .join('');
}

function rewriteLiteral(value: string, rename: TenantRename): string | undefined {
  if (value === rename.fromSchema) return quoteLiteral(rename.toSchema);
  if (value.toLowerCase() === rename.fromTenantId) return quoteLiteral(rename.toTenantId);
  for (const prefix of [`${rename.fromSchema}.`, `${quoteName(rename.fromSchema)}.`]) {
    if (value.startsWith(prefix)) return quoteLiteral(`${quoteName(rename.toSchema)}.${value.slice(prefix.length)}`);
  }
  return undefined;
}

/** psql meta-commands: pg_restore writes `\restrict KEY` and `\unrestrict KEY` around the script; nothing else may appear. */
function checkMetaCommand(line: string, lineNumber: number): void {
  if (/^\\(un)?restrict [A-Za-z0-9]+$/.test(line.trim())) return;
  throw invalidScript(`line ${lineNumber}: the psql command ${line.slice(0, 40)} is not part of a tenant export`);
}

const SESSION_SETTINGS = [
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'check_function_bodies',
  'xmloption',
  'client_min_messages',
  'row_security',
  'default_tablespace',
  'default_table_access_method',
];

const ALLOWED_STATEMENTS = [
  new RegExp(`^SET (${SESSION_SETTINGS.join('|')}) = `, 'i'),
  /^SET standard_conforming_strings = on;$/i,
  /^SELECT pg_catalog\.set_config\('search_path', '', false\);$/,
  /^CREATE (SCHEMA|TABLE|UNLOGGED TABLE|SEQUENCE|INDEX|UNIQUE INDEX|POLICY|FUNCTION|PROCEDURE|VIEW|MATERIALIZED VIEW|TRIGGER|CONSTRAINT TRIGGER|TYPE|DOMAIN) /i,
  /^ALTER (TABLE|SEQUENCE|SCHEMA|FUNCTION|PROCEDURE|INDEX|VIEW|MATERIALIZED VIEW|TYPE|DOMAIN|POLICY) /i,
  /^COMMENT ON /i,
  /^(GRANT|REVOKE) /i,
];

function checkAllowed(statement: string, rename: TenantRename, lineNumber: number): void {
  const text = withoutComments(statement);
  if (text === '' || text === ';') return;

  // The session must stay UTF-8 for the driver; pg_dump states the database's encoding.
  if (/^SET client_encoding = /i.test(text)) {
    if (/^SET client_encoding = 'UTF8';$/i.test(text)) return;
    throw invalidScript(`line ${lineNumber}: the export is not in UTF-8 (${text}); Strata databases are UTF-8`);
  }
  if (/^SELECT pg_catalog\.setval\(/.test(text)) {
    if (text.startsWith(`SELECT pg_catalog.setval(${quoteLiteral(`${quoteName(rename.toSchema)}.`).slice(0, -1)}`)) return;
    throw invalidScript(`line ${lineNumber}: setval on a sequence outside the tenant schema: ${text.slice(0, 120)}`);
  }
  if (ALLOWED_STATEMENTS.some((pattern) => pattern.test(text))) return;
  throw invalidScript(`line ${lineNumber}: statement not expected in a tenant export: ${text.slice(0, 120)}`);
}

/** For `COPY <schema>.<table> (<columns>) FROM stdin;`, the table and the position of `tenant_id`. */
function copyTarget(tokens: Token[], statement: string, rename: TenantRename, lineNumber: number): { tenantColumn: number } | undefined {
  const words = tokens.filter((token) => token.kind !== 'space' && token.kind !== 'comment');
  if (words[0]?.kind !== 'word' || words[0].text.toUpperCase() !== 'COPY') return undefined;

  const text = withoutComments(statement);
  if (!/ FROM stdin;$/i.test(text)) throw invalidScript(`line ${lineNumber}: only COPY … FROM stdin is expected: ${text.slice(0, 120)}`);
  if (!text.startsWith(`COPY ${quoteName(rename.toSchema)}.`)) {
    throw invalidScript(`line ${lineNumber}: COPY into a table outside the tenant schema: ${text.slice(0, 120)}`);
  }

  const open = words.findIndex((token) => token.text === '(');
  const close = words.findIndex((token) => token.text === ')');
  const columns = words.slice(open + 1, close).filter((token) => token.text !== ',').map((token) => (token.kind === 'quoted' ? unquote(token) : token.text));
  return { tenantColumn: columns.indexOf('tenant_id') };
}

/** Stream one COPY block's rows (up to the `\.` line) into the table, renaming the tenant id. */
async function copyRows(
  client: pg.ClientBase,
  statement: string,
  tenantColumn: number,
  lines: AsyncIterator<string>,
  rename: TenantRename,
  countLine: () => number,
): Promise<number> {
  const stream = client.query(copyFrom(statement));
  const done = finished(stream);
  // The server can reject the data while rows are still being read; that error is
  // awaited below, and this handler keeps it from counting as unhandled meanwhile.
  done.catch(() => undefined);
  let rows = 0;

  try {
    for (;;) {
      const next = await lines.next();
      const lineNumber = countLine();
      if (next.done) throw invalidScript(`line ${lineNumber}: the script ends inside COPY data`);
      if (next.value === '\\.') break;

      const row = tenantColumn >= 0 ? renameTenant(next.value, tenantColumn, rename, lineNumber) : next.value;
      rows++;
      if (stream.errored) break;
      // once() rejects if the stream fails while waiting, so a rejected COPY cannot hang here.
      if (!stream.write(`${row}\n`)) await once(stream, 'drain');
    }
    stream.end();
    await done;
    return rows;
  } catch (error) {
    // Abort the COPY so the connection is left in a known (failed transaction) state.
    stream.destroy(error as Error);
    // The stream now fails with the error above, which is what the caller gets.
    await done.catch(() => undefined);
    throw error;
  }
}

/** Replace the tenant id field of one COPY text row; tabs only ever separate fields in this format. */
function renameTenant(row: string, column: number, rename: TenantRename, lineNumber: number): string {
  const fields = row.split('\t');
  if (fields[column] !== rename.fromTenantId) {
    throw invalidScript(`line ${lineNumber}: a row's tenant_id is ${fields[column]}, not the exported tenant's ${rename.fromTenantId}`);
  }
  fields[column] = rename.toTenantId;
  return fields.join('\t');
}

/** Return the statement without comments and with runs of whitespace as one space, for matching its kind. */
function withoutComments(sql: string): string {
  const { tokens } = tokenize(sql);
  return tokens
    .filter((token) => token.kind !== 'comment')
    .map((token) => (token.kind === 'space' ? ' ' : token.text))
    .join('')
    .trim();
}

/** Return true when `sql` contains only whitespace and complete comments. */
function isBlank(sql: string): boolean {
  const { tokens, complete } = tokenize(sql);
  return complete && tokens.every((token) => token.kind === 'space' || token.kind === 'comment');
}

function invalidScript(message: string): StrataError {
  return StrataError.invalid('INVALID_EXPORT', `the export file cannot be imported: ${message}`);
}
