/**
 * The collector's tables. Times are milliseconds since the epoch (UTC). Users may query the file
 * with any SQLite tool opened read-only (docs/collector.md); column names are part of that promise.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  type TEXT NOT NULL,
  sandbox_id TEXT NOT NULL DEFAULT '',
  sandbox TEXT NOT NULL DEFAULT '',
  agent TEXT,
  task TEXT,
  provider TEXT,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE INDEX IF NOT EXISTS events_by_sandbox ON events (sandbox_id, time);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, time);

CREATE TABLE IF NOT EXISTS logs (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  sandbox_id TEXT NOT NULL,
  source TEXT NOT NULL,
  stream TEXT NOT NULL DEFAULT 'stdout',
  line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_sandbox ON logs (sandbox_id, time);
CREATE INDEX IF NOT EXISTS logs_by_time ON logs (time);

CREATE TABLE IF NOT EXISTS samples (
  sandbox_id TEXT NOT NULL,
  time INTEGER NOT NULL,
  cpu_percent REAL,
  memory_bytes INTEGER,
  memory_limit_bytes INTEGER,
  disk_bytes INTEGER,
  net_rx_bytes INTEGER,
  net_tx_bytes INTEGER,
  pids INTEGER,
  PRIMARY KEY (sandbox_id, time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_by_time ON samples (time);

CREATE TABLE IF NOT EXISTS samples_minute (
  sandbox_id TEXT NOT NULL,
  time INTEGER NOT NULL,
  count INTEGER NOT NULL,
  cpu_percent REAL,
  cpu_percent_max REAL,
  memory_bytes INTEGER,
  memory_bytes_max INTEGER,
  memory_limit_bytes INTEGER,
  disk_bytes INTEGER,
  net_rx_bytes INTEGER,
  net_tx_bytes INTEGER,
  pids INTEGER,
  PRIMARY KEY (sandbox_id, time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_minute_by_time ON samples_minute (time);

CREATE TABLE IF NOT EXISTS gauges (
  name TEXT NOT NULL,
  sandbox_id TEXT NOT NULL DEFAULT '',
  time INTEGER NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (name, sandbox_id, time)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sandboxes (
  sandbox_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  provider TEXT,
  agent TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  deleted INTEGER
);

CREATE TABLE IF NOT EXISTS sources (
  source TEXT PRIMARY KEY,
  file_id TEXT,
  offset INTEGER NOT NULL,
  updated INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS problems (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  source TEXT NOT NULL,
  message TEXT NOT NULL
);
`;
