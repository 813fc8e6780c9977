// The evidence report from a real SQLite audit trail written over 30 simulated days: every
// figure in its JSON is checked against what the test wrote into the trail (counts, recovery
// times, breaches), and its page is rendered by a real headless Chromium.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPolicy
@testable import CarbonRecoveryReport
import CarbonRecoveryTestKit
import Foundation
import Testing
import TestSupport

extension Optional where Wrapped == JSONValue {
    /// A JSON number as a Double (integers too).
    var number: Double? {
        switch self {
        case .integer(let value)?: Double(value)
        case .double(let value)?: value
        default: nil
        }
    }
}

@Suite("The evidence report")
struct EvidenceReportTests {
    static let start = Date(timeIntervalSince1970: 1_796_000_000)   // 2026-11-29
    static let policyText = """
        storage: {endpoint: https://minio.storage.svc:9000, bucket: 254carbon-backups, credentials: {secret: {namespace: velero, name: cloud-credentials, key: cloud}}}
        objectives:
          - {class: critical, namespaces: [payments], rto: 1h0m0s, rpo: 6h0m0s}
        databases:
          - {stanza: main, bucket: 254carbon-pg, rpo: 5m, rto: 30m, baseBackup: "0 1 * * *"}
        """

    /// What the test wrote, to check the report against.
    struct Written {
        var backupsSucceeded = 0
        var backupsFailed = 0
        var breaches = 0
        var restoreTests: [Double] = []
        var restoreTestsOverRTO = 0
        var pitr: [Double] = []
        var fullRecovery: Double?
        var checks = 0
        var checksFailed = 0
        var worstAge = 0.0
    }

    /// 30 days: a backup of payments a day (every 9th fails), an rpo.check every 6 hours (the age
    /// climbs past the 6 h RPO on the days after a failed backup), a restore-test drill a week
    /// (one over the RTO), a PITR drill a week, one full recovery, a pg-check every 6 hours.
    static func writeTrail(_ path: String) async throws -> Written {
        let clock = SimulatedWallClock(start: start)
        let trail = try await SQLiteAuditTrail(path: path, clock: clock)
        let actor = AuditActor(user: "report-test")
        var written = Written()
        var lastBackup = start
        var breached = false
        func record(_ operation: String, _ target: String, attempt: JSONValue? = nil, _ outcome: AuditOutcome, _ details: JSONValue, error: String? = nil, at time: Date) async throws {
            clock.set(to: time)
            let id = UUID().uuidString
            if let attempt { _ = try await trail.record(.attempt(operation: operation, target: target, parameters: attempt, actor: actor, correlationID: id)) }
            _ = try await trail.record(.outcome(outcome, operation: operation, target: target, parameters: details, error: error, durationMilliseconds: 10, actor: actor, correlationID: id))
        }
        for hour in stride(from: 0, to: 30 * 24, by: 6) {
            let now = start.addingTimeInterval(Double(hour) * 3600)
            if hour % 24 == 0 {
                let day = hour / 24
                let failed = day % 9 == 8
                try await record(
                    "backup.create", "backup/payments-\(day)", attempt: ["includedNamespaces": ["payments"]], failed ? .failure : .success,
                    failed ? [:] : ["phase": "Completed"], error: failed ? "backup failed: <img src=x onerror=alert(1)>" : nil, at: now)
                if failed { written.backupsFailed += 1 } else { written.backupsSucceeded += 1; lastBackup = now }
            }
            let age = now.timeIntervalSince(lastBackup)
            written.worstAge = max(written.worstAge, age)
            if age > 6 * 3600 && !breached { written.breaches += 1 }
            breached = age > 6 * 3600
            try await record("rpo.check", "objectives", .success, ["ages": ["payments": .string(String(format: "%.0f", age))]], at: now.addingTimeInterval(60))
            let lag = hour % 48 == 0 ? 900.0 : 20.0
            let failed = hour == 120
            try await record("task.run", "task/pg-check/main", failed ? .failure : .success, failed ? [:] : ["lagSeconds": .integer(Int64(lag)), "gaps": 0], at: now.addingTimeInterval(90))
            written.checks += 1
            if failed { written.checksFailed += 1 }
            if hour % (24 * 7) == 12 {
                let week = hour / (24 * 7)
                let seconds = week == 2 ? 5_000.0 : 120.5 + Double(week)
                if seconds > 3600 { written.restoreTestsOverRTO += 1 }
                written.restoreTests.append(seconds)
                try await record(
                    "drill.run", "drill/weekly", attempt: ["kind": "restore-test", "schedule": "daily"], .success,
                    ["restore": .string("weekly-\(week)"), "recoveryTimeSeconds": .string(String(format: "%.3f", seconds)), "namespaceMappings": ["payments": "payments-drill"]],
                    at: now)
                // The drill's own restore test, which the report must not count twice.
                try await record("restore.test", "backup/payments-x", .success, ["restore": .string("weekly-\(week)"), "recoveryTimeSeconds": "1.0"], at: now.addingTimeInterval(1))
                let pitr = 40.0 + Double(week)
                written.pitr.append(pitr)
                try await record(
                    "drill.run", "drill/pitr", attempt: ["kind": "pitr", "database": "main"], .success,
                    ["marker": "m", "recoveryTimeSeconds": .double(pitr), "rtoSeconds": 1800, "passed": true], at: now.addingTimeInterval(2))
            }
            if hour == 24 * 20 {
                written.fullRecovery = 1_234.5
                try await record(
                    "cluster.recover", "recovery/dr-1", .success,
                    ["planOnly": false, "passed": true, "recoveryTimeSeconds": "1234.500", "points": [["scope": "namespace payments", "backup": "payments-19"]]],
                    at: now.addingTimeInterval(3))
            }
        }
        await trail.close()
        return written
    }

