import Foundation

/// What a schedule text parses to.
struct ParsedCron {
    enum Kind {
        case every(GoDuration)
        case fields(CronFields)
    }

    var timeZoneIdentifier: String?
    var timeZone: TimeZone
    var kind: Kind
}

/// The rules of one field: its name, bounds and the names it accepts.
struct CronFieldRule {
    var name: String
    var range: ClosedRange<Int>
    var names: [String: Int] = [:]
    var nameHint = ""
    var outOfRangeHint = ""

    static let minute = CronFieldRule(name: "minute", range: 0...59)
    static let hour = CronFieldRule(name: "hour", range: 0...23)
    static let dayOfMonth = CronFieldRule(name: "day-of-month", range: 1...31)
    static let month = CronFieldRule(
        name: "month", range: 1...12,
        names: ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12],
        nameHint: " or a month name (JAN-DEC)")
    static let dayOfWeek = CronFieldRule(
        name: "day-of-week", range: 0...6,
        names: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6],
        nameHint: " or a day name (SUN-SAT)", outOfRangeHint: "; use 0 or SUN for Sunday, 7 is not accepted")
}

/// A parser for robfig/cron v3's standard syntax (five fields, descriptors, `@every`, zone prefix).
struct CronParser {
    private static let fieldNames = "minute hour day-of-month month day-of-week"
    private static let descriptors: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let everyPrefix = "@every "

    let text: String

    func parse() throws(RecoveryError) -> ParsedCron {
        guard !text.isEmpty else { throw invalid("it is empty; write e.g. '0 2 * * *', '@daily' or '@every 6h'") }
        let (zone, spec) = try splitTimeZone()
        let timeZone = try zone.map(resolveTimeZone) ?? .gmt
        if spec.hasPrefix("@") {
            return ParsedCron(timeZoneIdentifier: zone, timeZone: timeZone, kind: try parseDescriptor(spec))
        }
        return ParsedCron(timeZoneIdentifier: zone, timeZone: timeZone, kind: .fields(try parseFields(spec)))
    }

    /// Text from the schedule as it may appear in a message.
    private func quoted(_ text: some StringProtocol) -> String {
        KubernetesName.printable(String(text))
    }

    private func invalid(_ reason: String) -> RecoveryError {
        RecoveryError.invalidInput(
            "cron schedule '\(KubernetesName.printable(text))' is invalid: \(reason)",
            target: KubernetesName.printable(text))
    }

    // MARK: Time zone prefix

    /// Splits off a `CRON_TZ=` or `TZ=` prefix: the zone runs up to the first space.
    private func splitTimeZone() throws(RecoveryError) -> (zone: String?, spec: Substring) {
        guard text.hasPrefix("CRON_TZ=") || text.hasPrefix("TZ="), let equals = text.firstIndex(of: "=") else {
            return (nil, text[...])
        }
        let afterEquals = text[text.index(after: equals)...]
        guard let space = afterEquals.firstIndex(of: " ") else {
            throw invalid(
                "a time zone prefix must be followed by a space and the schedule, e.g. 'CRON_TZ=Europe/Berlin 0 3 * * *'")
        }
        let zone = String(afterEquals[..<space])
        guard !zone.isEmpty else {
            throw invalid("the time zone prefix names no zone; write e.g. 'CRON_TZ=Europe/Berlin 0 3 * * *'")
        }
        let spec = afterEquals[space...].trimmingCharacters(in: .whitespacesAndNewlines)
        guard !spec.isEmpty else { throw invalid("the time zone '\(quoted(zone))' must be followed by the schedule") }
        return (zone, spec[...])
    }

    private func resolveTimeZone(_ identifier: String) throws(RecoveryError) -> TimeZone {
        guard let timeZone = TimeZone(identifier: identifier) else {
            throw invalid("'\(quoted(identifier))' is not a known IANA time zone; use e.g. UTC or Europe/Berlin")
        }
        return timeZone
    }

    // MARK: Descriptors

    private func parseDescriptor(_ spec: Substring) throws(RecoveryError) -> ParsedCron.Kind {
        if let expansion = Self.descriptors[String(spec)] {
            return .fields(try parseFields(expansion[...]))
        }
        guard spec.hasPrefix("@every") else {
            throw invalid(
                "'\(quoted(spec))' is not one of @yearly, @annually, @monthly, @weekly, @daily, "
                    + "@midnight, @hourly or @every <duration>")
        }
        return .every(try parseEvery(spec))
    }

    /// `@every <duration>`: at least one second, cut to whole seconds as robfig/cron does.
    private func parseEvery(_ spec: Substring) throws(RecoveryError) -> GoDuration {
        guard spec.hasPrefix(Self.everyPrefix) else {
            throw invalid("@every needs one space and a duration, e.g. '@every 6h' or '@every 15m'")
        }
        let durationText = String(spec.dropFirst(Self.everyPrefix.count))
        let interval: GoDuration
        do throws(RecoveryError) {
            interval = try GoDuration(parsing: durationText)
        } catch {
            throw invalid("@every needs a duration such as 6h or 15m: \(error.message)")
        }
        let second = GoDuration.nanosecondsPerSecond
        guard interval.nanoseconds >= second else {
            throw invalid("@every \(quoted(durationText)) is shorter than 1s; use at least 1s, e.g. '@every 15m'")
        }
        return GoDuration(nanoseconds: interval.nanoseconds - interval.nanoseconds % second)
    }

