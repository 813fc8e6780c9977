import CarbonRecovery
import Crypto
import Foundation

/// An ``AuditTrail`` in memory, with the same hash chain as the SQLite trail.
///
/// For tests of code that records operations; not durable. ``tamper(sequence:_:)`` lets a test
/// change an entry behind the chain's back to check that verification notices.
public actor InMemoryAuditTrail: AuditTrail {
    private var stored: [AuditEntry] = []
    private var failure: RecoveryError?
    private let session = UUID().uuidString.lowercased()
    private let clock: any WallClock

    /// Creates an empty trail.
    ///
    /// - Parameter clock: The time recorded in entries.
    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    /// Every entry, in order.
    public var allEntries: [AuditEntry] { stored }

    /// Makes every following append fail with `error` (or succeed again with `nil`).
    public func failAppends(with error: RecoveryError?) { failure = error }

    /// Replaces an entry without fixing the chain, as an attacker with file access would.
    public func tamper(sequence: Int64, _ change: (inout AuditEntry) -> Void) {
        guard let index = stored.firstIndex(where: { $0.sequence == sequence }) else { return }
        change(&stored[index])
    }

    public func record(_ record: AuditRecord) async throws -> AuditEntry {
        try await self.record(contentsOf: [record])[0]
    }

    public func record(contentsOf records: [AuditRecord]) async throws -> [AuditEntry] {
        if let failure { throw failure }
        for record in records { try record.validate() }
        var appended: [AuditEntry] = []
        let time = RFC3339.format(clock.now())
        for record in records {
            var entry = AuditEntry(
                version: AuditEntry.version(for: record.outcome), sequence: (stored.last?.sequence ?? 0) + 1, time: time, kind: record.kind, actor: record.actor.user,
                cluster: record.actor.cluster, operation: record.operation, target: record.target, parameters: record.parameters,
                outcome: record.outcome, error: record.error, durationMilliseconds: record.durationMilliseconds,
                correlationID: record.correlationID, session: session,
                previousHash: stored.last?.hash ?? AuditCanonicalEncoding.genesisHash, hash: "")
            entry.hash = Self.hash(entry)
            stored.append(entry)
            appended.append(entry)
        }
        return appended
    }

    public func entries(matching query: AuditQuery) async throws -> AuditPage {
        try query.validate()
        var matching = stored.filter(query.matches)
        if query.newestFirst { matching.reverse() }
        if let cursor = query.afterSequence {
            matching = matching.filter { query.newestFirst ? $0.sequence < cursor : $0.sequence > cursor }
        }
        let page = Array(matching.prefix(query.limit))
        return AuditPage(entries: page, nextCursor: matching.count > query.limit ? page.last?.sequence : nil)
    }

    public func verify() async throws -> AuditVerificationReport {
        var previous = AuditCanonicalEncoding.genesisHash
        var checked: Int64 = 0
        for entry in stored {
            let problem: AuditProblem? =
                if entry.sequence != checked + 1 {
                    AuditProblem(kind: .sequenceGap, sequence: entry.sequence, message: "expected entry \(checked + 1)")
                } else if entry.previousHash != previous {
                    AuditProblem(kind: .brokenLink, sequence: entry.sequence, message: "prev_hash is not the hash of entry \(checked)")
                } else if Self.hash(entry) != entry.hash {
                    AuditProblem(kind: .hashMismatch, sequence: entry.sequence, message: "a field of entry \(entry.sequence) was changed")
                } else { nil }
            if let problem {
                return AuditVerificationReport(entriesChecked: checked, headSequence: checked, headHash: previous, checkpointsChecked: 0, problem: problem)
            }
            previous = entry.hash
            checked += 1
        }
        return AuditVerificationReport(entriesChecked: checked, headSequence: checked, headHash: previous, checkpointsChecked: 0, problem: nil)
    }

    public func statistics(matching query: AuditQuery) async throws -> AuditStatistics {
        let matching = stored.filter(query.matches)
        var counts: [String: AuditStatistics.Row] = [:]
        for entry in matching {
            let key = "\(entry.operation)|\(entry.kind.rawValue)|\(entry.outcome?.rawValue ?? "")"
            counts[key, default: .init(operation: entry.operation, kind: entry.kind, outcome: entry.outcome, count: 0)].count += 1
        }
        let rows = counts.keys.sorted().compactMap { counts[$0] }
        return AuditStatistics(rows: rows, totalEntries: Int64(matching.count), firstTime: matching.first?.time, lastTime: matching.last?.time)
    }

    private static func hash(_ entry: AuditEntry) -> String {
        SHA256.hash(data: entry.canonicalBytes(includingHash: false)).map { String(format: "%02x", $0) }.joined()
    }
}