    /// A section a later capability might add, with text that must be shown and never run.
    static func addedSection() -> EvidenceReport.Section {
        EvidenceReport.Section(
            id: "witnesses", title: "Witnesses <script>alert(1)</script>",
            verdict: .init(declared: "2 of 3 witnesses", tested: "cosigned 40 checkpoints", observed: "newest cosigned 5 min ago", met: true),
            blocks: [
                .paragraph("Every checkpoint is cosigned by two of three witnesses."),
                .figures([.init(name: "cosigned", label: "Cosigned", value: "40"), .init(name: "refused", label: "Refused <b>", value: "0")]),
                .table(header: ["Witness", "Last cosigned"], rows: [["w1 \"quoted\" & <tag>", "2026-12-01"], ["w2"]]),
                .preformatted("sandbox.example/log\n42\nabc="),
                .durations(.init(
                    title: "Age of the newest cosignature", quantity: "cosignature age",
                    points: (0..<30).map { .init(time: start.addingTimeInterval(Double($0) * 86_400), seconds: Double($0 % 5) * 600) },
                    stepped: true, objectiveSeconds: 3600, objectiveLabel: "at most 1 h")),
            ],
            json: ["cosigned": 40, "refused": 0])
    }

    func report(_ path: String, to end: Date, sections: [EvidenceReport.Section] = []) async throws -> EvidenceReport {
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let document = try PolicyFile.parse(Self.policyText)
        let input = EvidenceReport.Input(
            from: Self.start, to: end, now: end, policy: document.policy, findings: document.lint(), trailPath: path,
            verification: try await trail.verify(), checkpoint: nil, clusterBackups: nil, windows: ["main": .failed("not reachable in this test")],
            sections: sections)
        do {
            let report = try await EvidenceReport.build(trail: trail, input: input)
            await trail.close()
            return report
        } catch {
            await trail.close()
            throw error
        }
    }

