import CarbonRecovery
import Foundation
import Testing

/// Parses an ISO 8601 test date such as `2026-11-25T00:00:00Z` or `2012-03-11T00:00:00-05:00`;
/// a malformed literal becomes `distantPast`, which no assertion expects.
private func date(_ text: String) -> Date {
    (try? Date(text, strategy: .iso8601)) ?? .distantPast
}

private func iso(_ date: Date?) -> String {
    date?.formatted(.iso8601) ?? "nil"
}

// MARK: - Kubernetes names

@Suite("Kubernetes names")
struct KubernetesNameTests {
    static let labelRules =
        "(use lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters)"
    static let subdomainRules =
        "(use lowercase letters, digits, '-' and '.', start and end every dot-separated part with a letter or digit, at most 253 characters)"

    @Test("good labels are labels and subdomains", arguments: [
        "a", "0", "data-platform", "vault-prod", "a1-b2", "9lives", "a--b", String(repeating: "a", count: 63),
    ])
    func goodLabels(name: String) throws {
        try KubernetesName.validateLabel(name, what: "namespace")
        try KubernetesName.validateSubdomain(name, what: "backup name")
        #expect(KubernetesName.isLabel(name))
        #expect(KubernetesName.isSubdomain(name))
    }

    /// Each bad value with the way the message shows it.
    @Test("bad labels are rejected with the value in the message", arguments: [
        ("Data_Platform", "Data_Platform"), ("UPPER", "UPPER"), ("-lead", "-lead"), ("trail-", "trail-"),
        ("a.b", "a.b"), ("--kubeconfig=/x", "--kubeconfig=/x"), ("a;rm -rf /", "a;rm -rf /"), ("$(id)", "$(id)"),
        ("`id`", "`id`"), ("a b", "a b"), (" a", " a"), ("a\n", "a\\n"), ("line\nbreak", "line\\nbreak"),
        ("tab\tbed", "tab\\tbed"), ("a\u{1b}[31m", "a\\u{1B}[31m"), ("a\u{202E}b", "a\\u{202E}b"),
        ("ünïcødé", "ünïcødé"), ("café", "café"), ("ａ", "ａ"), ("a/b", "a/b"), ("-", "-"),
        (String(repeating: "a", count: 64), String(repeating: "a", count: 64)),
    ])
    func badLabels(name: String, shown: String) {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateLabel(name, what: "namespace") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "namespace '\(shown)' is not a DNS-1123 label \(Self.labelRules)")
        #expect(!KubernetesName.isLabel(name))
    }

    @Test("the documented message, word for word")
    func documentedMessage() {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateLabel("Data_Platform", what: "namespace") }
        #expect(
            error?.message
                == "namespace 'Data_Platform' is not a DNS-1123 label (use lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters)"
        )
        #expect(error?.target == "Data_Platform")
    }

    @Test("an empty name says it must not be empty")
    func emptyName() {
        let label = #expect(throws: RecoveryError.self) { try KubernetesName.validateLabel("", what: "namespace") }
        #expect(label?.code == .invalidInput)
        #expect(label?.message == "namespace must not be empty")
        let subdomain = #expect(throws: RecoveryError.self) { try KubernetesName.validateSubdomain("", what: "backup name") }
        #expect(subdomain?.code == .invalidInput)
        #expect(subdomain?.message == "backup name must not be empty")
        #expect(!KubernetesName.isLabel(""))
        #expect(!KubernetesName.isSubdomain(""))
    }

    @Test("good subdomains", arguments: [
        "daily-20261125020000", "a.b.c", "backups.velero.io", "0.0", String(repeating: "a", count: 63) + ".b",
        // Kubernetes limits only the whole subdomain, not each part, so long backup names are fine.
        String(repeating: "a", count: 64) + ".b", String(repeating: "b", count: 253),
        String(repeating: "a.", count: 126) + "a",
    ])
    func goodSubdomains(name: String) throws {
        try KubernetesName.validateSubdomain(name, what: "backup name")
        #expect(KubernetesName.isSubdomain(name))
    }

    @Test("bad subdomains are rejected with the value in the message", arguments: [
        ("a..b", "a..b"), (".a", ".a"), ("a.", "a."), ("A.b", "A.b"), ("a_b", "a_b"), ("a.-b", "a.-b"), ("a-.b", "a-.b"),
        ("--kubeconfig=/x", "--kubeconfig=/x"), ("a;rm -rf /", "a;rm -rf /"), ("$(id)", "$(id)"), ("a b.c", "a b.c"),
        ("a.b\n", "a.b\\n"), ("ünï.code", "ünï.code"), (".", "."),
        (String(repeating: "a.", count: 126) + "ab", String(repeating: "a.", count: 126) + "ab"),
    ])
    func badSubdomains(name: String, shown: String) {
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateSubdomain(name, what: "backup name") }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "backup name '\(shown)' is not a DNS-1123 subdomain \(Self.subdomainRules)")
        #expect(!KubernetesName.isSubdomain(name))
    }

    @Test("a very long value is cut short in the message")
    func longValue() {
        let name = String(repeating: "x", count: 1_000)
        let error = #expect(throws: RecoveryError.self) { try KubernetesName.validateSubdomain(name, what: "backup name") }
        #expect(error?.message == "backup name '\(String(repeating: "x", count: 256))…' is not a DNS-1123 subdomain \(Self.subdomainRules)")
    }
}

// MARK: - Label selectors

