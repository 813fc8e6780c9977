import CarbonRecovery
import Foundation
import Testing

@Suite("Kubernetes names")
struct KubernetesNameTests {
    @Test("good labels", arguments: ["a", "data-platform", "vault-prod", "0", "a1-b2", String(repeating: "a", count: 63)])
    func goodLabels(name: String) throws {
        try KubernetesName.validateLabel(name, what: "namespace")
        #expect(KubernetesName.isSubdomain(name))
    }

    @Test("bad labels", arguments: [
        "Data_Platform", "UPPER", "-lead", "trail-", "a.b", "--kubeconfig=/x", "a;rm -rf /", "$(id)", "a b", "line\nbreak",
        "ünïcødé", String(repeating: "a", count: 64), "`id`", "a/b",
    ])
    func badLabels(name: String) {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateLabel(name, what: "namespace") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("namespace '") == true)
        #expect(error?.message.contains("is not a DNS-1123 label") == true)
    }

    @Test("an empty name says so")
    func emptyName() {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateSubdomain("", what: "backup name") }
        #expect(error?.message == "backup name must not be empty")
    }

    @Test("good subdomains", arguments: ["daily-20261125020000", "a.b.c", "backups.velero.io", String(repeating: "a.", count: 126) + "a"])
    func goodSubdomains(name: String) throws {
        try KubernetesName.validateSubdomain(name, what: "backup name")
    }

    @Test("bad subdomains", arguments: ["a..b", ".a", "a.", "A.b", "a_b", "--kubeconfig=/x", String(repeating: "a", count: 254), "a.-b"])
    func badSubdomains(name: String) {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateSubdomain(name, what: "backup name") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("is not a DNS-1123 subdomain") == true)
    }

    @Test("control characters are shown escaped in messages")
    func printableMessage() {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateLabel("a\u{1b}[31m", what: "namespace") }
        #expect(error?.message.contains("\\u{1B}") == true)
    }
}

@Suite("Label selectors")
struct LabelSelectorTests {
    @Test("good selectors parse to their canonical form", arguments: [
        ("app=postgresql", "app=postgresql"),
        ("app==postgresql", "app=postgresql"),
        (" app = postgresql , tier!=cache ", "app=postgresql,tier!=cache"),
        ("tier in (db, cache)", "tier in (cache,db)"),
        ("tier notin (db)", "tier notin (db)"),
        ("backup", "backup"),
        ("!canary", "!canary"),
        ("app.kubernetes.io/name=postgresql,velero.io/exclude-from-backup!=true", "app.kubernetes.io/name=postgresql,velero.io/exclude-from-backup!=true"),
        ("empty=", "empty="),
        ("", ""),
    ])
    func good(text: String, canonical: String) throws {
        let selector = try LabelSelector(parsing: text)
        #expect(selector.description == canonical)
        #expect(try LabelSelector(parsing: selector.description) == selector)
    }

