// One `query(sql, params)` over mysql2 or pg, chosen by the URL scheme. Placeholders are written
// `?` and rewritten to `$n` for PostgreSQL; times come back as text so the `updated_at > ?`
// cursor keeps its microseconds.

import mysql from "mysql2/promise";
import pg from "pg";

export async function connect(url) {
  if (!url) throw new Error("DATABASE_URL is required");
  if (url.startsWith("mysql://") || url.startsWith("mariadb://")) {
    const pool = mysql.createPool({
      uri: url.replace(/^mariadb:/, "mysql:"),
      connectionLimit: 4,
      dateStrings: true,
      timezone: "Z",
    });
    return { query: async (sql, params) => (await pool.query(sql, params))[0] };
  }
  // TIMESTAMPTZ as text (1184), so the cursor is not rounded to milliseconds.
  pg.types.setTypeParser(1184, (v) => v);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  return {
    query: async (sql, params) => {
      let i = 0;
      return (await pool.query(sql.replace(/\?/g, () => `$${++i}`), params)).rows;
    },
  };
}