@Suite("Label selectors")
struct LabelSelectorTests {
    static let keyRules =
        "must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, after an optional 'prefix/'"
    static let valueRules =
        "must be empty or 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    static let prefixRules = "is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)"

    @Test("good selectors parse to their canonical form, which parses back", arguments: [
        ("app=postgresql", "app=postgresql"),
        ("app==postgresql", "app=postgresql"),
        (" app = postgresql , tier!=cache ", "app=postgresql,tier!=cache"),
        ("tier in (db, cache)", "tier in (cache,db)"),
        ("tier in (db,cache,db)", "tier in (cache,db)"),
        ("tier notin (db)", "tier notin (db)"),
        ("tier\tnotin\t(\tdb\t)", "tier notin (db)"),
        ("app in(pg)", "app in (pg)"),
        ("backup", "backup"),
        ("!canary", "!canary"),
        ("! canary", "!canary"),
        ("app.kubernetes.io/name=postgresql,velero.io/exclude-from-backup!=true",
         "app.kubernetes.io/name=postgresql,velero.io/exclude-from-backup!=true"),
        ("empty=", "empty="),
        ("empty==,other!=", "empty=,other!="),
        ("Mixed_Case.key-1=Value_1.x", "Mixed_Case.key-1=Value_1.x"),
        ("in=notin", "in=notin"),
        ("z=1,a=2", "z=1,a=2"),
        ("", ""),
        ("   ", ""),
    ])
    func good(text: String, canonical: String) throws {
        let selector = try LabelSelector(parsing: text)
        #expect(selector.description == canonical)
        #expect(try LabelSelector(parsing: selector.description) == selector)
        #expect(selector.isEmpty == canonical.isEmpty)
    }

    @Test("parsed requirements")
    func requirements() throws {
        let selector = try LabelSelector(parsing: "app=pg, tier in (db,cache), canary!=true, !legacy, backup, zone notin (b,a)")
        #expect(selector.requirements == [
            .init(key: "app", op: .equals, values: ["pg"]),
            .init(key: "tier", op: .in, values: ["cache", "db"]),
            .init(key: "canary", op: .notEquals, values: ["true"]),
            .init(key: "legacy", op: .doesNotExist),
            .init(key: "backup", op: .exists),
            .init(key: "zone", op: .notIn, values: ["a", "b"]),
        ])
    }

    @Test("bad selectors name the selector and the offending token", arguments: [
        ("app in (x", "missing ')' after values of 'app'"),
        ("app in (x,", "missing ')' after values of 'app'"),
        ("app in x", "missing '(' after 'in' of 'app'"),
        ("app in", "missing '(' after 'in' of 'app'"),
        ("app notin ()", "'app notin ()' needs at least one value"),
        ("app in (a,)", "expected a value of 'app', found ')'"),
        ("app in (a b)", "expected ',' or ')' in the values of 'app', found 'b'"),
        ("app in (-a)", "value '-a' of 'app' \(valueRules)"),
        ("=x", "expected a label key, found '='"),
        ("app=x,", "expected a label key, found the end"),
        (",app", "expected a label key, found ','"),
        ("app x", "expected an operator (=, ==, !=, in, notin), ',' or the end after 'app', found 'x'"),
        ("Bad Key=x", "expected an operator (=, ==, !=, in, notin), ',' or the end after 'Bad', found 'Key'"),
        ("app>5", "expected an operator (=, ==, !=, in, notin), ',' or the end after 'app', found '>'"),
        ("app=x y", "expected ',' or the end after 'app=x', found 'y'"),
        ("app=a\nb", "expected ',' or the end after 'app=a', found 'b'"),
        ("!app=x", "expected ',' or the end after '!app', found '='"),
        ("app=(x)", "expected a value for 'app', found '('"),
        ("!", "expected a label key after '!', found the end"),
        ("-app=x", "key '-app' \(keyRules)"),
        ("app/=x", "key 'app/' \(keyRules)"),
        ("$(id)", "key '$' \(keyRules)"),
        ("ünï=1", "key 'ünï' \(keyRules)"),
        ("a/b/c=x", "key 'a/b/c' has more than one '/'"),
        ("UPPER.Prefix/app=x", "the prefix 'UPPER.Prefix' of key 'UPPER.Prefix/app' \(prefixRules)"),
        ("/app=x", "the prefix '' of key '/app' \(prefixRules)"),
        ("app=-bad", "value '-bad' of 'app' \(valueRules)"),
        ("app=x;rm", "value 'x;rm' of 'app' \(valueRules)"),
        ("app=\(String(repeating: "v", count: 64))", "value '\(String(repeating: "v", count: 64))' of 'app' \(valueRules)"),
        ("\(String(repeating: "k", count: 64))=1", "key '\(String(repeating: "k", count: 64))' \(keyRules)"),
    ])
    func bad(text: String, reason: String) {
        let error = #expect(throws: RecoveryError.self) { try LabelSelector(parsing: text) }
        #expect(error?.code == .invalidInput)
        let shown = text.replacingOccurrences(of: "\n", with: "\\n")
        #expect(error?.message == "label selector '\(shown)' is invalid: \(reason)")
    }

    @Test("the documented message, word for word")
    func documentedMessage() {
        let error = #expect(throws: RecoveryError.self) { try LabelSelector(parsing: "app in (x") }
        #expect(error?.message == "label selector 'app in (x' is invalid: missing ')' after values of 'app'")
    }

    @Test("matching follows Kubernetes semantics", arguments: [
        ("app=pg", ["app": "pg"], true), ("app=pg", ["app": "other"], false), ("app=pg", [:], false),
        ("app=", ["app": ""], true), ("app=", [:], false),
        ("app!=pg", [:], true), ("app!=pg", ["app": "pg"], false), ("app!=pg", ["app": "other"], true),
        ("tier in (db,cache)", ["tier": "db"], true), ("tier in (db,cache)", ["tier": "web"], false), ("tier in (db)", [:], false),
        ("tier notin (db)", [:], true), ("tier notin (db)", ["tier": "db"], false), ("tier notin (db)", ["tier": "web"], true),
        ("backup", ["backup": ""], true), ("backup", [:], false),
        ("!canary", ["canary": "1"], false), ("!canary", [:], true),
        ("app=pg,!canary", ["app": "pg"], true), ("app=pg,!canary", ["app": "pg", "canary": "x"], false),
        ("", ["anything": "x"], true),
    ] as [(String, [String: String], Bool)])
    func matching(text: String, labels: [String: String], expected: Bool) throws {
        #expect(try LabelSelector(parsing: text).matches(labels) == expected)
    }

    @Test("the Kubernetes JSON form splits labels and expressions")
    func kubernetesForm() throws {
        let selector = try LabelSelector(parsing: "app=pg,tier in (db,cache),canary!=true,!legacy,backup,zone notin (b,a)")
        #expect(selector.matchLabels == ["app": "pg"])
        #expect(selector.matchExpressions == [
            .init(key: "tier", operator: "In", values: ["cache", "db"]),
            .init(key: "canary", operator: "NotIn", values: ["true"]),
            .init(key: "legacy", operator: "DoesNotExist", values: []),
            .init(key: "backup", operator: "Exists", values: []),
            .init(key: "zone", operator: "NotIn", values: ["a", "b"]),
        ])
        #expect(LabelSelector(requirements: []).matchExpressions.isEmpty)
    }

    @Test("matchLabels are validated and ordered by key")
    func matchLabels() throws {
        let selector = try LabelSelector(matchLabels: ["b": "2", "a": "1", "app.kubernetes.io/name": "pg"])
        #expect(selector.description == "a=1,app.kubernetes.io/name=pg,b=2")
        #expect(selector.matchLabels == ["b": "2", "a": "1", "app.kubernetes.io/name": "pg"])
        #expect(try LabelSelector(matchLabels: [:]).isEmpty)
        let badKey = #expect(throws: RecoveryError.self) { try LabelSelector(matchLabels: ["bad key": "1"]) }
        #expect(badKey?.code == .invalidInput)
        #expect(badKey?.message == "label selector 'bad key=1' is invalid: key 'bad key' \(Self.keyRules)")
        let badValue = #expect(throws: RecoveryError.self) { try LabelSelector(matchLabels: ["app": "$(id)"]) }
        #expect(badValue?.code == .invalidInput)
        #expect(badValue?.message == "label selector 'app=$(id)' is invalid: value '$(id)' of 'app' \(Self.valueRules)")
    }

    @Test("requirements built in code print canonically")
    func built() throws {
        let selector = LabelSelector(requirements: [
            .init(key: "tier", op: .notIn, values: ["web", "cache"]),
            .init(key: "app", op: .equals, values: ["pg"]),
        ])
        #expect(selector.description == "tier notin (cache,web),app=pg")
        #expect(try LabelSelector(parsing: selector.description) == LabelSelector(requirements: [
            .init(key: "tier", op: .notIn, values: ["cache", "web"]),
            .init(key: "app", op: .equals, values: ["pg"]),
        ]))
    }
}