    @Test("bad selectors name the problem", arguments: [
        ("app in (x", "missing ')' after values of 'app'"),
        ("app in x", "missing '(' after 'in' of 'app'"),
        ("app in ()", "expected a value of 'app', found ')'"),
        ("=x", "expected a label key, found '='"),
        ("app=x,", "expected a label key, found the end"),
        ("app x", "expected an operator"),
        ("app=x y", "expected ',' or the end"),
        ("Bad Key=x", "expected an operator"),
        ("-app=x", "key '-app' must be 1 to 63"),
        ("a/b/c=x", "has more than one '/'"),
        ("UPPER.Prefix/app=x", "is not a DNS-1123 subdomain"),
        ("app=-bad", "value '-bad' of 'app'"),
        ("app=\(String(repeating: "v", count: 64))", "value 'vvvv"),
        ("!", "expected a label key after '!'"),
    ])
    func bad(text: String, message: String) {
        let error = #expect(throws: RecoveryError.self) { try LabelSelector(parsing: text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("label selector '") == true)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("matching follows Kubernetes semantics", arguments: [
        ("app=pg", ["app": "pg"], true), ("app=pg", ["app": "other"], false), ("app=pg", [:], false),
        ("app!=pg", [:], true), ("app!=pg", ["app": "pg"], false),
        ("tier in (db,cache)", ["tier": "db"], true), ("tier in (db)", [:], false),
        ("tier notin (db)", [:], true), ("tier notin (db)", ["tier": "db"], false),
        ("backup", ["backup": ""], true), ("backup", [:], false), ("!canary", ["canary": "1"], false),
        ("app=pg,!canary", ["app": "pg"], true),
    ] as [(String, [String: String], Bool)])
    func matching(text: String, labels: [String: String], expected: Bool) throws {
        #expect(try LabelSelector(parsing: text).matches(labels) == expected)
    }

    @Test("the Kubernetes JSON form splits labels and expressions")
    func kubernetesForm() throws {
        let selector = try LabelSelector(parsing: "app=pg,tier in (db,cache),canary!=true,!legacy,backup")
        #expect(selector.matchLabels == ["app": "pg"])
        #expect(selector.matchExpressions == [
            .init(key: "tier", operator: "In", values: ["cache", "db"]),
            .init(key: "canary", operator: "NotIn", values: ["true"]),
            .init(key: "legacy", operator: "DoesNotExist", values: []),
            .init(key: "backup", operator: "Exists", values: []),
        ])
    }

    @Test("matchLabels are validated")
    func matchLabels() throws {
        #expect(try LabelSelector(matchLabels: ["b": "2", "a": "1"]).description == "a=1,b=2")
        #expect(throws: RecoveryError.self) { try LabelSelector(matchLabels: ["bad key": "1"]) }
    }
}

@Suite("Go durations")
struct GoDurationTests {
    @Test("parse and print like Go", arguments: [
        ("720h0m0s", 2_592_000_000_000_000, "720h0m0s"),
        ("720h", 2_592_000_000_000_000, "720h0m0s"),
        ("24h0m0s", 86_400_000_000_000, "24h0m0s"),
        ("1h30m", 5_400_000_000_000, "1h30m0s"),
        ("90m", 5_400_000_000_000, "1h30m0s"),
        ("1.5h", 5_400_000_000_000, "1h30m0s"),
        ("1.5s", 1_500_000_000, "1.5s"),
        ("300ms", 300_000_000, "300ms"),
        ("1us", 1_000, "1µs"),
        ("1µs", 1_000, "1µs"),
        ("1μs", 1_000, "1µs"),
        ("1ns", 1, "1ns"),
        ("0", 0, "0s"),
        ("0s", 0, "0s"),
        ("+5m", 300_000_000_000, "5m0s"),
        ("-2m3.5s", -123_500_000_000, "-2m3.5s"),
        (".5s", 500_000_000, "500ms"),
        ("1h1m1s1ms1us1ns", 3_661_001_001_001, "1h1m1.001001001s"),
        ("2562047h47m16.854775807s", Int64.max, "2562047h47m16.854775807s"),
        ("-2562047h47m16.854775808s", Int64.min, "-2562047h47m16.854775808s"),
    ] as [(String, Int64, String)])
    func good(text: String, nanoseconds: Int64, printed: String) throws {
        let duration = try GoDuration(parsing: text)
        #expect(duration.nanoseconds == nanoseconds)
        #expect(duration.description == printed)
        #expect(try GoDuration(parsing: printed) == duration)
    }

    @Test("bad durations", arguments: [
        "", "h", "1", "10", "1d", "1 h", "1h ", "--1h", "1.h.5", ".", ".s", "1e3s", "2562047h47m16.854775808s", "9999999999h", "1hh",
    ])
    func bad(text: String) {
        let error = #expect(throws: RecoveryError.self) { try GoDuration(parsing: text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("duration '") == true)
        #expect(error?.message.contains("720h0m0s") == true)
    }

    @Test("a TTL must not be negative")
    func ttl() throws {
        #expect(try GoDuration.parseTTL("24h") == .hours(24))
        let error = #expect(throws: RecoveryError.self) { try GoDuration.parseTTL("-1h") }
        #expect(error?.message.contains("use a positive duration such as 720h0m0s") == true)
    }

    @Test("Codable as its string form, with a clear decoding error")
    func codable() throws {
        let data = try JSONEncoder().encode(["ttl": GoDuration.hours(168)])
        #expect(String(decoding: data, as: UTF8.self) == #"{"ttl":"168h0m0s"}"#)
        #expect(try JSONDecoder().decode([String: GoDuration].self, from: data) == ["ttl": .hours(168)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([String: GoDuration].self, from: Data(#"{"ttl":"7d"}"#.utf8)) }
    }

