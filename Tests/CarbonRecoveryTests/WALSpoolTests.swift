// The spool a restore fills while PostgreSQL replays: restore_command hands over a planned file
// once it is there, waits for one on its way, says "not in the archive" only for a name the
// plan does not hold, and never says so for a planned file it cannot hand over (the restore is
// gone, the file changed) — that would let PostgreSQL end recovery early.
import CarbonRecovery
@testable import CarbonRecoveryPostgres
import Foundation
import Testing
import TestSupport

@Suite("The WAL spool restore_command reads")
struct WALSpoolTests {
    static func entry(_ name: String, _ contents: [UInt8]) throws -> WALArchive.Entry {
        let sha = WALArchive.sha256(of: contents)
        return WALArchive.Entry(file: try WALFileName(name), sha256: sha, compression: .none, key: "x/\(name)-\(sha)", storedBytes: Int64(contents.count), archivedAt: nil)
    }

    /// `deliver` blocks (it is a whole short process): run it off the cooperative threads.
    static func deliver(_ name: String, to destination: String, spool: String) async -> WALSpool.Delivery {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: WALSpool.deliver(name, to: destination, spool: spool, interval: .milliseconds(10))) }
        }
    }

    @Test("a planned file is handed over, one on its way is waited for, a name not in the plan is not in the archive")
    func deliver() async throws {
        let directory = try TemporaryDirectory()
        let first = Array(repeating: UInt8(1), count: 4096), second = Array(repeating: UInt8(2), count: 4096)
        let a = try Self.entry("000000010000000000000003", first), b = try Self.entry("000000010000000000000004", second)
        let spool = try WALSpool(path: directory.file("spool"), entries: [a, b], owner: nil)
        try spool.write(a, contents: first)
        #expect(await Self.deliver(a.file.name, to: directory.file("a"), spool: spool.path) == .delivered)
        #expect(FileManager.default.contents(atPath: directory.file("a")).map(Array.init) == first)
        let linked = try FileManager.default.attributesOfItem(atPath: directory.file("a"))[.systemFileNumber] as? Int
        let spooled = try FileManager.default.attributesOfItem(atPath: spool.path + "/\(a.file.name)-\(a.sha256)")[.systemFileNumber] as? Int
        #expect(linked != nil && linked == spooled, "handed over as a hard link, not copied and synced")
        #expect(await Self.deliver(a.file.name, to: directory.file("a"), spool: spool.path) == .delivered, "again, over the file PostgreSQL was given")
        #expect(await Self.deliver("000000010000000000000009", to: directory.file("z"), spool: spool.path) == .notPlanned)
        #expect(await Self.deliver("not a wal name", to: directory.file("z"), spool: spool.path) == .notPlanned)
        #expect(!FileManager.default.fileExists(atPath: directory.file("z")))

        // b arrives 300 ms after PostgreSQL asks for it.
        let target = directory.file("b"), spoolPath = spool.path, name = b.file.name
        async let waited = Self.deliver(name, to: target, spool: spoolPath)
        try await Task.sleep(for: .milliseconds(300))
        #expect(!FileManager.default.fileExists(atPath: directory.file("b")), "still waiting")
        try spool.write(b, contents: second)
        #expect(await waited == .delivered)
        #expect(FileManager.default.contents(atPath: directory.file("b")).map(Array.init) == second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).sorted() == ["\(a.file.name)-\(a.sha256)", "\(b.file.name)-\(b.sha256)", "plan"],
                "no partial file left")
        spool.close()
    }

    @Test("a planned file that cannot come is fatal, never 'not in the archive': the restore gone, or the spooled file changed")
    func abort() async throws {
        let directory = try TemporaryDirectory()
        let contents = Array(repeating: UInt8(7), count: 1000)
        let a = try Self.entry("000000010000000000000003", contents), b = try Self.entry("000000010000000000000004", contents)
        let spool = try WALSpool(path: directory.file("spool"), entries: [a, b], owner: nil)
        let target = directory.file("b"), spoolPath = spool.path, name = b.file.name
        async let waited = Self.deliver(name, to: target, spool: spoolPath)
        try await Task.sleep(for: .milliseconds(200))
        spool.close()   // the restore stopped (a failed fetch, or the process died: the lock goes with it)
        guard case .abort(let reason) = await waited else { Issue.record("expected an abort"); return }
        #expect(reason.contains("no longer running"), "\(reason)")

        let again = try WALSpool(path: directory.file("spool2"), entries: [a], owner: nil)
        try again.write(a, contents: contents)
        let stored = again.path + "/\(a.file.name)-\(a.sha256)"
        try Data(Array(repeating: UInt8(8), count: 1000)).write(to: URL(fileURLWithPath: stored))
        guard case .abort(let changed) = await Self.deliver(a.file.name, to: directory.file("a"), spool: again.path) else { Issue.record("expected an abort"); return }
        #expect(changed.contains("no longer matches its SHA-256"), "\(changed)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("a")), "nothing handed over")
        again.close()
        #expect(WALSpool.abortStatus > 125, "PostgreSQL treats an exit status above 125 as fatal")
    }

    @Test("a spool that exists is refused; the plan lists every file; history files come first, then segments by position and timeline")
    func planAndOrder() throws {
        let directory = try TemporaryDirectory()
        let bytes: [UInt8] = [1]
        let files = try ["000000020000000000000005", "00000002.history", "000000010000000000000004", "000000010000000000000005", "000000020000000000000006"].map { try Self.entry($0, bytes) }
        #expect(PointInTimeRecovery.replayOrder(files).map(\.file.name) == [
            "00000002.history", "000000010000000000000004", "000000010000000000000005", "000000020000000000000005", "000000020000000000000006",
        ])
        let spool = try WALSpool(path: directory.file("spool"), entries: files, owner: nil)
        let plan = try String(contentsOfFile: spool.path + "/plan", encoding: .utf8)
        #expect(plan.split(separator: "\n").count == files.count && plan.contains("00000002.history \(files[1].sha256)"))
        let error = #expect(throws: RecoveryError.self) { _ = try WALSpool(path: directory.file("spool"), entries: files, owner: nil) }
        #expect(error?.code == .storageFailure)
        spool.close()
    }
}