// MARK: - Go durations

@Suite("Go durations")
struct GoDurationTests {
    /// Go's own `ParseDuration` table, with what `Duration.String()` prints for each value.
    @Test("parses like Go's time.ParseDuration and prints like Duration.String()", arguments: [
        ("0", 0, "0s"), ("5s", 5_000_000_000, "5s"), ("30s", 30_000_000_000, "30s"), ("1478s", 1_478_000_000_000, "24m38s"),
        ("-5s", -5_000_000_000, "-5s"), ("+5s", 5_000_000_000, "5s"), ("-0", 0, "0s"), ("+0", 0, "0s"),
        ("5.0s", 5_000_000_000, "5s"), ("5.6s", 5_600_000_000, "5.6s"), ("5.s", 5_000_000_000, "5s"), (".5s", 500_000_000, "500ms"),
        ("1.0s", 1_000_000_000, "1s"), ("1.00s", 1_000_000_000, "1s"), ("1.004s", 1_004_000_000, "1.004s"),
        ("1.0040s", 1_004_000_000, "1.004s"), ("100.00100s", 100_001_000_000, "1m40.001s"),
        ("10ns", 10, "10ns"), ("11us", 11_000, "11µs"), ("12\u{00B5}s", 12_000, "12µs"), ("12\u{03BC}s", 12_000, "12µs"),
        ("13ms", 13_000_000, "13ms"), ("14s", 14_000_000_000, "14s"), ("15m", 900_000_000_000, "15m0s"),
        ("16h", 57_600_000_000_000, "16h0m0s"), ("3h30m", 12_600_000_000_000, "3h30m0s"),
        ("10.5s4m", 250_500_000_000, "4m10.5s"), ("-2m3.4s", -123_400_000_000, "-2m3.4s"),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006, "1h2m3.004005006s"), ("39h9m14.425s", 140_954_425_000_000, "39h9m14.425s"),
        ("52763797000ns", 52_763_797_000, "52.763797s"), ("0.3333333333333333333h", 1_200_000_000_000, "20m0s"),
        ("9007199254740993ns", 9_007_199_254_740_993, "2501h59m59.254740993s"),
        ("9223372036854775807ns", Int64.max, "2562047h47m16.854775807s"),
        ("9223372036854775.807us", Int64.max, "2562047h47m16.854775807s"),
        ("9223372036s854ms775us807ns", Int64.max, "2562047h47m16.854775807s"),
        ("-9223372036854775808ns", Int64.min, "-2562047h47m16.854775808s"),
        ("-9223372036854775.808us", Int64.min, "-2562047h47m16.854775808s"),
        ("-9223372036s854ms775us808ns", Int64.min, "-2562047h47m16.854775808s"),
        ("-2562047h47m16.854775808s", Int64.min, "-2562047h47m16.854775808s"),
        ("0.100000000000000000000h", 360_000_000_000, "6m0s"),
        ("0.830103483285477580700h", 2_988_372_539_827, "49m48.372539827s"),
        ("720h", 2_592_000_000_000_000, "720h0m0s"), ("720h0m0s", 2_592_000_000_000_000, "720h0m0s"),
        ("1.5h", 5_400_000_000_000, "1h30m0s"), ("90m", 5_400_000_000_000, "1h30m0s"), ("300ms", 300_000_000, "300ms"),
        ("1us", 1_000, "1µs"), ("1100ns", 1_100, "1.1µs"), ("2.2ms", 2_200_000, "2.2ms"), ("-2m3.5s", -123_500_000_000, "-2m3.5s"),
        ("8m0.000000001s", 480_000_000_001, "8m0.000000001s"), ("5h6m7.001s", 18_367_001_000_000, "5h6m7.001s"),
        ("1h0m0.5s", 3_600_500_000_000, "1h0m0.5s"), ("-1ns", -1, "-1ns"), ("-1.5ms", -1_500_000, "-1.5ms"),
    ] as [(String, Int64, String)])
    func good(text: String, nanoseconds: Int64, printed: String) throws {
        let duration = try GoDuration(parsing: text)
        #expect(duration.nanoseconds == nanoseconds)
        #expect(duration.description == printed)
        #expect(try GoDuration(parsing: printed) == duration)
    }

    /// Strings Go's `Duration.String()` produces, which must read back to the same text.
    @Test("Go-produced strings round-trip exactly", arguments: [
        "0s", "1ns", "999ns", "1.1µs", "999.999µs", "2.2ms", "999.999999ms", "1s", "3.3s", "59.999999999s", "1m0s",
        "4m5s", "4m5.001s", "1h0m0s", "5h6m7.001s", "8m0.000000001s", "24h0m0s", "168h0m0s", "720h0m0s", "8760h0m0s",
        "2562047h47m16.854775807s", "-2562047h47m16.854775808s", "-1.5µs", "-300ms",
    ])
    func roundTrip(text: String) throws {
        #expect(try GoDuration(parsing: text).description == text)
    }

    static let hint = "; write it like 720h0m0s, 24h, 90m or 1.5h"
    static let tooLong = "it is longer than the longest Go duration, 2562047h47m16.854775807s"

    @Test("bad durations are rejected with the text in the message", arguments: [
        ("", "it is empty"),
        ("3", "'3' has no unit (only a lone 0 may be written without one)"),
        ("10", "'10' has no unit (only a lone 0 may be written without one)"),
        ("1h30", "'30' has no unit (only a lone 0 may be written without one)"),
        ("00", "'00' has no unit (only a lone 0 may be written without one)"),
        ("-", "a sign needs a number and a unit after it"),
        ("+", "a sign needs a number and a unit after it"),
        ("s", "expected a number at 's'"),
        ("h", "expected a number at 'h'"),
        ("--1h", "expected a number at '-1h'"),
        (".", "'.' must have digits before or after it"),
        ("-.", "'.' must have digits before or after it"),
        (".s", "'.' must have digits before or after it"),
        ("+.s", "'.' must have digits before or after it"),
        ("1d", "'d' is not a unit (use ns, us, ms, s, m or h)"),
        ("7d", "'d' is not a unit (use ns, us, ms, s, m or h)"),
        ("1e3s", "'e' is not a unit (use ns, us, ms, s, m or h)"),
        ("1hh", "'hh' is not a unit (use ns, us, ms, s, m or h)"),
        ("1 h", "' h' is not a unit (use ns, us, ms, s, m or h)"),
        ("1h ", "'h ' is not a unit (use ns, us, ms, s, m or h)"),
        ("1H", "'H' is not a unit (use ns, us, ms, s, m or h)"),
        (" 1h", "expected a number at ' 1h'"),
        ("\u{FFFD}", "expected a number at '\u{FFFD}'"),
        ("9223372036854775810ns", tooLong),
        ("9223372036854775808ns", tooLong),
        ("-9223372036854775809ns", tooLong),
        ("9223372036854776us", tooLong),
        ("3000000h", tooLong),
        ("9223372036854775.808us", tooLong),
        ("9223372036854ms775us808ns", tooLong),
        ("2562047h47m16.854775808s", tooLong),
        ("99999999999999999999999h", tooLong),
    ])
    func bad(text: String, reason: String) {
        let error = #expect(throws: RecoveryError.self) { try GoDuration(parsing: text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "duration '\(text)' is invalid: \(reason)\(Self.hint)")
    }

    @Test("a TTL must not be negative")
    func ttl() throws {
        #expect(try GoDuration.parseTTL("24h") == .hours(24))
        #expect(try GoDuration.parseTTL("720h0m0s") == .hours(720))
        #expect(try GoDuration.parseTTL("0s") == GoDuration(nanoseconds: 0))
        let negative = #expect(throws: RecoveryError.self) { try GoDuration.parseTTL("-1h") }
        #expect(negative?.code == .invalidInput)
        #expect(negative?.message == "TTL '-1h' is negative: use a positive duration such as 720h0m0s")
        let malformed = #expect(throws: RecoveryError.self) { try GoDuration.parseTTL("30d") }
        #expect(malformed?.code == .invalidInput)
        #expect(malformed?.message == "TTL '30d' is invalid: 'd' is not a unit (use ns, us, ms, s, m or h)\(Self.hint)")
    }

    @Test("constructors")
    func constructors() {
        #expect(GoDuration.hours(720).description == "720h0m0s")
        #expect(GoDuration.hours(720).nanoseconds == 2_592_000_000_000_000)
        #expect(GoDuration.minutes(90).description == "1h30m0s")
        #expect(GoDuration.seconds(90).description == "1m30s")
        #expect(GoDuration(seconds: -3).description == "-3s")
        #expect(GoDuration(nanoseconds: 1_500).description == "1.5µs")
    }

    @Test("Codable as its string form, with a clear decoding error")
    func codable() throws {
        let data = try JSONEncoder().encode(["ttl": GoDuration.hours(168)])
        #expect(String(decoding: data, as: UTF8.self) == #"{"ttl":"168h0m0s"}"#)
        #expect(try JSONDecoder().decode([String: GoDuration].self, from: data) == ["ttl": .hours(168)])
        #expect(try JSONDecoder().decode([GoDuration].self, from: Data(#"["1.5h","-0"]"#.utf8)) == [.minutes(90), .seconds(0)])
        do {
            _ = try JSONDecoder().decode([String: GoDuration].self, from: Data(#"{"ttl":"7d"}"#.utf8))
            Issue.record("decoding 7d succeeded")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription == "duration '7d' is invalid: 'd' is not a unit (use ns, us, ms, s, m or h)\(Self.hint)")
            #expect(context.codingPath.map(\.stringValue) == ["ttl"])
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([GoDuration].self, from: Data("[3600]".utf8)) }
    }

    @Test("conversions and ordering")
    func conversions() {
        #expect(GoDuration.minutes(15).timeInterval == 900)
        #expect(GoDuration(nanoseconds: 1_500_000_000).timeInterval == 1.5)
        #expect(GoDuration.seconds(2).swiftDuration == .seconds(2))
        #expect(GoDuration(nanoseconds: -7).swiftDuration == .nanoseconds(-7))
        #expect(GoDuration.minutes(15) < .hours(6))
        #expect(GoDuration(nanoseconds: -1) < GoDuration(nanoseconds: 0))
        #expect([GoDuration.hours(1), .seconds(1), .minutes(1)].sorted() == [.seconds(1), .minutes(1), .hours(1)])
    }
}

