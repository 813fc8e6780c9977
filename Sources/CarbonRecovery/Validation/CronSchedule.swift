import Foundation

/// A backup schedule in the cron syntax Velero reads (robfig/cron v3's standard parser).
///
/// Accepted forms, each optionally preceded by `CRON_TZ=<IANA zone> ` or `TZ=<IANA zone> `:
/// - five fields, `minute hour day-of-month month day-of-week`, each a comma list of `*`, `?`,
///   `n`, `a-b`, `*/step`, `a-b/step` or `n/step` (meaning `n-max/step`); months may be written
///   `JAN`–`DEC` and weekdays `SUN`–`SAT` in any case; Sunday is `0` (`7` is rejected);
/// - a descriptor: `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`;
/// - `@every <Go duration>` of at least one second, e.g. `@every 6h`.
///
/// Times are evaluated in the prefix's zone, or in UTC without one. As in robfig/cron, when the
/// day-of-month or day-of-week field is unrestricted (`*` or `?` without a step above 1) a day
/// must match both fields; otherwise matching either is enough (`0 0 13 * 5` fires on every
/// 13th *and* every Friday).
///
/// ```swift
/// let critical = try CronSchedule(parsing: "0 */6 * * *")
/// critical.nextFire(after: Date())                          // the next 00, 06, 12 or 18 o'clock UTC
/// critical.maximumInterval(from: Date(), within: 86_400)    // 21600: too slow for a 15-minute RPO
/// ```
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible, Codable, StringCodable {
    /// The schedule text exactly as given, prefix included.
    public let expression: String
    /// The IANA time zone of a `CRON_TZ=` or `TZ=` prefix, as written; `nil` means UTC.
    public let timeZoneIdentifier: String?
    /// The interval of an `@every` schedule, cut to whole seconds as robfig/cron does; `nil` otherwise.
    public let every: GoDuration?

    private let timeZone: TimeZone
    private let fields: CronFields?

    /// Parses a schedule as Velero's robfig/cron standard parser does.
    ///
    /// ```swift
    /// let nightly = try CronSchedule(parsing: "CRON_TZ=Europe/Berlin 0 3 * * *")
    /// let frequent = try CronSchedule(parsing: "@every 15m")
    /// ```
    ///
    /// - Parameter text: The schedule, e.g. `0 2 * * *`, `0 */6 * * *`, `@daily`, `@every 15m`
    ///   or `CRON_TZ=Europe/Berlin 0 3 * * *`.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` whose message
    ///   quotes the schedule and says which part is wrong: an unknown time zone, a field out of
    ///   range, a seconds field (Velero's cron has five fields), an `@every` shorter than 1s.
    public init(parsing text: String) throws(RecoveryError) {
        let parsed = try CronParser(text: text).parse()
        self.expression = text
        self.timeZoneIdentifier = parsed.timeZoneIdentifier
        self.timeZone = parsed.timeZone
        switch parsed.kind {
        case .every(let interval):
            self.every = interval
            self.fields = nil
        case .fields(let fields):
            self.every = nil
            self.fields = fields
        }
    }

    /// The schedule text exactly as given (``expression``).
    public var description: String { expression }

    /// The first time the schedule fires strictly after a date.
    ///
    /// Field schedules are evaluated in the schedule's time zone (UTC without one) the way
    /// robfig/cron's `SpecSchedule.Next` does: field by field from the month down, jumping to the
    /// next allowed value, so daylight-saving gaps skip a run and repeated hours may run twice.
    /// `@every d` fires at `date + d` less the sub-second part of `date`.
    ///
    /// ```swift
    /// let schedule = try CronSchedule(parsing: "0 2 * * *")
    /// schedule.nextFire(after: Date(timeIntervalSince1970: 0))   // 1970-01-01 02:00:00 UTC
    /// ```
    ///
    /// - Parameter date: The time after which to look.
    /// - Returns: The next fire time, or `nil` when the schedule does not fire within five years
    ///   (e.g. `0 0 30 2 *`, which asks for 30 February).
    public func nextFire(after date: Date) -> Date? {
        nextFire(after: date, calendar: makeCalendar())
    }

    /// The next fire times after a date, in order.
    ///
    /// ```swift
    /// try CronSchedule(parsing: "0 */6 * * *").fireDates(after: Date(), count: 4)
    /// ```
    ///
    /// - Parameters:
    ///   - date: The time after which to look.
    ///   - count: How many fire times to return at most.
    /// - Returns: Up to `count` fire times; fewer when the schedule stops firing (see ``nextFire(after:)``).
    public func fireDates(after date: Date, count: Int) -> [Date] {
        let calendar = makeCalendar()
        var dates: [Date] = []
        var cursor = date
        while dates.count < count, let next = nextFire(after: cursor, calendar: calendar) {
            dates.append(next)
            cursor = next
        }
        return dates
    }

    /// The longest gap between consecutive fires within a window.
    ///
    /// The fires considered are those after `start` and no later than `start + window`; the gaps
    /// are measured from the first of them onward (the time from `start` to the first fire does
    /// not count). This is the worst-case age of the newest backup between two runs, so compare
    /// it with a recovery point objective: `0 */6 * * *` gives 21,600 seconds. Use a window of
    /// at least two periods of the schedule (two weeks for a weekly one). Every fire in the window
    /// is visited, so the cost grows with the number of fires.
    ///
    /// ```swift
    /// let schedule = try CronSchedule(parsing: "0 2 * * 1-5")
    /// schedule.maximumInterval(from: Date(), within: 14 * 86_400)   // 259200 (Friday to Monday)
    /// ```
    ///
    /// - Parameters:
    ///   - start: The start of the window.
    ///   - window: The length of the window in seconds.
    /// - Returns: The longest gap in seconds, or `nil` when the schedule fires fewer than two
    ///   times in the window.
    public func maximumInterval(from start: Date, within window: TimeInterval) -> TimeInterval? {
        let end = start.addingTimeInterval(window)
        if let every {
            // Every gap of an @every schedule is the interval itself; only the count matters.
            let second = nextFire(after: start).map { $0.addingTimeInterval(every.timeInterval) }
            return second.map { $0 <= end } == true ? every.timeInterval : nil
        }
        let calendar = makeCalendar()
        var longest: TimeInterval?
        var previous: Date?
        var cursor = start
        while let next = nextFire(after: cursor, calendar: calendar), next <= end {
            if let previous { longest = max(longest ?? 0, next.timeIntervalSince(previous)) }
            previous = next
            cursor = next
        }
        return longest
    }

    // MARK: - Evaluation

    private func makeCalendar() -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    private func nextFire(after date: Date, calendar: Calendar) -> Date? {
        // Start at the next whole second, as robfig/cron does.
        let nextSecond = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down) + 1)
        if let every {
            return nextSecond.addingTimeInterval(every.timeInterval - 1)
        }
        guard let fields else { return nil }
        var search = CronSearch(fields: fields, calendar: calendar, time: nextSecond)
        return search.run()
    }
}

