/**
 * The final shape of the tables a list of migrations leaves, read from their DDL as PostgreSQL would
 * apply it in order: each table's columns (type, nullability), primary key, unique constraints, unique
 * indexes and foreign keys, with the names PostgreSQL gives them when the DDL gives none, so that a later
 * `drop index`, `drop constraint` or rename finds them. Used by scripts/check-distribution.mjs.
 *
 * Only what decides where a row can live is kept. Statements that shape nothing of that (functions,
 * triggers, data changes, plain indexes, settings) are passed over; DDL on a table that this reader does
 * not understand is reported, never guessed at, so a check built on it cannot pass by misreading.
 */

import { Cursor, isPunct, isWord, splitTop, text, tokenize, Unread } from "./sql-tokens.mjs";

const TYPE_NAMES = {
  int: "integer",
  int4: "integer",
  int8: "bigint",
  int2: "smallint",
  bool: "boolean",
  float8: "double precision",
  timestamptz: "timestamp with time zone",
};
/** Words that end a column's type and start one of its constraints. */
const COLUMN_WORDS = new Set(
  "constraint not null default primary unique references check collate generated".split(" "),
);

function columnList(tokens) {
  return splitTop(tokens).map((part) => {
    if (part.length !== 1 || part[0].kind !== "word") throw new Unread(`not a column list: ${text(tokens)}`);
    return part[0].v;
  });
}

/** Reads statements into `tables` (name -> shape), recording the file each part came from. */
class ShapeReader {
  tables = new Map();
  partitions = new Set();
  file = "";

  table(name) {
    const table = this.tables.get(name);
    if (!table) throw new Unread(`no table ${name} at this point`);
    return table;
  }

  addKey(table, key) {
    for (const column of key.kind === "primary" ? key.columns : []) {
      const found = table.columns.get(column);
      if (found) found.notNull = true;
    }
    table.keys.push({ where: null, elements: key.columns, ...key, file: this.file });
  }

  addForeignKey(table, name, columns, refTable, refColumns) {
    const target = refTable === table.name ? table : this.table(refTable);
    const resolved = refColumns ?? target.keys.find((key) => key.kind === "primary")?.columns;
    if (!resolved) throw new Unread(`${refTable} has no primary key for ${name} to reference`);
    table.foreignKeys.push({ name, columns, refTable, refColumns: resolved, file: this.file });
  }

  /** `[constraint name] primary key|unique|foreign key|check|exclude ...` of a table. */
  tableConstraint(table, c) {
    const name = c.accept("constraint") ? c.name() : undefined;
    if (c.accept("primary", "key") || c.accept("unique")) {
      const primary = isWord(c.tokens[c.i - 1], "key");
      c.accept("nulls", "not", "distinct") || c.accept("nulls", "distinct");
      if (c.accept("using", "index")) {
        // The index becomes the constraint, under the constraint's name.
        const index = c.name();
        const key = table.keys.find((k) => k.name === index && k.kind === "index");
        if (!key || key.where || key.columns.length !== key.elements.length) {
          throw new Unread(`${index} is not a plain unique index of ${table.name}`);
        }
        Object.assign(key, {
          kind: primary ? "primary" : "constraint",
          name: name ?? index,
          file: this.file,
        });
        for (const column of primary ? key.columns : []) table.columns.get(column).notNull = true;
        return;
      }
      const columns = columnList(c.group());
      const fallback = primary ? `${table.name}_pkey` : `${table.name}_${columns.join("_")}_key`;
      this.addKey(table, { kind: primary ? "primary" : "constraint", name: name ?? fallback, columns });
    } else if (c.accept("foreign", "key")) {
      const columns = columnList(c.group());
      c.expect("references");
      const refTable = c.name();
      const refColumns = isPunct(c.peek(), "(") ? columnList(c.group()) : null;
      this.addForeignKey(
        table,
        name ?? `${table.name}_${columns.join("_")}_fkey`,
        columns,
        refTable,
        refColumns,
      );
    } else if (c.accept("check")) {
      c.rest();
    } else {
      throw new Unread(
        `cannot read the constraint "${c.restText()}" (exclusion constraints are not checked)`,
      );
    }
  }

