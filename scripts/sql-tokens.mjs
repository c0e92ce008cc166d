/**
 * The lexing under scripts/sql-shape.mjs: SQL text as tokens (comments dropped; strings, quoted names
 * and dollar-quoted bodies each one token, so nothing inside them is read as SQL), split at top-level
 * separators, and a cursor to read a statement's tokens in order.
 */

/** DDL this reader does not understand, reported with its statement. */
export class Unread extends Error {}

const PUNCT = new Set(["(", ")", ",", ";", ".", "[", "]"]);

export function tokenize(sql) {
  const tokens = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const rest = sql.slice(i, i + 2);
    if (/\s/.test(c)) i++;
    else if (rest === "--") i = sql.includes("\n", i) ? sql.indexOf("\n", i) : sql.length;
    else if (rest === "/*") {
      // PostgreSQL nests block comments.
      let depth = 0;
      do {
        const mark = sql.slice(i, i + 2);
        depth += mark === "/*" ? 1 : mark === "*/" ? -1 : 0;
        i += mark === "/*" || mark === "*/" ? 2 : 1;
      } while (depth > 0 && i < sql.length);
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let value = "";
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) {
        value += sql[j];
        j += sql[j] === c ? 2 : 1;
      }
      tokens.push(c === "'" ? { kind: "string", v: value } : { kind: "word", v: value, quoted: true });
      i = j + 1;
    } else if (c === "$" && /^\$(?:[A-Za-z_]\w*)?\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$(?:[A-Za-z_]\w*)?\$/.exec(sql.slice(i, i + 64))[0];
      const end = sql.indexOf(tag, i + tag.length);
      tokens.push({ kind: "string", v: sql.slice(i + tag.length, end < 0 ? sql.length : end) });
      i = end < 0 ? sql.length : end + tag.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][\w$]*/.exec(sql.slice(i))[0];
      tokens.push({ kind: "word", v: word.toLowerCase() });
      i += word.length;
    } else if (/[0-9]/.test(c)) {
      const number = /^[0-9][\w.]*/.exec(sql.slice(i))[0];
      tokens.push({ kind: "number", v: number });
      i += number.length;
    } else {
      tokens.push({ kind: PUNCT.has(c) ? "punct" : "op", v: c });
      i++;
    }
  }
  return tokens;
}

export const isWord = (token, word) => token?.kind === "word" && !token.quoted && token.v === word;
export const isPunct = (token, punct) => token?.kind === "punct" && token.v === punct;

/** Tokens as SQL text again, for messages: `coalesce(execution_id, 'x'::uuid)`. */
export function text(tokens) {
  let out = "";
  let previous;
  for (const token of tokens) {
    const shown = token.kind === "string" ? `'${token.v}'` : token.quoted ? `"${token.v}"` : String(token.v);
    const tight =
      previous === undefined ||
      [")", ",", ".", "]", ":"].includes(token.v) ||
      ["(", ".", "[", ":"].includes(previous.v) ||
      (token.v === "(" && previous.kind === "word" && !["in", "and", "or", "not"].includes(previous.v));
    out += (tight ? "" : " ") + shown;
    previous = token;
  }
  return out;
}

/** The tokens split at `separator` outside parentheses and brackets. */
export function splitTop(tokens, separator = ",") {
  const parts = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.kind === "punct" && (token.v === "(" || token.v === "[")) depth++;
    if (token.kind === "punct" && (token.v === ")" || token.v === "]")) depth--;
    if (depth === 0 && token.kind === "punct" && token.v === separator) parts.push([]);
    else parts.at(-1).push(token);
  }
  return parts.filter((part) => part.length > 0);
}

export class Cursor {
  constructor(tokens) {
    this.tokens = tokens;
    this.i = 0;
  }
  peek(k = 0) {
    return this.tokens[this.i + k];
  }
  done() {
    return this.i >= this.tokens.length;
  }
  is(...words) {
    return words.every((word, k) => isWord(this.peek(k), word));
  }
  accept(...words) {
    if (!this.is(...words)) return false;
    this.i += words.length;
    return true;
  }
  expect(...words) {
    if (!this.accept(...words)) throw new Unread(`expected "${words.join(" ")}" at "${this.restText()}"`);
  }
  next() {
    return this.tokens[this.i++];
  }
  /** A possibly qualified name; the schema part (left by other DDL than :SCHEMA) is dropped. */
  name() {
    let token = this.next();
    if (token?.kind !== "word") throw new Unread(`expected a name at "${this.restText()}"`);
    while (isPunct(this.peek(), ".") && this.peek(1)?.kind === "word") {
      this.i++;
      token = this.next();
    }
    return token.v;
  }
  /** The tokens inside the parentheses that come next. */
  group() {
    if (!isPunct(this.peek(), "(")) throw new Unread(`expected "(" at "${this.restText()}"`);
    const start = this.i + 1;
    let depth = 0;
    do {
      const token = this.next();
      if (isPunct(token, "(")) depth++;
      if (isPunct(token, ")")) depth--;
    } while (depth > 0 && !this.done());
    return this.tokens.slice(start, this.i - 1);
  }
  rest() {
    const rest = this.tokens.slice(this.i);
    this.i = this.tokens.length;
    return rest;
  }
  restText() {
    return text(this.tokens.slice(this.i, this.i + 8));
  }
}
