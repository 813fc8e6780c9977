import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

/// The example executables run as a user would run them.
@Suite("Examples")
struct ExamplesTests {
    @Test("embed-sdk runs the guide's smoke test and leaves a verifiable trail that audit-review reads")
    func embedAndReview() async throws {
        let directory = try TemporaryDirectory()
        let database = directory.file("embed.db")
        let embed = try await run(try executable("embed-sdk"), [database])
        #expect(embed.status == 0, "\(embed.standardError)")
        #expect(embed.standardOutput.contains("backup smoke-backup: Completed"))
        #expect(embed.standardOutput.contains("validation: passed"))
        #expect(embed.standardOutput.contains("restore smoke-restore-test: Completed"))
        #expect(embed.standardOutput.contains("expected failure: [backup-failed] backup 'doomed' finished PartiallyFailed with 2 errors"))
        #expect(embed.standardOutput.contains("audit trail \(database): 8 entries, verified"))

        let review = try await run(try executable("audit-review"), [database])
        #expect(review.status == 0, "\(review.standardError)")
        #expect(review.standardOutput.hasPrefix("chain verified: 8 entries"))
        #expect(review.standardOutput.contains("FAILURE  backup.create backup/doomed by"))

        let usage = try await run(try executable("audit-review"), [])
        #expect(usage.status == 2)
        #expect(usage.standardError.hasPrefix("usage: audit-review AUDIT_DB"))
    }
}