  /** `name type [constraints]`, in create table or alter table ... add column. */
  column(table, c) {
    const name = c.name();
    const words = [];
    while (!c.done() && !(isWord(c.peek(), c.peek().v) && COLUMN_WORDS.has(c.peek().v))) {
      if (isPunct(c.peek(), "("))
        words.push({ kind: "punct", v: "(" }, ...c.group(), { kind: "punct", v: ")" });
      else words.push(c.next());
    }
    const typeName = text(words).toLowerCase();
    const type = TYPE_NAMES[typeName] ?? typeName;
    table.columns.set(name, { type, collation: null, notNull: false, file: this.file });
    let constraintName;
    while (!c.done()) {
      if (c.accept("constraint")) {
        constraintName = c.name();
        continue;
      }
      if (c.accept("not", "null")) table.columns.get(name).notNull = true;
      else if (c.accept("null") || c.accept("deferrable") || c.accept("not", "deferrable")) {
        // nothing to keep
      } else if (c.accept("collate")) table.columns.get(name).collation = c.next().v;
      else if (c.accept("initially") || c.accept("match")) c.next();
      else if (c.accept("default")) {
        while (!c.done() && !(isWord(c.peek(), c.peek().v) && COLUMN_WORDS.has(c.peek().v))) {
          if (isPunct(c.peek(), "(")) c.group();
          else c.next();
        }
      } else if (c.accept("check")) {
        c.group();
        c.accept("no", "inherit");
      } else if (c.accept("generated")) {
        const words = text(c.rest());
        if (/\bidentity\b/.test(words)) table.columns.get(name).notNull = true;
      } else if (c.accept("primary", "key")) {
        this.addKey(table, {
          kind: "primary",
          name: constraintName ?? `${table.name}_pkey`,
          columns: [name],
        });
      } else if (c.accept("unique")) {
        c.accept("nulls", "not", "distinct") || c.accept("nulls", "distinct");
        const fallback = `${table.name}_${name}_key`;
        this.addKey(table, { kind: "constraint", name: constraintName ?? fallback, columns: [name] });
      } else if (c.accept("references")) {
        const refTable = c.name();
        const refColumns = isPunct(c.peek(), "(") ? columnList(c.group()) : null;
        this.addForeignKey(
          table,
          constraintName ?? `${table.name}_${name}_fkey`,
          [name],
          refTable,
          refColumns,
        );
      } else if (c.accept("on")) {
        c.next(); // delete | update
        if (!(c.accept("no", "action") || c.accept("cascade") || c.accept("restrict"))) {
          c.expect("set");
          c.next(); // null | default
          if (isPunct(c.peek(), "(")) c.group();
        }
      } else throw new Unread(`cannot read column ${name} at "${c.restText()}"`);
      constraintName = undefined;
    }
  }

  createTable(c) {
    c.accept("temporary") || c.accept("temp") || c.accept("unlogged");
    c.expect("table");
    c.accept("if", "not", "exists");
    const name = c.name();
    if (c.accept("partition", "of")) {
      // A partition is distributed with its parent: it needs no entry of its own.
      this.partitions.add(name);
      return;
    }
    if (this.tables.has(name)) return; // if not exists, or PostgreSQL would have refused it
    const table = { name, file: this.file, columns: new Map(), keys: [], foreignKeys: [] };
    this.tables.set(name, table);
    for (const element of splitTop(c.group())) {
      const e = new Cursor(element);
      if (e.is("like")) throw new Unread("create table ... (like ...) is not read");
      if (["constraint", "primary", "unique", "foreign", "check", "exclude"].some((w) => e.is(w))) {
        this.tableConstraint(table, e);
      } else this.column(table, e);
    }
  }