// MARK: - Fields

/// The allowed values of one field as a bit set, with robfig/cron's "star" flag.
private struct CronField: Sendable, Hashable {
    var bits: UInt64 = 0
    /// Whether an item was `*` or `?` without a step above 1 (robfig/cron's `starBit`).
    var isStar = false

    func contains(_ value: Int) -> Bool {
        (0..<64).contains(value) && bits & (1 << UInt64(value)) != 0
    }

    /// The smallest allowed value above `value`, if any.
    func next(after value: Int) -> Int? {
        guard value < 63 else { return nil }
        let above = bits & ~((1 << UInt64(value + 1)) - 1)
        return above == 0 ? nil : above.trailingZeroBitCount
    }
}

/// The five fields of a schedule.
private struct CronFields: Sendable, Hashable {
    var minutes: CronField
    var hours: CronField
    var daysOfMonth: CronField
    var months: CronField
    var daysOfWeek: CronField

    /// robfig/cron's `dayMatches`: both day fields when either is a star, otherwise either one.
    func dayMatches(day: Int, weekday: Int) -> Bool {
        let dayOfMonth = daysOfMonth.contains(day)
        let dayOfWeek = daysOfWeek.contains(weekday)
        return daysOfMonth.isStar || daysOfWeek.isStar ? dayOfMonth && dayOfWeek : dayOfMonth || dayOfWeek
    }
}

// MARK: - Parsing

/// What a schedule text parses to.
private struct ParsedCron {
    enum Kind {
        case every(GoDuration)
        case fields(CronFields)
    }

    var timeZoneIdentifier: String?
    var timeZone: TimeZone
    var kind: Kind
}

