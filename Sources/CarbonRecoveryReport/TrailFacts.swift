import CarbonRecovery
import Foundation

/// What the audit trail says happened in a time range, read once: the entries of the
/// operations the evidence report draws on, in a few indexed queries (one per operation,
/// 10,000 entries a page), each parsed into the facts the report needs.
struct TrailFacts: Sendable {
    /// A backup the coordinator made (`backup.create`): its namespaces come from the attempt.
    struct BackupRun: Sendable {
        var time: Date
        var name: String
        var succeeded: Bool
        var phase: String?
        /// The namespaces it was asked for; empty for an every-namespace backup.
        var namespaces: [String]
        var error: String?
    }

    /// A drill or a restore test: something restored and timed.
    struct DrillRun: Sendable {
        enum Level: String, Sendable, CaseIterable {
            /// A backup restored into scratch namespaces and checked (`restore.test`, a `restore-test` drill).
            case restoreTest = "restore-test"
            /// A whole cluster recovered into another one (`cluster.recover`, a `full-recovery` drill).
            case fullRecovery = "full-recovery"
            /// The yearly exercise of the guide.
            case annualExercise = "annual-exercise"
            /// A database restored to a moment into a scratch instance (`pg.drill`, a `pitr` drill).
            case pitr
        }
        var time: Date
        /// `drill/<name>`, `backup/<name>`, `recovery/<name>` or `postgres/<stanza>`.
        var target: String
        var operation: String
        var level: Level
        var succeeded: Bool
        var recoverySeconds: Double?
        /// The RTO the run was measured against, when it recorded one.
        var objectiveSeconds: Double?
        /// The namespaces it restored (restore tests, recoveries) or the database (pitr).
        var namespaces: [String]
        var database: String?
        /// The restore's name, to drop the `restore.test` a drill recorded inside itself.
        var restore: String?
        var problems: [String]
    }

    /// One `rpo.check`: every namespace's RPO age then (`nil`: no backup at all).
    struct RPOSnapshot: Sendable {
        var time: Date
        var ages: [String: Double?]
        var newlyBreached: [String]
    }

    /// One `pg-check/<stanza>` run.
    struct DatabaseCheck: Sendable {
        var time: Date
        var stanza: String
        var succeeded: Bool
        var lagSeconds: Double?
        var gaps: Int?
        var error: String?
    }

    /// A base backup of a database (`pg.base-backup`).
    struct BaseBackupRun: Sendable {
        var time: Date
        var stanza: String
        var succeeded: Bool
        var bytes: Int?
    }

    var backups: [BackupRun] = []
    var drills: [DrillRun] = []
    var rpoChecks: [RPOSnapshot] = []
    var databaseChecks: [DatabaseCheck] = []
    var baseBackups: [BaseBackupRun] = []
    /// How many entries were read.
    var entriesRead = 0

    /// The operations read, and whether their attempts are needed too (for what only the attempt carries).
    static let operations: [(name: String, attempts: Bool)] = [
        ("backup.create", true), ("restore.test", false), ("drill.run", true), ("cluster.recover", false),
        ("pg.drill", false), ("pg.base-backup", false), ("rpo.check", false), ("task.run", false),
    ]

    /// Reads the facts of `from ..< to` from `trail`.
    static func read(from trail: any AuditTrail, from: Date, to: Date) async throws -> TrailFacts {
        var facts = TrailFacts()
        for operation in operations {
            var attempts: [String: AuditEntry] = [:]
            var cursor: Int64?
            repeat {
                let page = try await trail.entries(matching: AuditQuery(
                    from: from, to: to, operation: operation.name, kind: operation.attempts ? nil : .outcome, afterSequence: cursor, limit: AuditQuery.maximumLimit))
                facts.entriesRead += page.entries.count
                for entry in page.entries {
                    if entry.kind == .attempt {
                        attempts[entry.correlationID] = entry
                    } else {
                        facts.add(entry, attempt: attempts.removeValue(forKey: entry.correlationID))
                    }
                }
                cursor = page.nextCursor
            } while cursor != nil
        }
        // A drill's own restore test is the drill's evidence, not a second one.
        let drillRestores = Set(facts.drills.filter { $0.operation == "drill.run" }.compactMap(\.restore))
        facts.drills.removeAll { $0.operation == "restore.test" && $0.restore.map(drillRestores.contains) == true }
        facts.drills.sort { $0.time < $1.time }
        return facts
    }

