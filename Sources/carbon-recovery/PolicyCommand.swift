import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import Foundation

/// `carbon-recovery policy lint FILE` — the policy file's contradictions, before they bite.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check a recovery policy file (carbon-recovery.yaml).",
        subcommands: [Lint.self])

    struct Lint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lint",
            abstract: "Find contradictions in a policy file: each with the rule, the evidence and a fix.",
            discussion: """
                Rules: schedule-slower-than-rpo, objective-not-covered, retention-shorter-than-drill, unknown-schedule, \
                overlapping-schedules, ttl-rejected, ttl-zero, cron-never-fires, alert-longer-than-rpo, rpo-check-slower-than-rpo, \
                cluster-resources-not-backed-up, drill-without-dr-cluster (docs/policy.md). \
                Exit status 1 when there is an error (or the file does not read), 0 otherwise, warnings included.
                """)
        @Option(name: .customLong("output"), help: "table or json.") var output: OutputFormat = .table
        @Argument(help: "The policy file.") var file: String

        func run() async throws {
            try await runReportingErrors {
                let document = try PolicyFile.load(path: file)
                let findings = document.lint()
                let errors = findings.filter { $0.severity == .error }.count
                if output == .json {
                    printJSON(.object([
                        "file": .string(file), "errors": .integer(Int64(errors)), "warnings": .integer(Int64(findings.count - errors)),
                        "findings": .array(findings.map { finding in
                            var object: [String: JSONValue] = [
                                "rule": .string(finding.rule), "severity": .string(finding.severity.rawValue), "field": .string(finding.field),
                                "evidence": .string(finding.evidence), "fix": .string(finding.fix),
                            ]
                            if let location = document.location(of: finding.field) {
                                object["line"] = .integer(Int64(location.line))
                                object["column"] = .integer(Int64(location.column))
                            }
                            return .object(object)
                        }),
                    ]))
                } else {
                    for finding in findings {
                        let place = document.location(of: finding.field).map { "\($0): " } ?? "\(file): "
                        print("\(place)\(finding.severity) [\(finding.rule)] \(finding.field)")
                        print("    \(finding.evidence)")
                        print("    fix: \(finding.fix)")
                    }
                    let schedules = document.policy.schedules.count, objectives = document.policy.objectives.count
                    print("\(file): \(schedules) schedules, \(objectives) objectives, \(document.policy.drills.count) drills: \(errors) errors, \(findings.count - errors) warnings")
                }
                if errors > 0 { throw ExitCode.failure }
            }
        }
    }
}
