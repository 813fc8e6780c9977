import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

/// The example executables run as a user would run them.
@Suite("Examples")
struct ExamplesTests {
    @Test("embed-sdk backs up a namespace on the sandbox and waits; audit-review reads the trail, failures included")
    func embedAndReview() async throws {
        _ = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let database = directory.file("embed.db")
        // The sandbox's one stand-in serves every test running in parallel: a backup can queue
        // behind others' for minutes on a loaded CI machine (CI's 120 s limit ran out once).
        let embed = try await run(try executable("embed-sdk"), ["monitoring", database], timeout: .seconds(300))
        #expect(embed.status == 0, "\(embed.standardError)")
        #expect(embed.standardOutput.contains("  Completed "), "the progress callback saw the end")
        #expect(embed.standardOutput.range(of: "backup embed-monitoring-[0-9]+: Completed, [1-9][0-9]* items", options: .regularExpression) != nil, "\(embed.standardOutput)")
        #expect(embed.standardOutput.contains("validation: passed"))
        #expect(embed.standardOutput.contains("audit trail \(database): 4 entries, verified"))

        // A namespace that does not exist: Velero completes an empty backup, which validation rejects.
        let empty = try await run(try executable("embed-sdk"), ["no-such-namespace", database], timeout: .seconds(300))
        #expect(empty.status == 1)
        #expect(empty.standardOutput.contains("validation: failed: ") && empty.standardOutput.contains("lacks namespaces the backup included: no-such-namespace"), "\(empty.standardOutput)")

        let review = try await run(try executable("audit-review"), [database])
        #expect(review.status == 0, "\(review.standardError)")
        #expect(review.standardOutput.hasPrefix("chain verified: 8 entries"), "\(review.standardOutput)")
        #expect(review.standardOutput.contains("FAILURE  backup.validate backup/embed-no-such-namespace-"))

        let usage = try await run(try executable("audit-review"), [])
        #expect(usage.status == 2)
        #expect(usage.standardError.hasPrefix("usage: audit-review AUDIT_DB"))
    }
}
