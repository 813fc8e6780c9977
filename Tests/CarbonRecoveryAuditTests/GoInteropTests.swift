// Interoperability with an implementation nobody here wrote: Go's golang.org/x/mod/sumdb/note
// and sumdb/tlog (Debian's golang-golang-x-mod-dev) check the trail's signed checkpoints and its
// inclusion and consistency proofs, through Tests/Fixtures/tlog-check built with Debian's Go in
// GOPATH mode.
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

@Suite("Audit proofs checked by Go's sumdb/note and sumdb/tlog")
struct GoInteropTests {
    /// Builds the checker into `directory`; returns its path.
    static func buildChecker(in directory: TemporaryDirectory) async throws -> String {
        let go = try Self.executable("go")
        let output = directory.file("tlog-check")
        let built = try await run(
            go, ["build", "-o", output, fixturesDirectory + "/tlog-check/main.go"],
            environment: ["GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": directory.file("go-cache"), "GOFLAGS": ""],
            timeout: .seconds(600))
        #expect(built.status == 0, "go build: \(built.standardError) (scripts/bootstrap installs golang-go and golang-golang-x-mod-dev)")
        return output
    }

    static func executable(_ name: String) throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw RecoveryError(.internalError, "\(name) is not on PATH (scripts/bootstrap installs it)")
    }

    @Test("Go verifies our checkpoint notes and every inclusion and consistency proof of a trail checkpointed at several sizes, and refuses altered ones")
    func goChecksOurProofs() async throws {
        let directory = try TemporaryDirectory()
        let checker = try await Self.buildChecker(in: directory)
        let key = AuditSigningKey.generate(name: "carbon-recovery-interop")
        let keyFile = directory.file("key.pub")
        try Data((key.verifierKey.text + "\n").utf8).write(to: URL(fileURLWithPath: keyFile))
        let otherKeyFile = directory.file("other.pub")
        try Data((AuditSigningKey.generate(name: "carbon-recovery-interop").verifierKey.text + "\n").utf8).write(to: URL(fileURLWithPath: otherKeyFile))

        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        // Sizes that are powers of two, odd and even, so that every shape of proof comes up.
        var checkpoints: [AuditCheckpoint] = []
        var size = 0
        for pairs in [1, 1, 2, 3, 4, 8, 1] {
            try await fill(trail, pairs: pairs, tag: "p\(size)")
            size += 2 * pairs
            checkpoints.append(try await trail.checkpoint())
        }
        #expect(checkpoints.map(\.size) == [2, 4, 8, 14, 22, 38, 40])

        func check(_ proof: AuditProof, name: String, key: String? = nil) async throws -> ProcessResult {
            let file = directory.file(name)
            try Data(proof.text.utf8).write(to: URL(fileURLWithPath: file))
            return try await run(checker, [key ?? keyFile, file])
        }

        let last = checkpoints.last!
        for sequence in [1, 2, 3, 8, 13, 22, 23, 38, 40] as [Int64] {
            let (entry, path) = try await trail.inclusionProof(sequence: sequence, size: last.size)
            let proof = AuditProof.inclusion(index: sequence - 1, entry: entry.jsonLine, path: path, checkpoint: last.note)
            let result = try await check(proof, name: "entry-\(sequence).proof")
            #expect(result.status == 0 && result.standardOutput.contains("inclusion ok: entry \(sequence) in \(last.origin) at size 40"), "\(result.standardOutput)")
        }
        // And against an older checkpoint: entry 5 in the tree of 8.
        let (five, fivePath) = try await trail.inclusionProof(sequence: 5, size: 8)
        let fiveProof = AuditProof.inclusion(index: 4, entry: five.jsonLine, path: fivePath, checkpoint: checkpoints[2].note)
        #expect(try await check(fiveProof, name: "five.proof").status == 0)

        for (olderIndex, older) in checkpoints.enumerated() {
            for newer in checkpoints[(olderIndex + 1)...] {
                let path = try await trail.consistencyProof(from: older.size, to: newer.size)
                let result = try await check(.consistency(path: path, older: older.note, newer: newer.note), name: "c-\(older.size)-\(newer.size).proof")
                #expect(result.status == 0 && result.standardOutput.contains("size \(newer.size) extends size \(older.size)"), "\(older.size)→\(newer.size): \(result.standardOutput)")
            }
        }

        // Refused by Go as by us: another key, a changed entry line, a changed hash, a reversed consistency proof.
        #expect(try await check(fiveProof, name: "five-other-key.proof", key: otherKeyFile).status == 1)
        let edited = AuditProof.inclusion(index: 4, entry: five.jsonLine.replacingOccurrences(of: "alice", with: "mallory"), path: fivePath, checkpoint: checkpoints[2].note)
        #expect(try await check(edited, name: "edited.proof").status == 1)
        var flipped = fivePath
        flipped[0][0] ^= 1
        #expect(try await check(.inclusion(index: 4, entry: five.jsonLine, path: flipped, checkpoint: checkpoints[2].note), name: "flipped.proof").status == 1)
        let forward = try await trail.consistencyProof(from: 8, to: 22)
        #expect(try await check(.consistency(path: forward, older: checkpoints[4].note, newer: checkpoints[2].note), name: "reversed.proof").status == 1)
        await trail.close()
    }
}