    @Test("conversions")
    func conversions() {
        #expect(GoDuration.minutes(15).timeInterval == 900)
        #expect(GoDuration.seconds(2).swiftDuration == .seconds(2))
        #expect(GoDuration.minutes(15) < .hours(6))
    }
}

@Suite("Cron schedules")
struct CronScheduleTests {
    static func date(_ text: String) -> Date { AuditTimestamp.parse(text)! }

    @Test("good schedules", arguments: [
        "0 */6 * * *", "0 2 * * *", "0 3 * * *", "CRON_TZ=Europe/Berlin 0 3 * * *", "TZ=UTC 30 1 * * 1-5", "@every 6h",
        "@every 15m", "@every 1h30m", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@annually", "@midnight",
        "*/15 * * * *", "0 0 1,15 * *", "0 0 * JAN-MAR MON", "0 0 ? * sun", "5/10 * * * *", "0 0 29 2 *",
    ])
    func good(text: String) throws {
        let schedule = try CronSchedule(parsing: text)
        #expect(schedule.description == text)
        #expect(schedule.nextFire(after: Self.date("2026-11-25T00:00:00Z")) != nil)
    }

    @Test("bad schedules name the problem", arguments: [
        ("", "it is empty"),
        ("0 0 * * 7", "day-of-week 7 is above 6 (use 0 for Sunday; Velero rejects 7)"),
        ("* * * * * *", "remove the seconds field"),
        ("0 2 * *", "it has 4 fields"),
        ("61 * * * *", "minute 61 is above 59"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "must be a positive number"),
        ("0 24 * * *", "hour 24 is above 23"),
        ("0 0 0 * *", "day-of-month 0 is below 1"),
        ("0 0 * 13 *", "month 13 is above 12"),
        ("0 0 * FOO *", "month 'FOO' is not a number or a name"),
        ("x * * * *", "minute 'x' is not a number"),
        ("TZ=Nowhere/City 0 * * * *", "'Nowhere/City' is not an IANA time zone"),
        ("CRON_TZ=UTC", "must be followed by the schedule"),
        ("@every 500ms", "shorter than one second"),
        ("@every -1h", "shorter than one second"),
        ("@every", "@every needs a duration"),
        ("@fortnightly", "is not one of @yearly"),
        ("1-2-3 * * * *", "more than one '-'"),
        ("*/2/3 * * * *", "more than one '/'"),
    ])
    func bad(text: String, message: String) {
        let error = #expect(throws: RecoveryError.self) { try CronSchedule(parsing: text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("cron schedule '") == true)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("next fire times", arguments: [
        ("0 */6 * * *", "2026-11-25T05:12:00Z", "2026-11-25T06:00:00Z"),
        ("0 */6 * * *", "2026-11-25T06:00:00Z", "2026-11-25T12:00:00Z"),
        ("0 2 * * *", "2026-11-25T02:00:30Z", "2026-11-26T02:00:00Z"),
        ("0 2 * * *", "2026-12-31T03:00:00Z", "2027-01-01T02:00:00Z"),
        ("30 1 * * 1-5", "2026-11-27T02:00:00Z", "2026-11-30T01:30:00Z"),
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 13 * 5", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"),
        ("0 0 13 * *", "2026-11-25T00:00:00Z", "2026-12-13T00:00:00Z"),
        ("0 0 * * 5", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"),
        ("CRON_TZ=Europe/Berlin 0 3 * * *", "2026-11-25T00:00:00Z", "2026-11-25T02:00:00Z"),
        ("CRON_TZ=Europe/Berlin 0 3 * * *", "2026-07-01T00:00:00Z", "2026-07-01T01:00:00Z"),
        ("@every 15m", "2026-11-25T05:12:34.500Z", "2026-11-25T05:27:34Z"),
        ("@daily", "2026-11-25T05:00:00Z", "2026-11-26T00:00:00Z"),
    ])
    func nextFire(text: String, after: String, expected: String) throws {
        let next = try CronSchedule(parsing: text).nextFire(after: Self.date(after))
        #expect(next == Self.date(expected), "\(next.map(AuditTimestamp.format) ?? "nil")")
    }

    @Test("a schedule that never fires has no next time")
    func neverFires() throws {
        #expect(try CronSchedule(parsing: "0 0 30 2 *").nextFire(after: Self.date("2026-11-25T00:00:00Z")) == nil)
        #expect(try CronSchedule(parsing: "0 0 31 4 *").fireDates(after: Self.date("2026-11-25T00:00:00Z"), count: 3).isEmpty)
    }

    @Test("maximum interval: what a schedule means for an RPO", arguments: [
        ("0 */6 * * *", 21_600.0), ("@every 15m", 900.0), ("*/15 * * * *", 900.0), ("0 2 * * *", 86_400.0), ("0 2 * * 1-5", 259_200.0),
    ])
    func maximumInterval(text: String, seconds: TimeInterval) throws {
        let interval = try CronSchedule(parsing: text).maximumInterval(from: Self.date("2026-11-25T00:00:00Z"), within: 14 * 86_400)
        #expect(interval == seconds)
    }

    @Test("fire dates are consecutive")
    func fireDates() throws {
        let dates = try CronSchedule(parsing: "0 */6 * * *").fireDates(after: Self.date("2026-11-25T00:00:00Z"), count: 4)
        #expect(dates.map(AuditTimestamp.format) == [
            "2026-11-25T06:00:00.000Z", "2026-11-25T12:00:00.000Z", "2026-11-25T18:00:00.000Z", "2026-11-26T00:00:00.000Z",
        ])
    }

    @Test("Codable as its text")
    func codable() throws {
        let schedule = try CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 3 * * *")
        let data = try JSONEncoder().encode([schedule])
        #expect(try JSONDecoder().decode([CronSchedule].self, from: data) == [schedule])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([CronSchedule].self, from: Data(#"["0 0 * * 7"]"#.utf8)) }
    }
}