  createIndex(c, unique) {
    c.expect("index");
    c.accept("concurrently");
    c.accept("if", "not", "exists");
    const given = c.is("on") ? undefined : c.name();
    c.expect("on");
    c.accept("only");
    const tableName = c.name();
    if (this.partitions.has(tableName) || !unique) return;
    const table = this.table(tableName);
    if (c.accept("using")) c.next();
    const elements = splitTop(c.group());
    // A plain column is a name, perhaps with a collation, an operator class or an order; anything
    // else (a call, a parenthesised expression) is an expression and covers no column.
    const columns = elements
      .filter((e) => e[0].kind === "word" && !isPunct(e[1], "(") && e.every((t) => t.kind !== "punct"))
      .map((e) => e[0].v);
    let where = null;
    while (!c.done()) {
      if (c.accept("where")) where = text(c.rest());
      else if (c.accept("include") || c.accept("with")) c.group();
      else c.next(); // nulls [not] distinct, tablespace name
    }
    const name = given ?? `${tableName}_${columns.join("_") || "expr"}_idx`;
    table.keys.push({ kind: "index", name, elements: elements.map(text), columns, where, file: this.file });
  }

  /** Forgets a unique index or constraint by name, wherever it is; a plain index was never kept. */
  dropKey(name, tables = this.tables.values()) {
    for (const table of tables) {
      table.keys = table.keys.filter((key) => key.name !== name);
      table.foreignKeys = table.foreignKeys.filter((fk) => fk.name !== name);
    }
  }

  dropColumn(table, column) {
    table.columns.delete(column);
    const mentions = (element) => new RegExp(`(^|[^\\w$])${column}($|[^\\w$])`).test(element);
    table.keys = table.keys.filter((key) => !key.elements.some(mentions) && !mentions(key.where ?? ""));
    table.foreignKeys = table.foreignKeys.filter((fk) => !fk.columns.includes(column));
    for (const other of this.tables.values()) {
      other.foreignKeys = other.foreignKeys.filter(
        (fk) => !(fk.refTable === table.name && fk.refColumns.includes(column)),
      );
    }
  }

  renameColumn(table, from, to) {
    const column = table.columns.get(from);
    if (!column) throw new Unread(`${table.name} has no column ${from}`);
    table.columns.delete(from);
    table.columns.set(to, column);
    const swap = (list) => list.map((c) => (c === from ? to : c));
    for (const key of table.keys) {
      key.elements = key.elements.map((e) =>
        e.replace(new RegExp(`(^|[^\\w$])${from}($|[^\\w$])`, "g"), `$1${to}$2`),
      );
      key.columns = swap(key.columns);
    }
    for (const fk of table.foreignKeys) fk.columns = swap(fk.columns);
    for (const other of this.tables.values()) {
      for (const fk of other.foreignKeys) if (fk.refTable === table.name) fk.refColumns = swap(fk.refColumns);
    }
  }