    /// A number recorded as a JSON number or as a decimal string (`"12.345"`).
    static func seconds(_ value: JSONValue?) -> Double? {
        switch value {
        case .integer(let value)?: Double(value)
        case .double(let value)?: value
        case .string(let text)?: Double(text)
        default: nil
        }
    }

    private mutating func add(_ entry: AuditEntry, attempt: AuditEntry?) {
        guard let time = entry.date else { return }
        let details = (try? JSONValue(parsing: Array(entry.parameters.utf8))) ?? .object([:])
        let request = attempt.flatMap { try? JSONValue(parsing: Array($0.parameters.utf8)) } ?? .object([:])
        let succeeded = entry.outcome == .success
        let name = String(entry.target.drop { $0 != "/" }.dropFirst())
        func strings(_ value: JSONValue?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }
        switch entry.operation {
        case "backup.create":
            backups.append(BackupRun(
                time: time, name: name, succeeded: succeeded, phase: details["phase"]?.stringValue,
                namespaces: strings(request["includedNamespaces"]).filter { $0 != "*" }, error: entry.error))
        case "restore.test", "drill.run", "cluster.recover", "pg.drill":
            guard details["planOnly"]?.boolValue != true else { return }
            let kind = request["kind"]?.stringValue ?? details["kind"]?.stringValue
            let level: DrillRun.Level
            switch entry.operation {
            case "restore.test": level = .restoreTest
            case "cluster.recover": level = .fullRecovery
            case "pg.drill": level = .pitr
            default: level = kind.flatMap(DrillRun.Level.init(rawValue:)) ?? (details["marker"] != nil ? .pitr : .restoreTest)
            }
            var namespaces = details["namespaceMappings"]?.objectValue.map { Array($0.keys) } ?? []
            for point in details["points"]?.arrayValue ?? [] {
                if let scope = point["scope"]?.stringValue, scope.hasPrefix("namespace ") { namespaces.append(String(scope.dropFirst("namespace ".count))) }
            }
            let database = entry.operation == "pg.drill" ? name : request["database"]?.stringValue
            drills.append(DrillRun(
                time: time, target: entry.target, operation: entry.operation, level: level,
                succeeded: succeeded && details["passed"]?.boolValue != false && details["objectiveMet"]?.boolValue != false,
                recoverySeconds: Self.seconds(details["recoveryTimeSeconds"]),
                objectiveSeconds: Self.seconds(details["recoveryTimeObjectiveSeconds"]) ?? Self.seconds(details["rtoSeconds"]),
                namespaces: namespaces.sorted(), database: database, restore: details["restore"]?.stringValue,
                problems: strings(details["problems"]) + (entry.error.map { [$0] } ?? [])))
        case "pg.base-backup":
            baseBackups.append(BaseBackupRun(time: time, stanza: name, succeeded: succeeded, bytes: details["bytes"]?.integerValue.map(Int.init)))
        case "rpo.check":
            var ages: [String: Double?] = [:]
            for (namespace, age) in details["ages"]?.objectValue ?? [:] { ages[namespace] = Self.seconds(age) }
            rpoChecks.append(RPOSnapshot(time: time, ages: ages, newlyBreached: strings(details["newlyBreached"])))
        case "task.run":
            guard entry.target.hasPrefix("task/pg-check/") else { return }
            databaseChecks.append(DatabaseCheck(
                time: time, stanza: String(entry.target.dropFirst("task/pg-check/".count)), succeeded: succeeded,
                lagSeconds: Self.seconds(details["lagSeconds"]), gaps: details["gaps"]?.integerValue.map(Int.init), error: entry.error))
        default:
            return
        }
    }
}