// MARK: - Cron schedules

@Suite("Cron schedules")
struct CronScheduleTests {
    @Test("good schedules keep their text", arguments: [
        "0 */6 * * *", "0 2 * * *", "0 3 * * *", "CRON_TZ=Europe/Berlin 0 3 * * *", "TZ=UTC 30 1 * * 1-5",
        "TZ=America/New_York 0 1 * * *", "@every 6h", "@every 15m", "@every 1h30m", "@daily", "@hourly", "@weekly",
        "@monthly", "@yearly", "@annually", "@midnight", "CRON_TZ=Asia/Kolkata @daily", "*/15 * * * *", "0 0 1,15 * *",
        "0 0 * JAN-MAR MON", "0 0 * jan-mar mon-fri", "0 0 ? * sun", "? ? ? ? ?", "5/10 * * * *", "0 0 29 2 *",
        "0-59/20 0-23/4 1-31/10 1-12/3 0-6/2", "0,30 8-18 * * MON-FRI", "  0   2  *  *  *  ", "0\t2\t*\t*\t*",
        "59 23 31 12 6", "0 0 1 * *",
    ])
    func good(text: String) throws {
        let schedule = try CronSchedule(parsing: text)
        #expect(schedule.expression == text)
        #expect(schedule.description == text)
        #expect(schedule.nextFire(after: date("2026-11-25T00:00:00Z")) != nil)
    }

