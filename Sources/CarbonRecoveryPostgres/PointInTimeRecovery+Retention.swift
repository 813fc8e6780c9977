import CarbonRecovery
import Foundation

extension PointInTimeRecovery {
    /// What retention keeps and deletes, from one reading of the archive
    /// (``PointInTimeRecovery/planRetention(keep:)``).
    ///
    /// The newest `keep` base backups (by stop time) are kept. WAL is needed from the earliest
    /// start segment of any kept backup on: replay only moves forward, so no restore from a
    /// kept backup, on any timeline, reads a segment numbered before that. Everything before
    /// it goes — segments, partial segments and backup labels of every timeline — except the
    /// timeline history files, which are tiny and which following a timeline needs. Folders
    /// under `base/` without a manifest (a base backup that never finished) older than the
    /// oldest kept backup go too; a newer one may be a backup in progress and stays.
    public struct RetentionPlan: Sendable {
        /// The base backups kept, oldest first.
        public var kept: [BaseBackup]
        /// The base backups deleted, oldest first.
        public var expired: [BaseBackup]
        /// Unfinished base backups (their `base/<id>/` folder) deleted.
        public var unfinished: [String]
        /// The first segment kept (of the oldest kept backup's timeline); `nil` when nothing is kept.
        public var firstNeededSegment: String?
        /// The WAL archive entries deleted, in WAL order.
        public var wal: [WALArchive.Entry]

        /// The bytes the plan frees in the storage.
        public var storedBytes: Int64 {
            Int64(expired.reduce(0) { $0 + $1.storedBytes }) + wal.reduce(0) { $0 + $1.storedBytes }
        }
    }

    /// Reads the archive and plans retention keeping the newest `keep` base backups; changes nothing.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when `keep` is below 1 (the last base backup
    ///   is never deleted); what the storage throws.
    public func planRetention(keep: Int) async throws -> RetentionPlan {
        guard keep >= 1 else {
            throw RecoveryError(.invalidInput, "keep \(keep) base backups: keep at least 1 (the last base backup is never deleted)", target: String(keep))
        }
        let backups = try await baseBackups()
        let kept = Array(backups.suffix(keep))
        let expired = Array(backups.dropLast(keep))
        guard let oldestKept = kept.first else {
            return RetentionPlan(kept: [], expired: [], unfinished: [], firstNeededSegment: nil, wal: [])
        }
        let size = oldestKept.walSegmentSize
        let starts = try kept.map { try WALFileName($0.startSegment) }
        let cutoff = starts.map { $0.segmentNumber(segmentSize: size) }.min() ?? 0
        let first = starts.min { $0.segmentNumber(segmentSize: size) < $1.segmentNumber(segmentSize: size) }
        let wal = try await archive.entries().filter { $0.file.kind != .history && $0.file.segmentNumber(segmentSize: size) < cutoff }

        // Folders under base/ with no manifest, older than the oldest kept backup.
        var folders: [String: Bool] = [:]
        for try await object in archive.storage.list(prefix: baseRoot) {
            let relative = object.key.dropFirst(baseRoot.count)
            guard let slash = relative.firstIndex(of: "/") else { continue }
            let id = String(relative[..<slash])
            folders[id] = (folders[id] ?? false) || relative[relative.index(after: slash)...] == "manifest.json"
        }
        let unfinished = folders.filter { !$0.value && $0.key < oldestKept.id }.map(\.key).sorted()
        return RetentionPlan(kept: kept, expired: expired, unfinished: unfinished, firstNeededSegment: first?.name, wal: wal)
    }

    /// Carries out a plan: each expired backup's manifest first (so it is no longer listed or
    /// used), then its files, then the unfinished backups, then the WAL. Stopped anywhere, what
    /// is left is consistent: a listed backup always has its WAL.
    ///
    /// - Parameter progress: Called after each deleted object with its key.
    /// - Throws: what the storage throws; the objects deleted before it stay deleted.
    public func applyRetention(_ plan: RetentionPlan, progress: @Sendable (String) -> Void = { _ in }) async throws {
        for backup in plan.expired {
            let folder = baseRoot + backup.id + "/"
            try await archive.storage.delete(folder + "manifest.json")
            progress(folder + "manifest.json")
            try await deleteFolder(folder, progress: progress)
        }
        for id in plan.unfinished { try await deleteFolder(baseRoot + id + "/", progress: progress) }
        for entry in plan.wal {
            try await archive.storage.delete(entry.key)
            progress(entry.key)
        }
    }

    private func deleteFolder(_ folder: String, progress: @Sendable (String) -> Void) async throws {
        var keys: [String] = []
        for try await object in archive.storage.list(prefix: folder) { keys.append(object.key) }
        for key in keys {
            try await archive.storage.delete(key)
            progress(key)
        }
    }
}
