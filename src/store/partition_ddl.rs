//! The DDL of PostgreSQL's monthly partitions (`partition.rs`): the key table and its
//! triggers, the partitioned table's indexes and triggers, the grants copied from the old table.

/// The key table, its index and the two key triggers' functions.
pub(super) const KEY_SETUP: &[&str] = &[
    "DROP TABLE IF EXISTS monitor_signal_event_key",
    // Same column types as the event table (TIMESTAMP or TIMESTAMPTZ), so ranges compare alike.
    // Filled first, indexed after: building the primary key by sorting is faster than
    // inserting into it (the old table's unique key guarantees there is no duplicate).
    "CREATE TABLE monitor_signal_event_key AS SELECT event_key, created_at FROM monitor_signal_event",
    "ALTER TABLE monitor_signal_event_key ADD PRIMARY KEY (event_key), ALTER COLUMN created_at SET NOT NULL",
    "CREATE INDEX monitor_signal_event_key_created ON monitor_signal_event_key (created_at)",
    r"CREATE OR REPLACE FUNCTION monitor_signal_event_key_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO monitor_signal_event_key (event_key, created_at) VALUES (NEW.event_key, NEW.created_at)
    ON CONFLICT (event_key) DO NOTHING;
  IF NOT FOUND THEN
    RETURN NULL; -- the key exists: skip the row, as ON CONFLICT DO NOTHING would
  END IF;
  RETURN NEW;
END $$",
    r"CREATE OR REPLACE FUNCTION monitor_signal_event_key_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM monitor_signal_event_key WHERE event_key = OLD.event_key;
  RETURN NULL;
END $$",
];

/// Indexes and triggers of the partitioned table (created after the copy: faster).
pub(super) const TABLE_SETUP: &[&str] = &[
    "ALTER TABLE monitor_signal_event ADD CONSTRAINT monitor_signal_event_pkey PRIMARY KEY (id, created_at)",
    // Replaces the unique (variant, seq): the numbering rounds keep it unique.
    "CREATE INDEX idx_event_variant_seq ON monitor_signal_event (variant, seq)",
    "CREATE INDEX idx_event_unsequenced ON monitor_signal_event (id) WHERE seq IS NULL",
    "CREATE INDEX idx_event_variant_created ON monitor_signal_event (variant, created_at)",
    "CREATE INDEX idx_event_symbol_bar ON monitor_signal_event (vt_symbol, bar_dt)",
    "CREATE INDEX idx_event_type_created ON monitor_signal_event (event_type, created_at)",
    "CREATE TRIGGER monitor_signal_event_unique_key BEFORE INSERT ON monitor_signal_event \
     FOR EACH ROW EXECUTE FUNCTION monitor_signal_event_key_claim()",
    "CREATE TRIGGER monitor_signal_event_unkey AFTER DELETE ON monitor_signal_event \
     FOR EACH ROW EXECUTE FUNCTION monitor_signal_event_key_forget()",
];

/// Gives the new table and the key table the grants the old table had (writers' roles).
pub(super) const COPY_GRANTS: &str = r"DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT a.privilege_type AS p,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS who
             FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = 'monitor_signal_event_unpartitioned'::regclass AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT %s ON monitor_signal_event TO %s', r.p, r.who);
    EXECUTE format('GRANT %s ON monitor_signal_event_key TO %s', r.p, r.who);
  END LOOP;
END $$";
