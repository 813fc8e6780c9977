import Foundation

extension PolicyLinter {
    /// The findings about the policy's databases (see the type's rules).
    func databaseFindings(_ policy: RecoveryPolicy) -> [PolicyFinding] {
        var findings: [PolicyFinding] = []
        for (index, database) in policy.databases.enumerated() {
            let field = "databases[\(index)]"
            let bucket = database.bucket ?? policy.storage.bucket
            let archiveRoot = database.prefix + "postgres/"
            if bucket == policy.storage.bucket && (policy.storage.prefix.isEmpty || archiveRoot.hasPrefix(policy.storage.prefix.hasSuffix("/") ? policy.storage.prefix : policy.storage.prefix + "/")) {
                findings.append(.init(
                    rule: "database-archive-in-velero-location", severity: .error, field: "\(field).bucket",
                    evidence: "the WAL archive of '\(database.stanza)' goes to \(bucket)/\(archiveRoot), inside the Velero location's folder: Velero marks a location whose folder holds anything but its own as unavailable, and backups stop.",
                    fix: "give the archive a bucket of its own (bucket: \(policy.storage.bucket)-pg), or a prefix outside the location's."))
            }
            if let cron = database.baseBackup {
                if cron.nextFire(after: referenceDate) == nil {
                    findings.append(.init(
                        rule: "cron-never-fires", severity: .error, field: "\(field).baseBackup",
                        evidence: "the base-backup cron '\(cron)' of '\(database.stanza)' has no fire time within five years.", fix: "correct it."))
                }
            } else {
                findings.append(.init(
                    rule: "database-without-base-backup", severity: .warning, field: "\(field).baseBackup",
                    evidence: "'\(database.stanza)' has no base-backup cron: a restore replays all WAL since the last base backup taken by hand, and retention can never free old WAL.",
                    fix: "baseBackup: \"0 1 * * *\" (nightly), so a restore replays at most a day of WAL."))
            }
            if database.keepBaseBackups != nil && policy.automation.cleanup == nil {
                findings.append(.init(
                    rule: "database-retention-off", severity: .warning, field: "\(field).keepBaseBackups",
                    evidence: "'\(database.stanza)' keeps \(database.keepBaseBackups ?? 0) base backups, but automation.cleanup is off: `run` never applies it, and the archive grows without end.",
                    fix: "set automation.cleanup (e.g. '30 4 * * *'), or run `carbon-recovery pg cleanup --keep N` yourself."))
            }
            if let check = policy.automation.rpoCheck {
                let gap = Self.largestGap(fires(check, within: window), window: window, start: referenceDate)
                if gap.isFinite, gap > database.rpo.timeInterval {
                    findings.append(.init(
                        rule: "database-check-slower-than-rpo", severity: .warning, field: "automation.rpoCheck",
                        evidence: "the archive-lag check runs up to \(Self.human(gap)) apart, but '\(database.stanza)' allows \(database.rpo) of data loss: the metric behind the lag alert is older than the RPO.",
                        fix: "check at least every \(database.rpo) (e.g. '* * * * *' for a 5m RPO)."))
                }
            } else {
                findings.append(.init(
                    rule: "database-check-slower-than-rpo", severity: .warning, field: "automation.rpoCheck",
                    evidence: "the archive-lag check is off, so nothing measures the lag of '\(database.stanza)' and its alert never has data.",
                    fix: "set automation.rpoCheck (e.g. '* * * * *')."))
            }
        }
        for (index, drill) in policy.drills.enumerated() where drill.kind == .pitr {
            if !policy.databases.contains(where: { $0.stanza == drill.database }) {
                findings.append(.init(
                    rule: "unknown-database", severity: .error, field: "drills[\(index)].database",
                    evidence: "pitr drill '\(drill.name)' restores database '\(drill.database ?? "")', which the policy's databases section does not define.",
                    fix: policy.databases.isEmpty ? "add the database under databases:, with its stanza, port and objectives." : "name one of: \(policy.databases.map(\.stanza).joined(separator: ", "))."))
            }
        }
        return findings
    }
}
