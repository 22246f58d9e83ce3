/**
 * A small SQL tokenizer for the scripts pg_restore writes: enough to find statement
 * ends and to tell identifiers, string literals, dollar-quoted bodies and comments
 * apart, so a rewrite touches names and literals only where they are whole tokens.
 * It assumes `standard_conforming_strings = on` (backslashes are literal in '…'), which
 * pg_dump states at the top of every script and which the restore enforces.
 */

export type TokenKind = 'word' | 'quoted' | 'string' | 'escape-string' | 'dollar' | 'comment' | 'space' | 'semicolon' | 'other';

export interface Token {
  kind: TokenKind;
  /** The token's source text, quotes included. */
  text: string;
}

export interface Tokenized {
  tokens: Token[];
  /** False when the text ends inside a string, quoted name, dollar body or comment. */
  complete: boolean;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** Split SQL text into tokens; whitespace and comments are tokens too, so joining the texts gives the input back. */
export function tokenize(sql: string): Tokenized {
  const tokens: Token[] = [];
  let i = 0;

  const push = (kind: TokenKind, end: number) => {
    tokens.push({ kind, text: sql.slice(i, end) });
    i = end;
  };

  while (i < sql.length) {
    const char = sql[i]!;
    const next = sql[i + 1];

    if (/\s/.test(char)) {
      let end = i + 1;
      while (end < sql.length && /\s/.test(sql[end]!)) end++;
      push('space', end);
    } else if (char === '-' && next === '-') {
      const newline = sql.indexOf('\n', i);
      push('comment', newline === -1 ? sql.length : newline);
    } else if (char === '/' && next === '*') {
      const end = blockCommentEnd(sql, i);
      if (end === -1) return { tokens, complete: false };
      push('comment', end);
    } else if ((char === 'E' || char === 'e') && next === "'" && !isWordPart(sql[i - 1])) {
      const end = quotedEnd(sql, i + 1, "'", true);
      if (end === -1) return { tokens, complete: false };
      push('escape-string', end);
    } else if (char === "'") {
      const end = quotedEnd(sql, i, "'", false);
      if (end === -1) return { tokens, complete: false };
      push('string', end);
    } else if (char === '"') {
      const end = quotedEnd(sql, i, '"', false);
      if (end === -1) return { tokens, complete: false };
      push('quoted', end);
    } else if (char === '$' && !isWordPart(sql[i - 1]) && DOLLAR_TAG.test(sql.slice(i, i + 64))) {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close === -1) return { tokens, complete: false };
      push('dollar', close + tag.length);
    } else if (WORD_START.test(char)) {
      let end = i + 1;
      while (end < sql.length && WORD_PART.test(sql[end]!)) end++;
      push('word', end);
    } else if (char === ';') {
      push('semicolon', i + 1);
    } else {
      push('other', i + 1);
    }
  }
  return { tokens, complete: true };
}

function isWordPart(char: string | undefined): boolean {
  return char !== undefined && WORD_PART.test(char);
}

/** Index just past a quoted token starting at `start`; a doubled quote stays inside. */
function quotedEnd(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const char = sql[i]!;
    if (backslashEscapes && char === '\\') {
      i += 2;
    } else if (char === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return -1;
}

/** Index just past a block comment starting at `start`; PostgreSQL's block comments nest. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth++;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return -1;
}

/** Return the text inside a '…' string or "…" name, with doubled quotes undone. */
export function unquote(token: Token): string {
  const quote = token.text[0]!;
  return token.text.slice(1, -1).replaceAll(quote + quote, quote);
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function quoteName(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/**
 * Split off complete statements from the front of `sql`: each ends at a semicolon
 * outside any quote, body or comment. Returns them (semicolon included) and the
 * unfinished rest.
 */
export function takeStatements(sql: string): { statements: Token[][]; rest: string } {
  // Tokens after an unfinished string, body or comment are not returned; they are
  // lexed again once more text has arrived.
  const { tokens } = tokenize(sql);
  const statements: Token[][] = [];
  let current: Token[] = [];
  let consumed = 0;

  for (const token of tokens) {
    current.push(token);
    if (token.kind === 'semicolon') {
      statements.push(current);
      consumed += current.reduce((length, part) => length + part.text.length, 0);
      current = [];
    }
  }
  return { statements, rest: sql.slice(consumed) };
}