/// The rules of one field: its name, bounds and the names it accepts.
private struct CronFieldRule {
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
private struct CronParser {
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

// MARK: - Search

/// robfig/cron's `SpecSchedule.Next`: settle the month, then the day, hour, minute and second,
/// jumping to the next allowed value of each and starting over ("wrapping") whenever a larger
/// field changes. It works on wall-clock time in the schedule's zone and gives up after five years.
private struct CronSearch {
    private enum Outcome {
        case matched, wrapped, failed
    }

    /// The wall-clock fields of an instant; `weekday` counts from 0 for Sunday.
    private struct WallClock {
        var year, month, day, hour, minute, second, weekday: Int
    }

    let fields: CronFields
    let calendar: Calendar
    var time: Date

    mutating func run() -> Date? {
        let yearLimit = wallClock(time).year + 5
        while wallClock(time).year <= yearLimit {
            switch advance() {
            case .matched: return time
            case .wrapped: continue
            case .failed: return nil
            }
        }
        return nil
    }

    private mutating func advance() -> Outcome {
        var outcome = advanceMonth()
        if outcome == .matched { outcome = advanceDay() }
        if outcome == .matched { outcome = advanceHour() }
        if outcome == .matched { outcome = advanceMinute() }
        if outcome == .matched { outcome = advanceSecond() }
        return outcome
    }

    private mutating func advanceMonth() -> Outcome {
        let now = wallClock(time)
        guard !fields.months.contains(now.month) else { return .matched }
        if let month = fields.months.next(after: now.month) {
            return move(toYear: now.year, month: month, day: 1, then: .matched)
        }
        return move(toYear: now.year + 1, month: 1, day: 1, then: .wrapped)
    }

    private mutating func advanceDay() -> Outcome {
        let now = wallClock(time)
        guard !fields.dayMatches(day: now.day, weekday: now.weekday) else { return .matched }
        let length = Self.daysIn(month: now.month, year: now.year)
        if now.day < length {
            for day in (now.day + 1)...length where fields.dayMatches(day: day, weekday: (now.weekday + day - now.day) % 7) {
                return move(toYear: now.year, month: now.month, day: day, then: .matched)
            }
        }
        let (year, month) = now.month == 12 ? (now.year + 1, 1) : (now.year, now.month + 1)
        return move(toYear: year, month: month, day: 1, then: .wrapped)
    }

    /// Hours step one real hour at a time, as in robfig/cron, so daylight-saving changes are honoured.
    private mutating func advanceHour() -> Outcome {
        var now = wallClock(time)
        guard !fields.hours.contains(now.hour) else { return .matched }
        time.addTimeInterval(-TimeInterval(now.minute * 60 + now.second))
        repeat {
            time.addTimeInterval(3_600)
            now = wallClock(time)
            if now.hour == 0 { return .wrapped }
        } while !fields.hours.contains(now.hour)
        return .matched
    }

    private mutating func advanceMinute() -> Outcome {
        var now = wallClock(time)
        while !fields.minutes.contains(now.minute) {
            let target = fields.minutes.next(after: now.minute) ?? 60
            time.addTimeInterval(TimeInterval((target - now.minute) * 60 - now.second))
            now = wallClock(time)
            if now.minute == 0 { return .wrapped }
        }
        return .matched
    }

    /// The standard syntax has no seconds field: runs happen at second 0.
    private mutating func advanceSecond() -> Outcome {
        let now = wallClock(time)
        guard now.second != 0 else { return .matched }
        time.addTimeInterval(TimeInterval(60 - now.second))
        return .wrapped
    }

    /// Moves forward to midnight (or the first existing time) of a later day.
    private mutating func move(toYear year: Int, month: Int, day: Int, then outcome: Outcome) -> Outcome {
        let components = DateComponents(year: year, month: month, day: day, hour: 0, minute: 0, second: 0)
        // The target day is always later; a calendar that says otherwise must not make the search loop.
        guard let date = calendar.date(from: components), date > time else { return .failed }
        time = date
        return outcome
    }

    private func wallClock(_ date: Date) -> WallClock {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        return WallClock(
            year: parts.year ?? 0, month: parts.month ?? 1, day: parts.day ?? 1, hour: parts.hour ?? 0,
            minute: parts.minute ?? 0, second: parts.second ?? 0, weekday: (parts.weekday ?? 1) - 1)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
