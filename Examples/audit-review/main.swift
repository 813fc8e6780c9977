// audit-review — what a security reviewer runs: verify the trail read-only, then list every
// operation that did not succeed, with who ran it and why it failed.
//
//   swift run audit-review path/to/audit.db [public-key-file checkpoint-file]
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard let path = arguments.first else {
    FileHandle.standardError.write(Data("usage: audit-review AUDIT_DB [PUBLIC_KEY CHECKPOINT]\n".utf8))
    exit(2)
}
do {
    let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
    let report: AuditVerificationReport
    if arguments.count == 3 {
        let key = try AuditVerifierKey(contentsOf: URL(fileURLWithPath: arguments[1]))
        report = try await trail.verify(checkpointNote: try String(contentsOfFile: arguments[2], encoding: .utf8), key: key)
    } else {
        report = try await trail.verify()
    }
    print(report.isValid ? "chain verified: \(report.entriesChecked) entries" : "CHAIN BROKEN: \(report.problem!)")

    for outcome in [AuditOutcome.failure, .abandoned] {
        var query = AuditQuery(outcome: outcome, limit: 500)
        repeat {
            let page = try await trail.entries(matching: query)
            for entry in page.entries {
                print("\(entry.time)  \(outcome.rawValue.uppercased())  \(entry.operation) \(entry.target) by \(entry.actor) — \(entry.error ?? "")")
            }
            query.afterSequence = page.nextCursor
        } while query.afterSequence != nil
    }
    exit(report.isValid ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("audit-review: \(error)\n".utf8))
    exit(1)
}
