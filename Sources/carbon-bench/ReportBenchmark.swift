// carbon-bench report [--entries 1000000]: the evidence report over a trail of --entries entries
// spread over 90 days, against reading the same entries with the trail's own query API (in
// process) and with `carbon-recovery audit export` (as processes), in the same run.
//
// The trail's mix, per simulated minute: an rpo.check, a pg-check task run, an rpo-check task run,
// a notification (attempt and outcome) and a validation (attempt and outcome); every hour a
// backup; every day a restore-test drill and a PITR drill. The report reads the first three kinds
// and the backups and drills; the notifications and validations are the rest of a real trail.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPolicy
import CarbonRecoveryReport
import Foundation
import Synchronization

/// A clock that moves `step` seconds each time it is read: every appended entry gets its own time.
final class TickingClock: WallClock {
    private let ticks = Atomic<Int64>(0)
    let start: Date
    let step: Double

    init(start: Date, step: Double) {
        self.start = start
        self.step = step
    }

    func now() -> Date { start.addingTimeInterval(Double(ticks.add(1, ordering: .relaxed).oldValue) * step) }
    func sleep(until deadline: Date) async throws {}
}

func runReport(_ options: Options) async throws {
    let directory = options.directory ?? NSTemporaryDirectory() + "carbon-bench-report-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { if options.directory == nil { try? FileManager.default.removeItem(atPath: directory) } }
    let path = directory + "/trail.db"
    let end = Date()
    let start = end.addingTimeInterval(-90 * 86_400)
    // ~7.7 entries a minute over 90 days is 1 M entries; the clock ticks once per entry.
    let perMinute = 7.7
    let clock = TickingClock(start: start, step: 60 / perMinute)
    print("carbon-bench report: \(options.entries) entries over 90 days; scratch \(directory)")
    let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: nil, durability: .normal), clock: clock)
    let actor = AuditActor(user: "bench", cluster: "sandbox")
    var written = 0
    var minute = 0
    while written < options.entries {
        var records: [AuditRecord] = []
        for _ in 0..<200 {
            let id = "m\(minute)"
            let age = Double((minute % 60) * 60)
            records.append(.outcome(.success, operation: "rpo.check", target: "objectives", parameters: ["ages": ["payments": .string(String(Int(age))), "ledger": .string(String(Int(age)))]], durationMilliseconds: 4, actor: actor, correlationID: id + "r"))
            records.append(.outcome(.success, operation: "task.run", target: "task/pg-check/main", parameters: ["lagSeconds": .integer(Int64(minute % 7)), "gaps": 0], durationMilliseconds: 30, actor: actor, correlationID: id + "p"))
            records.append(.outcome(.success, operation: "task.run", target: "task/rpo-check", parameters: ["storageAvailable": true], durationMilliseconds: 30, actor: actor, correlationID: id + "t"))
            records.append(.attempt(operation: "notify.deliver", target: "notifier/ops", parameters: ["event": "backup.completed"], actor: actor, correlationID: id + "n"))
            records.append(.outcome(.success, operation: "notify.deliver", target: "notifier/ops", durationMilliseconds: 12, actor: actor, correlationID: id + "n"))
            records.append(.attempt(operation: "backup.validate", target: "backup/hourly-\(minute / 60)", actor: actor, correlationID: id + "v"))
            records.append(.outcome(.success, operation: "backup.validate", target: "backup/hourly-\(minute / 60)", parameters: ["phase": "Completed"], durationMilliseconds: 80, actor: actor, correlationID: id + "v"))
            if minute % 60 == 0 {
                records.append(.attempt(operation: "backup.create", target: "backup/hourly-\(minute / 60)", parameters: ["includedNamespaces": ["payments", "ledger"]], actor: actor, correlationID: id + "b"))
                records.append(.outcome(minute % 600 == 0 ? .failure : .success, operation: "backup.create", target: "backup/hourly-\(minute / 60)", parameters: ["phase": "Completed"], durationMilliseconds: 9_000, actor: actor, correlationID: id + "b"))
            }
            if minute % 1440 == 720 {
                records.append(.attempt(operation: "drill.run", target: "drill/daily", parameters: ["kind": "restore-test"], actor: actor, correlationID: id + "d"))
                records.append(.outcome(.success, operation: "drill.run", target: "drill/daily", parameters: ["restore": .string("d-\(minute)"), "recoveryTimeSeconds": "240.000", "namespaceMappings": ["payments": "payments-d"]], durationMilliseconds: 240_000, actor: actor, correlationID: id + "d"))
                records.append(.attempt(operation: "drill.run", target: "drill/pitr", parameters: ["kind": "pitr", "database": "main"], actor: actor, correlationID: id + "q"))
                records.append(.outcome(.success, operation: "drill.run", target: "drill/pitr", parameters: ["marker": "m", "recoveryTimeSeconds": .double(61.5), "rtoSeconds": 3600, "passed": true], durationMilliseconds: 61_500, actor: actor, correlationID: id + "q"))
            }
            minute += 1
        }
        records = Array(records.prefix(options.entries - written))
        _ = try await trail.record(contentsOf: records)
        written += records.count
    }
    await trail.close()
    let policyPath = directory + "/policy.yaml"
    try """
        storage: {endpoint: https://minio.storage.svc:9000, bucket: 254carbon-backups, credentials: {secret: {namespace: velero, name: c, key: cloud}}}
        objectives:
          - {class: critical, namespaces: [payments, ledger], rto: 1h0m0s, rpo: 1h0m0s}
        databases:
          - {stanza: main, bucket: 254carbon-pg, rpo: 5m, rto: 1h, baseBackup: "0 1 * * *"}
        """.write(toFile: policyPath, atomically: true, encoding: .utf8)
    let to = clock.now().addingTimeInterval(60)

    // In process: the report (read, assemble, render both) against the same queries alone.
    let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
    let document = try PolicyFile.parse(try String(contentsOfFile: policyPath, encoding: .utf8))
    let verification = try await reader.verify()
    var queryTimes: [Double] = [], reportTimes: [Double] = []
    var selected = 0, read = 0
    for _ in 0..<3 {
        queryTimes.append(try await seconds {
            selected = 0
            for operation in EvidenceReport.auditOperations {
                var cursor: Int64?
                repeat {
                    let page = try await reader.entries(matching: AuditQuery(
                        from: start, to: to, operation: operation.name, kind: operation.attempts ? nil : .outcome, afterSequence: cursor, limit: AuditQuery.maximumLimit))
                    selected += page.entries.count
                    cursor = page.nextCursor
                } while cursor != nil
            }
        })
        reportTimes.append(try await seconds {
            let report = try await EvidenceReport.build(trail: reader, input: EvidenceReport.Input(
                from: start, to: to, now: to, policy: document.policy, findings: document.lint(), trailPath: path, verification: verification, checkpoint: nil))
            read = report.entriesRead
            _ = report.json.canonicalString
            _ = report.html
        })
    }
    await reader.close()
    guard read == selected else { throw BenchError("the report read \(read) entries, the queries selected \(selected)") }
    report(
        "report over a \(written)-entry trail (\(selected) entries in its range; in process, read + assemble + JSON + HTML; median of 3)",
        measured: median(reportTimes), unit: "s", baseline: median(queryTimes),
        baselineName: "the trail's query API selecting the same \(selected) entries, same pages", target: "<= 2.00x")

    // As processes: `report --output json` against `audit export` of the same operations.
    let cli = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("carbon-recovery").path
    guard FileManager.default.isExecutableFile(atPath: cli) else { throw BenchError("\(cli) is missing: build it with `swift build -c release --static-swift-stdlib --product carbon-recovery` (as scripts/bench does)") }
    let range = ["--from", RFC3339.format(start), "--to", RFC3339.format(to)]
    var commandTimes: [Double] = [], exportTimes: [Double] = []
    for _ in 0..<3 {
        commandTimes.append(try await fileProcess(
            cli, ["report", "--config", policyPath, "--audit-db", path, "--no-cluster", "--no-archives", "--output", "json", "--out", directory + "/report.json"] + range).seconds)
        var total = 0.0
        for operation in EvidenceReport.auditOperations {
            total += try await fileProcess(
                cli, ["audit", "export", "--audit-db", path, "--operation", operation.name, "--file", directory + "/export-\(operation.name)-\(exportTimes.count).jsonl"]
                    + (operation.attempts ? [] : ["--kind", "outcome"]) + range).seconds
        }
        exportTimes.append(total)
    }
    report(
        "`carbon-recovery report --output json` over the same trail (process start included; median of 3)",
        measured: median(commandTimes), unit: "s", baseline: median(exportTimes),
        baselineName: "`carbon-recovery audit export` of the same operations and range, one process each, summed", target: "<= 2.00x")
}
