import type { SqlDatabase, SqlStatement } from './sql.js';

type Value = string | number;

/**
 * A WHERE clause from the conditions whose value is given (a filter's absent fields drop out), with
 * its parameters in order; empty when none is.
 */
export function whereOf(conditions: [clause: string, value: Value | undefined][]): {
  sql: string;
  params: Value[];
} {
  const given = conditions.filter((c): c is [string, Value] => c[1] !== undefined);
  return {
    sql: given.length ? `WHERE ${given.map(([clause]) => clause).join(' AND ')}` : '',
    params: given.map(([, value]) => value),
  };
}

/** Prepares each distinct statement once: queries built from filters come in a few shapes only. */
export function statementCache(db: SqlDatabase): (sql: string) => SqlStatement {
  const shaped = new Map<string, SqlStatement>();
  return (sql) => {
    let statement = shaped.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      shaped.set(sql, statement);
    }
    return statement;
  };
}
