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
struct CronField: Sendable, Hashable {
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
struct CronFields: Sendable, Hashable {
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