    @Test("the time zone and @every interval are exposed")
    func properties() throws {
        let berlin = try CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 3 * * *")
        #expect(berlin.timeZoneIdentifier == "Europe/Berlin")
        #expect(berlin.every == nil)
        let utc = try CronSchedule(parsing: "TZ=UTC @every 6h")
        #expect(utc.timeZoneIdentifier == "UTC")
        #expect(utc.every == .hours(6))
        #expect(try CronSchedule(parsing: "0 2 * * *").timeZoneIdentifier == nil)
        #expect(try CronSchedule(parsing: "@every 1.9s").every == .seconds(1))
        #expect(try CronSchedule(parsing: "@every 90m0.5s").every == .minutes(90))
    }

    static let fieldNames = "minute hour day-of-month month day-of-week"

    @Test("bad schedules name the schedule and what is wrong", arguments: [
        ("", "it is empty; write e.g. '0 2 * * *', '@daily' or '@every 6h'"),
        ("0 0 * * 7", "day-of-week '7' is out of range: day-of-week must be 0 to 6; use 0 or SUN for Sunday, 7 is not accepted"),
        ("0 0 * * 1-7", "day-of-week '1-7' is out of range: day-of-week must be 0 to 6; use 0 or SUN for Sunday, 7 is not accepted"),
        ("* * * * * *", "Velero's cron has 5 fields (\(fieldNames)); remove the seconds field"),
        ("0 0 2 * * *", "Velero's cron has 5 fields (\(fieldNames)); remove the seconds field"),
        ("0 2 * *", "it has 4 fields; Velero's cron has 5 fields (\(fieldNames))"),
        ("xyz", "it has 1 field; Velero's cron has 5 fields (\(fieldNames))"),
        ("0 0 1 1 * 2027 x", "it has 7 fields; Velero's cron has 5 fields (\(fieldNames))"),
        ("61 * * * *", "minute '61' is out of range: minute must be 0 to 59"),
        ("60 0 * * *", "minute '60' is out of range: minute must be 0 to 59"),
        ("0 24 * * *", "hour '24' is out of range: hour must be 0 to 23"),
        ("0 0 0 * *", "day-of-month '0' is out of range: day-of-month must be 1 to 31"),
        ("0 0 32 * *", "day-of-month '32' is out of range: day-of-month must be 1 to 31"),
        ("0 0 * 13 *", "month '13' is out of range: month must be 1 to 12"),
        ("0 0 * 0 *", "month '0' is out of range: month must be 1 to 12"),
        ("5-1 * * * *", "minute range '5-1' runs backwards (5 is after 1)"),
        ("0 0 * DEC-JAN *", "month range 'DEC-JAN' runs backwards (12 is after 1)"),
        ("*/0 * * * *", "the step of minute '*/0' must be at least 1"),
        ("15/0 * * * *", "the step of minute '15/0' must be at least 1"),
        ("*/x * * * *", "the step of minute '*/x' is not a number"),
        ("*/99999999999999999999 * * * *", "the step of minute '*/99999999999999999999' is too large"),
        ("0 0 * * 99999999999999999999", "day-of-week '99999999999999999999' is out of range: day-of-week must be 0 to 6; use 0 or SUN for Sunday, 7 is not accepted"),
        ("*/ * * * *", "the step of minute '*/' is not a number"),
        ("*/2/3 * * * *", "minute '*/2/3' has more than one '/'"),
        ("1-2-3 * * * *", "minute '1-2-3' has more than one '-'"),
        ("*-5 * * * *", "minute '*-5' mixes '*' with a range; write '*' or 'a-b'"),
        ("x * * * *", "minute 'x' is not a number"),
        ("-1 * * * *", "minute '-1' is not a number"),
        ("+5 * * * *", "minute '+5' is not a number"),
        ("0 0 * FOO *", "month 'FOO' is not a number or a month name (JAN-DEC)"),
        ("0 0 * * XYZ", "day-of-week 'XYZ' is not a number or a day name (SUN-SAT)"),
        ("0 0 * * MONDAY", "day-of-week 'MONDAY' is not a number or a day name (SUN-SAT)"),
        ("0 JAN * * *", "hour 'JAN' is not a number"),
        ("1,,2 * * * *", "the minute field '1,,2' has an empty item between commas"),
        ("0, * * * *", "the minute field '0,' has an empty item between commas"),
        ("TZ=Nowhere/City 0 * * * *", "'Nowhere/City' is not a known IANA time zone; use e.g. UTC or Europe/Berlin"),
        ("CRON_TZ=europe/berlin 0 * * * *", "'europe/berlin' is not a known IANA time zone; use e.g. UTC or Europe/Berlin"),
        ("CRON_TZ=UTC", "a time zone prefix must be followed by a space and the schedule, e.g. 'CRON_TZ=Europe/Berlin 0 3 * * *'"),
        ("CRON_TZ=UTC ", "the time zone 'UTC' must be followed by the schedule"),
        ("TZ= 0 * * * *", "the time zone prefix names no zone; write e.g. 'CRON_TZ=Europe/Berlin 0 3 * * *'"),
        ("@every 500ms", "@every 500ms is shorter than 1s; use at least 1s, e.g. '@every 15m'"),
        ("@every -1h", "@every -1h is shorter than 1s; use at least 1s, e.g. '@every 15m'"),
        ("@every 0", "@every 0 is shorter than 1s; use at least 1s, e.g. '@every 15m'"),
        ("@every", "@every needs one space and a duration, e.g. '@every 6h' or '@every 15m'"),
        ("@every 1d", "@every needs a duration such as 6h or 15m: duration '1d' is invalid: 'd' is not a unit (use ns, us, ms, s, m or h); write it like 720h0m0s, 24h, 90m or 1.5h"),
        ("@every  6h", "@every needs a duration such as 6h or 15m: duration ' 6h' is invalid: expected a number at ' 6h'; write it like 720h0m0s, 24h, 90m or 1.5h"),
        ("@fortnightly", "'@fortnightly' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"),
        ("@Daily", "'@Daily' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"),
        ("@daily 0", "'@daily 0' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"),
    ])
    func bad(text: String, reason: String) {
        let error = #expect(throws: RecoveryError.self) { try CronSchedule(parsing: text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "cron schedule '\(text)' is invalid: \(reason)")
    }