    // MARK: Five fields

    private func parseFields(_ spec: Substring) throws(RecoveryError) -> CronFields {
        let parts = spec.split(whereSeparator: \.isWhitespace)
        guard parts.count == 5 else {
            if parts.count == 6 {
                throw invalid("Velero's cron has 5 fields (\(Self.fieldNames)); remove the seconds field")
            }
            let count = "\(parts.count) field\(parts.count == 1 ? "" : "s")"
            throw invalid("it has \(count); Velero's cron has 5 fields (\(Self.fieldNames))")
        }
        return CronFields(
            minutes: try parseField(parts[0], .minute),
            hours: try parseField(parts[1], .hour),
            daysOfMonth: try parseField(parts[2], .dayOfMonth),
            months: try parseField(parts[3], .month),
            daysOfWeek: try parseField(parts[4], .dayOfWeek))
    }

    /// One field: a comma list of items.
    private func parseField(_ field: Substring, _ rule: CronFieldRule) throws(RecoveryError) -> CronField {
        var result = CronField()
        for item in field.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else {
                throw invalid("the \(rule.name) field '\(quoted(field))' has an empty item between commas")
            }
            let parsed = try parseItem(item, rule)
            result.bits |= parsed.bits
            result.isStar = result.isStar || parsed.isStar
        }
        return result
    }

    /// One item: `*`, `?`, `n`, `a-b`, each optionally with `/step` (`n/step` means `n-max/step`).
    private func parseItem(_ item: Substring, _ rule: CronFieldRule) throws(RecoveryError) -> CronField {
        let rangeAndStep = item.split(separator: "/", omittingEmptySubsequences: false)
        guard rangeAndStep.count <= 2 else { throw invalid("\(rule.name) '\(quoted(item))' has more than one '/'") }
        var (bounds, isStar) = try parseRange(rangeAndStep[0], item: item, rule)
        var step = 1
        if rangeAndStep.count == 2 {
            step = try parseStep(rangeAndStep[1], item: item, rule)
            if !rangeAndStep[0].contains("-") { bounds = bounds.lowerBound...rule.range.upperBound }
            if step > 1 { isStar = false }
        }
        var field = CronField(isStar: isStar)
        for value in stride(from: bounds.lowerBound, through: bounds.upperBound, by: step) {
            field.bits |= 1 << UInt64(value)
        }
        return field
    }

    /// The range part of an item: `*`, `?`, `n` or `a-b`, checked against the field's bounds.
    private func parseRange(
        _ text: Substring, item: Substring, _ rule: CronFieldRule
    ) throws(RecoveryError) -> (ClosedRange<Int>, isStar: Bool) {
        if text == "*" || text == "?" { return (rule.range, true) }
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count <= 2 else { throw invalid("\(rule.name) '\(quoted(item))' has more than one '-'") }
        guard !ends.contains("*"), !ends.contains("?") else {
            throw invalid("\(rule.name) '\(quoted(item))' mixes '\(ends.contains("*") ? "*" : "?")' with a range; write '*' or 'a-b'")
        }
        let start = try parseValue(ends[0], item: item, rule)
        let end = try ends.count == 2 ? parseValue(ends[1], item: item, rule) : start
        guard start <= end else {
            throw invalid("\(rule.name) range '\(quoted(item))' runs backwards (\(start) is after \(end))")
        }
        return (start...end, false)
    }

    /// A number in the field's bounds, or a (case-insensitive) month or day name.
    private func parseValue(_ text: Substring, item: Substring, _ rule: CronFieldRule) throws(RecoveryError) -> Int {
        if let named = rule.names[text.lowercased()] { return named }
        guard Self.isDigits(text) else {
            throw invalid("\(rule.name) '\(quoted(item))' is not a number\(rule.nameHint)")
        }
        guard let value = Int(text), rule.range.contains(value) else {
            let bounds = "\(rule.range.lowerBound) to \(rule.range.upperBound)"
            throw invalid("\(rule.name) '\(quoted(item))' is out of range: \(rule.name) must be \(bounds)\(rule.outOfRangeHint)")
        }
        return value
    }

    private func parseStep(_ text: Substring, item: Substring, _ rule: CronFieldRule) throws(RecoveryError) -> Int {
        guard Self.isDigits(text) else {
            throw invalid("the step of \(rule.name) '\(quoted(item))' is not a number")
        }
        guard let step = Int(text) else { throw invalid("the step of \(rule.name) '\(quoted(item))' is too large") }
        guard step >= 1 else { throw invalid("the step of \(rule.name) '\(quoted(item))' must be at least 1") }
        return step
    }

    /// One or more ASCII digits (no sign).
    private static func isDigits(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}
