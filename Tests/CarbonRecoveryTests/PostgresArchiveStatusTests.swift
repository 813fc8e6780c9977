// The archive lag (issue 16, part 2) computed from pg_stat_archiver's row and the archive's
// real listing: exact bytes, the estimated age, and each misconfiguration named. The server's
// row is fed directly so every case is exact; PostgresWALArchiveTests measures the real server.
import CarbonRecovery
@testable import CarbonRecoveryPostgres
import CarbonRecoveryTestKit
import Foundation
import Testing

@Suite("PostgreSQL archive lag")
struct PostgresArchiveStatusTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let segmentSize = 16 << 20

    /// An archive holding `segments` (names) and the recovery service over it at `now`.
    func recovery(holding segments: [String], stanza: String = "main") async throws -> PointInTimeRecovery {
        let storage = InMemoryStorageBackend()
        let archive = try WALArchive(storage: storage, stanza: stanza, compression: .none)
        for (index, name) in segments.enumerated() {
            _ = try await archive.archive([UInt8(index)], name: try WALFileName(name))
        }
        return PointInTimeRecovery(archive: archive, tools: PostgresTools(), clock: SimulatedWallClock(start: Self.now))
    }

    /// pg_stat_archiver's row as `archiveStatus(of:)` selects it.
    func row(
        lsn: String, inRecovery: Bool = false, lastArchived: String = "", archivedAgo: TimeInterval? = nil, failed: Int = 0, lastFailed: String = "",
        failedAgo: TimeInterval? = nil, statsResetAgo: TimeInterval = 86_400, mode: String = "on"
    ) throws -> [String] {
        var position = try LSN(parsing: lsn)
        // As pg_walfile_name() does: a position on a segment boundary names the segment before.
        if position.value > 0 && position.value % UInt64(Self.segmentSize) == 0 { position = LSN(position.value - 1) }
        func epoch(_ ago: TimeInterval?) -> String { ago.map { String(Self.now.timeIntervalSince1970 - $0) } ?? "" }
        return [
            inRecovery ? "t" : "f", inRecovery ? "" : lsn, inRecovery ? "" : position.segment(timeline: 1, segmentSize: Self.segmentSize), String(Self.segmentSize),
            lastArchived, epoch(archivedAgo), String(failed), lastFailed, epoch(failedAgo), epoch(statsResetAgo), mode, "0",
        ]
    }

    @Test("the bytes are the server's position past the newest archived segment; the age is since the last archiving")
    func lagBehind() async throws {
        let recovery = try await recovery(holding: ["000000010000000000000002", "000000010000000000000003"])
        let status = try await recovery.archiveStatus(row: try row(lsn: "0/4000100", lastArchived: "000000010000000000000003", archivedAgo: 42))
        #expect(status.newestArchived == "000000010000000000000003")
        #expect(status.currentSegment == "000000010000000000000004")
        #expect(status.unarchivedBytes == 0x100)
        #expect(status.lagSeconds == 42)
        #expect(status.problems.isEmpty, "\(status.problems)")
    }

    @Test("everything written is archived: no lag, however long ago the last archiving was")
    func caughtUp() async throws {
        let recovery = try await recovery(holding: ["000000010000000000000003"])
        let status = try await recovery.archiveStatus(row: try row(lsn: "0/4000000", lastArchived: "000000010000000000000003", archivedAgo: 7_200))
        #expect(status.unarchivedBytes == 0)
        #expect(status.lagSeconds == 0)
        #expect(status.currentSegment == "000000010000000000000004", "the segment written next, not the one pg_walfile_name() names")
    }

    @Test("the newest archived segment is found in the log folder before the current one, and across the whole archive")
    func olderFolders() async throws {
        let previousLog = try await recovery(holding: ["0000000100000000000000FE"])
        let status = try await previousLog.archiveStatus(row: try row(lsn: "1/2000000", lastArchived: "0000000100000000000000FE", archivedAgo: 10))
        #expect(status.newestArchived == "0000000100000000000000FE")
        #expect(status.unarchivedBytes == 0x1_0200_0000 - 0xFF * UInt64(Self.segmentSize))

        let farBehind = try await recovery(holding: ["000000010000000000000010"])
        let behind = try await farBehind.archiveStatus(row: try row(lsn: "5/0000010", lastArchived: "000000010000000000000010", archivedAgo: 10))
        #expect(behind.newestArchived == "000000010000000000000010")
        #expect(behind.unarchivedBytes == 0x5_0000_0010 - 0x11 * UInt64(Self.segmentSize))
    }

    @Test("nothing archived since the statistics were reset: the age counts from the reset")
    func neverArchived() async throws {
        let recovery = try await recovery(holding: ["000000010000000000000001"])
        let status = try await recovery.archiveStatus(row: try row(lsn: "0/2000010", statsResetAgo: 300))
        #expect(status.lagSeconds == 300)
    }

    @Test("a failing archive_command, archiving off, and an archive_command that writes elsewhere are each named")
    func problems() async throws {
        let failing = try await recovery(holding: ["000000010000000000000003"])
        let failed = try await failing.archiveStatus(
            row: try row(lsn: "0/5000010", lastArchived: "000000010000000000000003", archivedAgo: 600, failed: 7, lastFailed: "000000010000000000000004", failedAgo: 5))
        #expect(failed.problems.count == 1 && failed.problems[0].contains("archive_command has failed since"), "\(failed.problems)")
        #expect(failed.lagSeconds == 600 && failed.failedCount == 7)

        // A failure before the last success is history, not a problem.
        let recovered = try await failing.archiveStatus(
            row: try row(lsn: "0/4000010", lastArchived: "000000010000000000000003", archivedAgo: 5, failed: 7, lastFailed: "000000010000000000000003", failedAgo: 60))
        #expect(recovered.problems.isEmpty, "\(recovered.problems)")

        let off = try await failing.archiveStatus(row: try row(lsn: "0/4000010", mode: "off"))
        #expect(off.problems.contains { $0.hasPrefix("archive_mode is off") }, "\(off.problems)")

        let elsewhere = try await recovery(holding: [], stanza: "other")
        let wrong = try await elsewhere.archiveStatus(row: try row(lsn: "0/9000010", lastArchived: "000000010000000000000008", archivedAgo: 3))
        #expect(wrong.unarchivedBytes == nil)
        #expect(wrong.problems.contains { $0.contains("holds no segment of timeline 1") }, "\(wrong.problems)")
        #expect(wrong.problems.contains { $0.contains("PostgreSQL archived 000000010000000000000008, but this archive does not hold it") }, "\(wrong.problems)")
    }

    @Test("a standby is refused with what to do; an unreadable row is a clear error")
    func badRows() async throws {
        let recovery = try await recovery(holding: [])
        let standby = await #expect(throws: RecoveryError.self) { try await recovery.archiveStatus(row: try row(lsn: "0/1", inRecovery: true)) }
        #expect(standby?.code == .unsupported && standby?.message.contains("measure the archive lag on its primary") == true)
        var garbage = try row(lsn: "0/1")
        garbage[1] = "not-an-lsn"
        let unreadable = await #expect(throws: RecoveryError.self) { try await recovery.archiveStatus(row: garbage) }
        #expect(unreadable?.code == .invalidInput)
        garbage = try row(lsn: "0/1")
        garbage[2] = "00000001.history"
        let history = await #expect(throws: RecoveryError.self) { try await recovery.archiveStatus(row: garbage) }
        #expect(history?.code == .invalidObject)
    }
}