    @Test("next fire times (UTC, zones, leap days, day-of-month/day-of-week rules)", arguments: [
        // Plain UTC schedules.
        ("0 */6 * * *", "2026-11-25T05:12:00Z", "2026-11-25T06:00:00Z"),
        ("0 */6 * * *", "2026-11-25T06:00:00Z", "2026-11-25T12:00:00Z"),
        ("0 */6 * * *", "2026-11-25T05:59:59.999Z", "2026-11-25T06:00:00Z"),
        ("0 */6 * * *", "2026-12-31T18:00:00Z", "2027-01-01T00:00:00Z"),
        ("0 2 * * *", "2026-11-25T02:00:30Z", "2026-11-26T02:00:00Z"),
        ("0 2 * * *", "2026-11-25T01:59:59Z", "2026-11-25T02:00:00Z"),
        ("0 2 * * *", "2026-12-31T03:00:00Z", "2027-01-01T02:00:00Z"),
        ("30 1 * * 1-5", "2026-11-27T02:00:00Z", "2026-11-30T01:30:00Z"),
        ("*/15 * * * *", "2026-11-25T23:46:00Z", "2026-11-26T00:00:00Z"),
        ("* * * * *", "2026-11-25T10:00:00Z", "2026-11-25T10:01:00Z"),
        ("@daily", "2026-11-25T05:00:00Z", "2026-11-26T00:00:00Z"),
        ("@hourly", "2026-11-25T05:00:00Z", "2026-11-25T06:00:00Z"),
        ("@weekly", "2026-11-25T05:00:00Z", "2026-11-29T00:00:00Z"),
        ("@monthly", "2026-11-25T05:00:00Z", "2026-12-01T00:00:00Z"),
        ("@yearly", "2026-11-25T05:00:00Z", "2027-01-01T00:00:00Z"),
        // robfig/cron's own table, with the seconds field dropped.
        ("0/15 * * * *", "2012-07-09T14:45:00Z", "2012-07-09T15:00:00Z"),
        ("0/15 * * * *", "2012-07-09T14:59:59Z", "2012-07-09T15:00:00Z"),
        ("20-35/15 * * * *", "2012-07-09T15:45:00Z", "2012-07-09T16:20:00Z"),
        ("20-35/15 * * * *", "2012-07-09T23:45:00Z", "2012-07-10T00:20:00Z"),
        ("20-35/15 1/2 * * *", "2012-07-09T23:35:51Z", "2012-07-10T01:20:00Z"),
        ("20-35/15 1/2 */2 * *", "2012-07-09T23:35:51Z", "2012-07-11T01:20:00Z"),
        ("20-35/15 * 9-20 Jul *", "2012-07-09T23:35:51Z", "2012-07-10T00:20:00Z"),
        ("0 0 9 Apr-Oct ?", "2012-07-09T23:35:00Z", "2012-08-09T00:00:00Z"),
        ("0 0 */5 Apr,Aug,Oct Mon", "2012-07-09T23:35:00Z", "2012-08-01T00:00:00Z"),
        ("0 0 */5 Oct Mon", "2012-07-09T23:35:00Z", "2012-10-01T00:00:00Z"),
        ("0 0 * Feb Mon", "2012-07-09T23:35:00Z", "2013-02-04T00:00:00Z"),
        ("0 0 * Feb Mon/2", "2012-07-09T23:35:00Z", "2013-02-01T00:00:00Z"),
        ("* * * * *", "2012-12-31T23:59:45Z", "2013-01-01T00:00:00Z"),
        ("0 0 29 Feb ?", "2012-07-09T23:35:00Z", "2016-02-29T00:00:00Z"),
        // Leap days.
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 29 2 *", "2028-02-28T12:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 12 * 2 *", "2028-02-28T13:00:00Z", "2028-02-29T12:00:00Z"),
        ("0 12 * 2 *", "2027-02-28T13:00:00Z", "2028-02-01T12:00:00Z"),
        // Day-of-month and day-of-week: either one when both are restricted, both when one is '*' or '?'.
        ("0 0 13 * 5", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"),
        ("0 0 13 * 5", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"),
        ("0 0 1,15 * Sun", "2012-06-10T00:00:00Z", "2012-06-15T00:00:00Z"),
        ("0 0 13 * *", "2026-11-25T00:00:00Z", "2026-12-13T00:00:00Z"),
        ("0 0 * * 5", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"),
        ("0 0 ? * 5", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"),
        ("0 0 13 * ?", "2026-11-25T00:00:00Z", "2026-12-13T00:00:00Z"),
        ("0 0 */10 * Sun", "2012-07-14T00:00:00Z", "2012-07-15T00:00:00Z"),
        ("0 0 1-31/1 * Mon", "2012-07-14T00:00:00Z", "2012-07-15T00:00:00Z"),
        // Time zones.
        ("CRON_TZ=Europe/Berlin 0 3 * * *", "2026-11-25T00:00:00Z", "2026-11-25T02:00:00Z"),
        ("CRON_TZ=Europe/Berlin 0 3 * * *", "2026-07-01T00:00:00Z", "2026-07-01T01:00:00Z"),
        ("TZ=Asia/Kolkata 14 14 * * *", "2016-01-03T13:09:03+05:30", "2016-01-03T14:14:00+05:30"),
        ("TZ=Asia/Kathmandu 0 0 * * *", "2026-11-25T00:00:00Z", "2026-11-25T18:15:00Z"),
        ("CRON_TZ=Asia/Tokyo @daily", "2026-11-25T00:00:00Z", "2026-11-25T15:00:00Z"),
        // Daylight saving, as robfig/cron handles it: a missing hour is skipped, a repeated hour runs twice.
        ("TZ=America/New_York 30 2 11 Mar ?", "2012-03-11T00:00:00-05:00", "2013-03-11T02:30:00-04:00"),
        ("TZ=America/New_York 0 * * * ?", "2012-03-11T00:00:00-05:00", "2012-03-11T01:00:00-05:00"),
        ("TZ=America/New_York 0 * * * ?", "2012-03-11T01:00:00-05:00", "2012-03-11T03:00:00-04:00"),
        ("TZ=America/New_York 0 1 * * ?", "2012-03-11T01:00:00-05:00", "2012-03-12T01:00:00-04:00"),
        ("TZ=America/New_York 0 2 * * ?", "2012-03-11T00:00:00-05:00", "2012-03-12T02:00:00-04:00"),
        ("TZ=America/New_York 30 2 04 Nov ?", "2012-11-04T00:00:00-04:00", "2012-11-04T02:30:00-05:00"),
        ("TZ=America/New_York 30 1 04 Nov ?", "2012-11-04T01:45:00-04:00", "2012-11-04T01:30:00-05:00"),
        ("TZ=America/New_York 0 * * * ?", "2012-11-04T01:00:00-04:00", "2012-11-04T01:00:00-05:00"),
        ("TZ=America/New_York 0 * * * ?", "2012-11-04T01:00:00-05:00", "2012-11-04T02:00:00-05:00"),
        ("TZ=America/New_York 0 1 * * ?", "2012-11-04T00:00:00-04:00", "2012-11-04T01:00:00-04:00"),
        ("TZ=America/New_York 0 1 * * ?", "2012-11-04T01:00:00-04:00", "2012-11-04T01:00:00-05:00"),
        ("TZ=America/New_York 0 1 * * ?", "2012-11-04T01:00:00-05:00", "2012-11-05T01:00:00-05:00"),
        ("TZ=America/New_York 0 2 * * ?", "2012-11-04T00:00:00-04:00", "2012-11-04T02:00:00-05:00"),
        ("TZ=America/New_York 0 3 * * ?", "2012-11-04T00:00:00-04:00", "2012-11-04T03:00:00-05:00"),
        ("TZ=America/New_York 0 3 3 * ?", "2012-11-04T00:00:00-04:00", "2012-12-03T03:00:00-05:00"),
        ("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-03-28T02:00:00Z", "2026-03-30T00:30:00Z"),
        ("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-10-24T23:00:00Z", "2026-10-25T00:30:00Z"),
        ("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"),
        // Midnight does not exist on some days in São Paulo (robfig/cron issue 157).
        ("TZ=America/Sao_Paulo 0 9 10 * ?", "2018-10-17T05:00:00-04:00", "2018-11-10T06:00:00-05:00"),
        ("TZ=America/Sao_Paulo 0 9 22 * ?", "2018-02-14T05:00:00-05:00", "2018-02-22T07:00:00-05:00"),
        // @every: the start's sub-second part is dropped, as robfig/cron does.
        ("@every 15m", "2026-11-25T05:12:34.500Z", "2026-11-25T05:27:34Z"),
        ("@every 6h", "2026-11-25T05:00:00Z", "2026-11-25T11:00:00Z"),
        ("CRON_TZ=Europe/Berlin @every 1h30m", "2026-11-25T05:00:00.999Z", "2026-11-25T06:30:00Z"),
    ])
    func nextFire(text: String, after: String, expected: String) throws {
        let next = try CronSchedule(parsing: text).nextFire(after: date(after))
        #expect(next == date(expected), "\(text) after \(after): \(iso(next))")
    }

    @Test("a schedule that never fires within five years has no next time", arguments: [
        "0 0 30 2 *", "0 0 31 4 *", "0 0 31 6,9,11 *", "CRON_TZ=Europe/Berlin 0 0 30 Feb ?",
    ])
    func neverFires(text: String) throws {
        let schedule = try CronSchedule(parsing: text)
        #expect(schedule.nextFire(after: date("2026-11-25T00:00:00Z")) == nil)
        #expect(schedule.fireDates(after: date("2026-11-25T00:00:00Z"), count: 3).isEmpty)
        #expect(schedule.maximumInterval(from: date("2026-11-25T00:00:00Z"), within: 366 * 86_400) == nil)
    }

    @Test("the search gives up after five years, as robfig/cron does")
    func fiveYearLimit() throws {
        let leapDay = try CronSchedule(parsing: "0 0 29 2 *")
        // 2100 is not a leap year, so the next 29 February after 2096 is in 2104: too far.
        #expect(leapDay.nextFire(after: date("2096-03-01T00:00:00Z")) == nil)
        #expect(leapDay.nextFire(after: date("2099-03-01T00:00:00Z")) == date("2104-02-29T00:00:00Z"))
    }

    @Test("fire dates are consecutive")
    func fireDates() throws {
        let dates = try CronSchedule(parsing: "0 */6 * * *").fireDates(after: date("2026-11-25T00:00:00Z"), count: 4)
        #expect(dates == [
            date("2026-11-25T06:00:00Z"), date("2026-11-25T12:00:00Z"), date("2026-11-25T18:00:00Z"), date("2026-11-26T00:00:00Z"),
        ])
        let leap = try CronSchedule(parsing: "0 0 29 2 *").fireDates(after: date("2026-11-25T00:00:00Z"), count: 2)
        #expect(leap == [date("2028-02-29T00:00:00Z"), date("2032-02-29T00:00:00Z")])
        let every = try CronSchedule(parsing: "@every 15m").fireDates(after: date("2026-11-25T00:00:00.250Z"), count: 3)
        #expect(every == [date("2026-11-25T00:15:00Z"), date("2026-11-25T00:30:00Z"), date("2026-11-25T00:45:00Z")])
        #expect(try CronSchedule(parsing: "@daily").fireDates(after: date("2026-11-25T00:00:00Z"), count: 0).isEmpty)
    }

    @Test("maximum interval: what a schedule means for an RPO", arguments: [
        ("0 */6 * * *", 21_600.0), ("@every 15m", 900.0), ("@every 6h", 21_600.0), ("*/15 * * * *", 900.0),
        ("0 2 * * *", 86_400.0), ("0 2 * * 1-5", 259_200.0), ("0 0,1 * * *", 82_800.0), ("0 0 * * 0", 604_800.0),
        ("0 0 1,15 * *", 1_209_600.0),
    ])
    func maximumInterval(text: String, seconds: TimeInterval) throws {
        let interval = try CronSchedule(parsing: text).maximumInterval(from: date("2026-11-25T00:00:00Z"), within: 31 * 86_400)
        #expect(interval == seconds)
    }

    @Test("maximum interval counts only fires inside the window")
    func maximumIntervalWindow() throws {
        let start = date("2026-11-25T00:00:00Z")
        let sixHourly = try CronSchedule(parsing: "0 */6 * * *")
        #expect(sixHourly.maximumInterval(from: start, within: 12 * 3_600) == 21_600)
        #expect(sixHourly.maximumInterval(from: start, within: 6 * 3_600) == nil)
        #expect(sixHourly.maximumInterval(from: start, within: 0) == nil)
        #expect(try CronSchedule(parsing: "@every 6h").maximumInterval(from: start, within: 6 * 3_600) == nil)
        #expect(try CronSchedule(parsing: "@every 6h").maximumInterval(from: start, within: 12 * 3_600) == 21_600)
        #expect(try CronSchedule(parsing: "@yearly").maximumInterval(from: start, within: 31 * 86_400) == nil)
        // Across the end of summer time a daily 03:00 Berlin schedule has one 25-hour gap.
        let berlin = try CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 3 * * *")
        #expect(berlin.maximumInterval(from: date("2026-10-20T00:00:00Z"), within: 14 * 86_400) == 90_000)
        // A six-hourly Berlin schedule has a seven-hour gap on the night the clocks go back.
        let sixHourlyBerlin = try CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 */6 * * *")
        #expect(sixHourlyBerlin.maximumInterval(from: date("2026-10-20T00:00:00Z"), within: 14 * 86_400) == 25_200)
    }

    /// Predicates over (minute, hour, day of month, month, weekday with Sunday = 0), written
    /// independently of the parser, for a brute-force minute-by-minute cross-check.
    typealias Matcher = @Sendable (Int, Int, Int, Int, Int) -> Bool

    @Test("field-by-field search agrees with a minute-by-minute scan", arguments: [
        ("*/7 3-5 * * *", { m, h, _, _, _ in m % 7 == 0 && (3...5).contains(h) } as Matcher),
        ("0 0 * * 1-5", { m, h, _, _, w in m == 0 && h == 0 && (1...5).contains(w) } as Matcher),
        ("15,45 */5 1-7 * MON", { m, h, d, _, w in [15, 45].contains(m) && h % 5 == 0 && ((1...7).contains(d) || w == 1) } as Matcher),
        ("30 23 31 * *", { m, h, d, _, _ in m == 30 && h == 23 && d == 31 } as Matcher),
        ("0 12 */2 * ?", { m, h, d, _, _ in m == 0 && h == 12 && d % 2 == 1 } as Matcher),
        ("5/20 * * FEB,MAR sat", { m, _, _, mo, w in m >= 5 && (m - 5) % 20 == 0 && [2, 3].contains(mo) && w == 6 } as Matcher),
        ("59 23 * * 0", { m, h, _, _, w in m == 59 && h == 23 && w == 0 } as Matcher),
        ("0 6 1,15 * 3", { m, h, d, _, w in m == 0 && h == 6 && ([1, 15].contains(d) || w == 3) } as Matcher),
        ("*/30 * 29 2 *", { m, _, d, mo, _ in m % 30 == 0 && d == 29 && mo == 2 } as Matcher),
        ("TZ=Asia/Kolkata 0 9 * * *", { m, h, _, _, _ in m == 0 && h == 9 } as Matcher),
    ])
    func agreesWithScan(text: String, matches: Matcher) throws {
        let schedule = try CronSchedule(parsing: text)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: schedule.timeZoneIdentifier ?? "UTC") ?? .gmt
        let limit = 3 * 366 * 24 * 60
        for start in ["2026-11-25T07:31:10Z", "2027-12-31T23:59:00Z", "2028-02-28T23:30:00Z", "2031-06-15T12:00:00.5Z"].map(date) {
            var candidate = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
            var expected: Date?
            for _ in 0..<limit {
                let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: candidate)
                if matches(parts.minute ?? -1, parts.hour ?? -1, parts.day ?? -1, parts.month ?? -1, (parts.weekday ?? 0) - 1) {
                    expected = candidate
                    break
                }
                candidate.addTimeInterval(60)
            }
            #expect(schedule.nextFire(after: start) == expected, "\(text) after \(iso(start))")
        }
    }