    @Test("the JSON holds what the trail holds: backups, breaches, every drill with its time against the RTO, the database's checks")
    func figures() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let written = try await Self.writeTrail(path)
        let end = Self.start.addingTimeInterval(30 * 86_400)
        let json = try await report(path, to: end, sections: [Self.addedSection()]).json
        let added = try #require(json["sections"]?.arrayValue)
        #expect(added.count == 1 && added[0]["id"]?.stringValue == "witnesses" && added[0]["figures"]?["cosigned"]?.integerValue == 40)
        #expect(added[0]["verdict"]?["met"]?.boolValue == true)
        let objective = try #require(json["objectives"]?.arrayValue?.first)
        let namespace = try #require(objective["namespaces"]?.arrayValue?.first)
        #expect(namespace["backups"]?["succeeded"]?.integerValue == Int64(written.backupsSucceeded))
        #expect(namespace["backups"]?["failed"]?.integerValue == Int64(written.backupsFailed) && written.backupsFailed == 3)
        #expect(namespace["breaches"]?.integerValue == Int64(written.breaches) && written.breaches >= 3, "\(written.breaches)")
        #expect(namespace["worstAgeSeconds"].number == written.worstAge)
        let drills = try #require(objective["drills"]?.arrayValue)
        #expect(
            drills.filter { $0["level"]?.stringValue == "restore-test" }.compactMap { $0["recoverySeconds"].number } == written.restoreTests,
            "each drill once, not again as its own restore test")
        #expect(drills.filter { $0["level"]?.stringValue == "full-recovery" }.compactMap { $0["recoverySeconds"].number } == [written.fullRecovery ?? 0],
                "the full recovery restored payments too")
        #expect(drills.filter { $0["metObjective"]?.boolValue == false }.count == written.restoreTestsOverRTO, "one drill over the 1 h RTO")
        #expect(drills.allSatisfy { $0["objectiveSeconds"].number == 3600 }, "the class's RTO")
        #expect(objective["verdict"]?["met"]?.boolValue == false, "breaches: not met")
        let database = try #require(json["databases"]?.arrayValue?.first)
        #expect(database["checks"]?.integerValue == Int64(written.checks) && database["checksFailed"]?.integerValue == Int64(written.checksFailed))
        #expect(database["drills"]?.arrayValue?.compactMap { $0["recoverySeconds"].number } == written.pitr)
        #expect(database["window"]?["error"]?.stringValue == "not reachable in this test")
        #expect(json["lastFullRecovery"]?["recoverySeconds"].number == written.fullRecovery)
        #expect(json["lastFullRecovery"]?["namespaces"]?.arrayValue == ["payments"])
        let all = try #require(json["drills"]?.arrayValue)
        #expect(all.count == written.restoreTests.count + written.pitr.count + 1)
        #expect(json["trail"]?["valid"]?.boolValue == true && json["trail"]?["entriesChecked"]?.integerValue.map { $0 > 0 } == true)
        #expect(json["findings"]?.arrayValue?.isEmpty == false, "the policy's lint findings (no rpoCheck for the database, …)")
    }

    @Test("the page renders in headless Chromium: not blank, every figure in the DOM, the trail's text shown and never run")
    func browser() async throws {
        let chromium = try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "Debian's chromium (scripts/bootstrap installs it)")
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let written = try await Self.writeTrail(path)
        let html = try await report(path, to: Self.start.addingTimeInterval(30 * 86_400), sections: [Self.addedSection()]).html
        #expect(html.contains("Witnesses &lt;script&gt;alert(1)&lt;/script&gt;") && html.contains("w1 &quot;quoted&quot; &amp; &lt;tag&gt;"), "an added section's text, escaped")
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("<img") && !html.contains("url("), "nothing run, nothing fetched")
        #expect(html.contains("backup failed: &lt;img src=x onerror=alert(1)&gt;"), "the backup's error, escaped")
        let page = directory.file("report.html"), blank = directory.file("blank.html")
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        try "<!doctype html><html><body></body></html>".write(toFile: blank, atomically: true, encoding: .utf8)
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=\(directory.file("profile"))"]
        let dom = try await run(chromium, flags + ["--dump-dom", "file://\(page)"], timeout: .seconds(120))
        #expect(dom.status == 0, "\(dom.standardError.suffix(2000))")
        let text = dom.standardOutput
        #expect(text.contains(#"data-figure="breaches">\#(written.breaches)<"#), "the breach count")
        #expect(text.contains(#"data-figure="backups-failed">\#(written.backupsFailed)<"#))
        #expect(text.contains(#"data-figure="checks-failed">\#(written.checksFailed)<"#))
        #expect(text.contains("<svg") && text.contains("RPO 6.0 h"), "the charts, with the objective line")
        #expect(!text.contains("<img"), "the trail's text is shown, not run")
        #expect(text.contains(#"<section class="added" id="witnesses" data-section="witnesses">"#) && text.contains(#"data-figure="cosigned">40<"#),
                "the added section, after the report's own")
        #expect(text.contains(##"<a href="#witnesses">"##) && text.contains(#"<tr data-section="witnesses">"#), "in the contents and the summary")
        #expect(text.contains("at most 1 h"), "its chart, with its objective line")
        var shots: [Int] = []
        for file in [page, blank] {
            let shot = directory.file("shot-\(shots.count).png")
            let result = try await run(chromium, flags + ["--screenshot=\(shot)", "--window-size=1280,2400", "--hide-scrollbars", "file://\(file)"], timeout: .seconds(120))
            #expect(result.status == 0, "\(result.standardError.suffix(2000))")
            shots.append((try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0)
        }
        #expect(shots[1] > 0 && shots[0] > shots[1] * 5, "the report's screenshot holds far more than a blank page's: \(shots)")
        // To look at it: CARBON_RECOVERY_TEST_KEEP=/some/folder swift test --filter EvidenceReportTests
        if let keep = ProcessInfo.processInfo.environment["CARBON_RECOVERY_TEST_KEEP"], !keep.isEmpty {
            for (file, name) in [(page, "report.html"), (directory.file("shot-0.png"), "report.png")] {
                try? FileManager.default.removeItem(atPath: keep + "/" + name)
                try FileManager.default.copyItem(atPath: file, toPath: keep + "/" + name)
            }
        }
    }

    @Test("bad sections are refused before anything is read: an id that is not a name, the report's own or taken twice, a bad figure name, a chart value that is not a duration")
    func badSections() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        _ = try await Self.writeTrail(path)
        let good = Self.addedSection()
        var cases: [(String, [EvidenceReport.Section])] = []
        for id in ["", "Witnesses", "a b", "x\"onload=\"y", "audit-trail", "objective-critical", "database-main", String(repeating: "a", count: 65)] {
            var section = good
            section.id = id
            cases.append(("id \(id.debugDescription)", [section]))
        }
        cases.append(("duplicate", [good, good]))
        var figure = good
        figure.blocks = [.figures([.init(name: "Bad Name", label: "x", value: "y")])]
        cases.append(("figure name", [figure]))
        for value in [Double.nan, .infinity, -1] {
            var chart = good
            chart.blocks = [.durations(.init(title: "t", quantity: "q", points: [.init(time: Self.start, seconds: value)], stepped: false))]
            cases.append(("point \(value)", [chart]))
            chart.blocks = [.durations(.init(title: "t", quantity: "q", points: [], stepped: false, objectiveSeconds: value))]
            cases.append(("objective \(value)", [chart]))
        }
        for (name, sections) in cases {
            let error = await #expect(throws: RecoveryError.self, "\(name)") { _ = try await report(path, to: Self.start.addingTimeInterval(86_400), sections: sections) }
            #expect(error?.code == .invalidInput, "\(name): \(String(describing: error))")
        }
        // The same section alone is fine.
        #expect(try await report(path, to: Self.start.addingTimeInterval(86_400), sections: [good]).sections.count == 1)
    }
}
