/// The audit trail's SQLite schema. Migrations are append-only: a new version adds a step,
/// never edits an old one.
enum AuditSchema {
    /// The newest schema version this code writes.
    static let currentVersion: Int64 = 3

    /// Migration steps; index `n` upgrades version `n` to `n + 1`.
    static let migrations: [String] = [
        """
        CREATE TABLE schema_version (
            version     INTEGER NOT NULL PRIMARY KEY,
            applied_at  TEXT NOT NULL
        );
        CREATE TABLE audit_meta (
            key    TEXT NOT NULL PRIMARY KEY,
            value  TEXT NOT NULL
        );
        CREATE TABLE audit_entries (
            seq             INTEGER PRIMARY KEY,
            v               INTEGER NOT NULL,
            time            TEXT NOT NULL,
            kind            TEXT NOT NULL,
            actor           TEXT NOT NULL,
            cluster         TEXT,
            operation       TEXT NOT NULL,
            target          TEXT NOT NULL,
            parameters      TEXT NOT NULL,
            outcome         TEXT,
            error           TEXT,
            duration_ms     INTEGER,
            correlation_id  TEXT NOT NULL,
            session         TEXT NOT NULL,
            prev_hash       TEXT NOT NULL,
            hash            TEXT NOT NULL
        );
        CREATE INDEX audit_entries_time ON audit_entries(time);
        CREATE INDEX audit_entries_operation ON audit_entries(operation, seq);
        CREATE INDEX audit_entries_target ON audit_entries(target, seq);
        CREATE INDEX audit_entries_actor ON audit_entries(actor, seq);
        CREATE INDEX audit_entries_correlation ON audit_entries(correlation_id);
        CREATE TABLE audit_checkpoints (
            size       INTEGER NOT NULL PRIMARY KEY,
            head_hash  TEXT NOT NULL,
            time       TEXT NOT NULL,
            note       TEXT NOT NULL
        );
        CREATE INDEX audit_entries_outcome ON audit_entries(outcome, seq) WHERE outcome IS NOT NULL;
        -- Writers that may have attempts without an outcome: bookkeeping for crash recovery,
        -- not part of the record. A row is added by a handle's first append and removed when
        -- the handle closes with no attempt open, or when recovery closes its attempts.
        CREATE TABLE audit_sessions (
            session    TEXT NOT NULL PRIMARY KEY,
            first_seq  INTEGER NOT NULL,
            pid        INTEGER NOT NULL,
            started    TEXT NOT NULL
        );
        CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE of audit_entries is not allowed'); END;
        CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE from audit_entries is not allowed'); END;
        CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE of audit_checkpoints is not allowed'); END;
        CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE from audit_checkpoints is not allowed'); END;
        CREATE TRIGGER audit_meta_no_update BEFORE UPDATE ON audit_meta
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE of audit_meta is not allowed'); END;
        CREATE TRIGGER audit_meta_no_delete BEFORE DELETE ON audit_meta
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE from audit_meta is not allowed'); END;
        """,
        // 1 → 2: the Merkle tree (RFC 9162) over the entries. Each entry's row carries, in `tree`,
        // the hashes it completes: its leaf, then each subtree it closes (level 1, 2, … as long as
        // its sequence number is divisible by 2^level), 32 bytes each. Rows cannot be updated, so
        // the entries already there keep `tree` NULL and get their hashes in `audit_tree_before`,
        // which `SQLiteAuditTrail.buildTree` fills in the same transaction. Nothing existing changes.
        """
        ALTER TABLE audit_entries ADD COLUMN tree BLOB;
        CREATE TABLE audit_tree_before (
            seq     INTEGER PRIMARY KEY,
            hashes  BLOB NOT NULL
        );
        CREATE TRIGGER audit_tree_before_no_update BEFORE UPDATE ON audit_tree_before
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE of audit_tree_before is not allowed'); END;
        CREATE TRIGGER audit_tree_before_no_delete BEFORE DELETE ON audit_tree_before
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE from audit_tree_before is not allowed'); END;
        -- A checkpoint's note states the tree's root (hex here); NULL for one from before the tree,
        -- whose note states the chain's head hash.
        ALTER TABLE audit_checkpoints ADD COLUMN root_hash TEXT;
        """,
        // 2 → 3: witnesses' cosignatures (C2SP tlog-cosignature v1) of stored checkpoints: the
        // line each witness returned, by the witness's public key text. Append-only like the rest.
        """
        CREATE TABLE audit_cosignatures (
            size     INTEGER NOT NULL,
            witness  TEXT NOT NULL,
            line     TEXT NOT NULL,
            time     INTEGER NOT NULL,
            PRIMARY KEY (size, witness)
        );
        CREATE TRIGGER audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE of audit_cosignatures is not allowed'); END;
        CREATE TRIGGER audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE from audit_cosignatures is not allowed'); END;
        """,
    ]

    /// The first schema version with the Merkle tree (`audit_entries.tree`).
    static let treeVersion: Int64 = 2

    /// The first schema version with witnesses' cosignatures (`audit_cosignatures`).
    static let cosignatureVersion: Int64 = 3

    /// The columns of `audit_entries` in the order the statements below read them.
    static let entryColumns =
        "seq, v, time, kind, actor, cluster, operation, target, parameters, outcome, error, duration_ms, correlation_id, session, prev_hash, hash"

    /// Inserts an entry with its tree hashes (schema 2 on: only writers, which migrate first, insert).
    static let insertEntry = """
        INSERT INTO audit_entries (\(entryColumns), tree)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
        """

    static let insertTreeBefore = "INSERT INTO audit_tree_before (seq, hashes) VALUES (?1, ?2)"
}