  alterAction(table, c) {
    if (c.accept("add")) {
      if (["constraint", "primary", "unique", "foreign", "check", "exclude"].some((w) => c.is(w))) {
        this.tableConstraint(table, c);
        return;
      }
      c.accept("column");
      if (c.accept("if", "not", "exists") && table.columns.has(c.peek()?.v)) return;
      this.column(table, c);
    } else if (c.accept("drop")) {
      if (c.accept("constraint")) {
        c.accept("if", "exists");
        this.dropKey(c.name(), [table]); // a check constraint was never kept
        return;
      }
      c.accept("column");
      c.accept("if", "exists");
      this.dropColumn(table, c.name());
    } else if (c.accept("alter")) {
      c.accept("column");
      const column = table.columns.get(c.name());
      if (!column) throw new Unread(`${table.name} has no such column`);
      if (c.accept("set", "not", "null")) column.notNull = true;
      else if (c.accept("drop", "not", "null")) column.notNull = false;
      else if (c.accept("type") || c.accept("set", "data", "type")) {
        const words = [];
        while (!c.done() && !c.is("using") && !c.is("collate")) words.push(c.next());
        const typeName = text(words).toLowerCase();
        column.type = TYPE_NAMES[typeName] ?? typeName;
        column.collation = c.accept("collate") ? c.next().v : null;
      }
      c.rest(); // defaults, storage, statistics: nothing to keep
    } else if (c.accept("rename")) {
      if (c.accept("to")) {
        const to = c.name();
        this.tables.delete(table.name);
        for (const other of this.tables.values()) {
          for (const fk of other.foreignKeys) if (fk.refTable === table.name) fk.refTable = to;
        }
        table.name = to;
        this.tables.set(to, table);
      } else if (c.accept("constraint")) {
        const from = c.name();
        c.expect("to");
        const to = c.name();
        for (const key of [...table.keys, ...table.foreignKeys]) if (key.name === from) key.name = to;
      } else {
        c.accept("column");
        const from = c.name();
        c.expect("to");
        this.renameColumn(table, from, c.name());
      }
    } else if (c.accept("attach", "partition")) {
      // The attached table is a partition from now on: distributed with its parent, as one created
      // with `partition of` is.
      const name = c.name();
      this.tables.delete(name);
      this.partitions.add(name);
      c.rest();
    } else if (c.accept("detach", "partition")) {
      const name = c.name();
      this.partitions.delete(name);
      c.rest();
      throw new Unread(`a partition detached to stand alone (${name}) is not read`);
    } else if (
      ["set", "reset", "owner", "enable", "disable", "cluster", "replica", "force", "validate"].some((w) =>
        c.is(w),
      )
    ) {
      if (c.is("set", "schema")) throw new Unread("a table moved to another schema is not read");
      c.rest();
    } else throw new Unread(`cannot read the action "${c.restText()}"`);
  }

  statement(tokens) {
    const c = new Cursor(tokens);
    if (c.accept("create")) {
      if (c.accept("unique")) this.createIndex(c, true);
      else if (c.is("index")) this.createIndex(c, false);
      else if (["table", "temporary", "temp", "unlogged"].some((w) => c.is(w))) this.createTable(c);
    } else if (c.accept("alter", "table")) {
      c.accept("if", "exists");
      c.accept("only");
      const name = c.name();
      if (this.partitions.has(name)) return;
      const table = this.table(name);
      for (const action of splitTop(c.rest())) this.alterAction(table, new Cursor(action));
    } else if (c.accept("alter", "index")) {
      c.accept("if", "exists");
      const from = c.name();
      if (c.accept("rename", "to")) {
        const to = c.name();
        for (const table of this.tables.values())
          for (const key of table.keys) if (key.name === from) key.name = to;
      }
    } else if (c.accept("drop", "index")) {
      c.accept("concurrently");
      c.accept("if", "exists");
      for (const part of splitTop(c.rest())) this.dropKey(new Cursor(part).name());
    } else if (c.accept("drop", "table")) {
      c.accept("if", "exists");
      for (const part of splitTop(c.rest())) {
        const name = new Cursor(part).name();
        this.tables.delete(name);
        this.partitions.delete(name);
        for (const other of this.tables.values()) {
          other.foreignKeys = other.foreignKeys.filter((fk) => fk.refTable !== name);
        }
      }
    }
  }
}

/**
 * The tables the migrations (`{ name, sql }`, in the order applied) leave, by name, each with its
 * columns, keys (`kind` primary, constraint or index; `columns` the plain columns in it) and foreign
 * keys, each part with the file that made it; and what could not be read.
 */
export function readShape(sqlFiles) {
  const reader = new ShapeReader();
  const problems = [];
  for (const { name, sql } of sqlFiles) {
    reader.file = name;
    const tokens = tokenize(sql.replaceAll(":SCHEMA.", ""));
    for (const statement of splitTop(tokens, ";")) {
      try {
        reader.statement(statement);
      } catch (error) {
        if (!(error instanceof Unread)) throw error;
        problems.push(
          `${name}: "${text(statement.slice(0, 6))} ...": ${error.message} (scripts/sql-shape.mjs reads DDL)`,
        );
      }
    }
  }
  return { tables: reader.tables, problems };
}