    @Test("Codable as its text, with a clear decoding error")
    func codable() throws {
        let schedules = [try CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 3 * * *"), try CronSchedule(parsing: "@every 6h")]
        let data = try JSONEncoder().encode(schedules)
        #expect(String(decoding: data, as: UTF8.self) == #"["CRON_TZ=Europe\/Berlin 0 3 * * *","@every 6h"]"#)
        #expect(try JSONDecoder().decode([CronSchedule].self, from: data) == schedules)
        do {
            _ = try JSONDecoder().decode([CronSchedule].self, from: Data(#"["0 0 * * 7"]"#.utf8))
            Issue.record("decoding '0 0 * * 7' succeeded")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription == "cron schedule '0 0 * * 7' is invalid: day-of-week '7' is out of range: day-of-week must be 0 to 6; use 0 or SUN for Sunday, 7 is not accepted")
        }
    }

    @Test("equal texts give equal schedules")
    func equality() throws {
        #expect(try CronSchedule(parsing: "0 2 * * *") == CronSchedule(parsing: "0 2 * * *"))
        #expect(try CronSchedule(parsing: "0 2 * * *") != CronSchedule(parsing: "0 3 * * *"))
        #expect(try CronSchedule(parsing: "0 2 * * *") != CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 2 * * *"))
    }
}