@Suite("Policy value types")
struct PolicyTests {
    @Test("schedule names become label values, so at most 63 characters")
    func scheduleName() throws {
        let cron = try CronSchedule(parsing: "0 2 * * *")
        try SchedulePolicy(name: "daily-backup", cron: cron, template: BackupRequest(name: "x", includedNamespaces: ["data-platform"])).validate()
        #expect(throws: RecoveryError.self) {
            try SchedulePolicy(name: String(repeating: "a", count: 64), cron: cron, template: BackupRequest(name: "x")).validate()
        }
        #expect(throws: RecoveryError.self) {
            try SchedulePolicy(name: "ok", cron: cron, template: BackupRequest(name: "x", includedNamespaces: ["Bad"])).validate()
        }
    }

    @Test("retention and objectives are checked")
    func retentionAndObjectives() throws {
        try RetentionPolicy(ttl: .hours(720), keepLast: 7, keepDaily: 30).validate()
        #expect(throws: RecoveryError.self) { try RetentionPolicy(ttl: GoDuration(nanoseconds: 0)).validate() }
        #expect(throws: RecoveryError.self) { try RetentionPolicy(keepWeekly: -1).validate() }
        let critical = RecoveryObjective(namespaceClass: "critical", namespaces: ["data-platform", "vault-prod"], rto: .hours(1), rpo: .minutes(15))
        try critical.validate()
        let now = Date()
        #expect(critical.isRPOMet(lastBackup: now.addingTimeInterval(-600), now: now))
        #expect(!critical.isRPOMet(lastBackup: now.addingTimeInterval(-6 * 3600), now: now))
        #expect(!critical.isRPOMet(lastBackup: nil, now: now))
        #expect(throws: RecoveryError.self) {
            try RecoveryObjective(namespaceClass: "critical", namespaces: ["ok"], rto: .hours(1), rpo: GoDuration(nanoseconds: 0)).validate()
        }
    }

    @Test("every Velero phase is known, and exactly four are terminal")
    func phases() {
        #expect(BackupPhase.allKnown.count == 13)
        #expect(BackupPhase.allKnown.filter(\.isTerminal) == [.failedValidation, .completed, .partiallyFailed, .failed])
        #expect(RestorePhase.allKnown.filter(\.isTerminal).count == 4)
        #expect(BackupPhase(rawValue: "SomethingNew").isTerminal == false)
    }
}
