import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

extension AuditCommand {
    /// `carbon-recovery audit ingest --apiserver-log FILE` — what others did, from the API server's
    /// own audit log, as external operations in the trail.
    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ingest",
            abstract: "Add the API server's audit log to the trail: who created, changed or read Velero's objects and the credentials secret.",
            discussion: """
                Reads a kube-apiserver audit log (--audit-log-format=json; the policy in docs/security.md logs Velero's \\
                objects and the credentials secret at Metadata level) and appends each result the trail does not have yet \\
                as an external operation: external.<verb> on namespace/resource.group/name, the Kubernetes user, groups, \\
                source addresses and user agent in its parameters, denied for 401/403. Run it again at any time: an event \\
                already in the trail (by its auditID) is never added twice. A line that is not an audit event stops the \\
                command before anything is added.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("apiserver-log"), help: ArgumentHelp("The API server's audit log (JSON lines).", valueName: "file"))
        var apiserverLog: String

        func run() async throws {
            try await runReportingErrors {
                guard let data = FileManager.default.contents(atPath: apiserverLog) else {
                    throw RecoveryError(.notFound, "the API server's audit log \(apiserverLog) does not exist or cannot be read", target: apiserverLog)
                }
                let events = try ExternalOperations.events(inLog: Array(data))
                let trail = try await openTrail(global, readOnly: false)
                let report = try await ExternalOperations(audit: trail).ingest(events)
                await trail.close()
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "events": .integer(Int64(report.events)), "ingested": .integer(Int64(report.ingested)),
                        "alreadyRecorded": .integer(Int64(report.alreadyRecorded)), "skipped": .integer(Int64(report.skipped)),
                        "denied": .integer(Int64(report.denied)),
                    ]).canonicalString)
                case .table:
                    print("\(report.ingested) new external operations from \(report.events) events (\(report.alreadyRecorded) already in the trail, "
                        + "\(report.skipped) not a result); \(report.denied) refused by the API server")
                }
            }
        }
    }
}
