import Foundation

/// A cron schedule as Velero reads it (robfig/cron's standard parser): five fields, `@every`
/// and `@daily`-style descriptors, with an optional `CRON_TZ=` or `TZ=` prefix.
///
/// ```swift
/// let critical = try CronSchedule(parsing: "0 */6 * * *")
/// critical.nextFire(after: Date())                       // the next 00, 06, 12 or 18 o'clock UTC
/// critical.maximumInterval(from: Date(), within: 86_400) // 21600: too slow for a 15-minute RPO
/// ```
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible, Codable, StringCodable {
    /// The text as given.
    public let expression: String
    /// The IANA time zone of a `CRON_TZ=`/`TZ=` prefix; the schedule runs in UTC without one.
    public let timeZoneIdentifier: String?
    /// The interval of an `@every` schedule (whole seconds), `nil` for field schedules.
    public let every: GoDuration?
    private let fields: Fields?

    /// The five fields as bit sets, with robfig's "star" flags for the two day fields.
    private struct Fields: Sendable, Hashable {
        var minutes: UInt64
        var hours: UInt64
        var daysOfMonth: UInt64
        var months: UInt64
        var daysOfWeek: UInt64
        var dayOfMonthIsStar: Bool
        var dayOfWeekIsStar: Bool
    }

    private struct Bounds {
        var name: String
        var minimum: Int
        var maximum: Int
        var names: [String: Int] = [:]
    }

    private static let minuteBounds = Bounds(name: "minute", minimum: 0, maximum: 59)
    private static let hourBounds = Bounds(name: "hour", minimum: 0, maximum: 23)
    private static let dayOfMonthBounds = Bounds(name: "day-of-month", minimum: 1, maximum: 31)
    private static let monthBounds = Bounds(
        name: "month", minimum: 1, maximum: 12,
        names: ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12])
    private static let dayOfWeekBounds = Bounds(
        name: "day-of-week", minimum: 0, maximum: 6, names: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6])

    private static let descriptors: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses a schedule.
    ///
    /// - Parameter text: e.g. `0 2 * * *`, `0 */6 * * *`, `@every 15m`, `CRON_TZ=Europe/Berlin 0 3 * * *`.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` saying which part is wrong.
    public init(parsing text: String) throws {
        func invalid(_ reason: String) -> RecoveryError {
            RecoveryError.invalidInput("cron schedule '\(KubernetesName.printable(text))' is invalid: \(reason)")
        }
        expression = text
        var rest = text.trimmingCharacters(in: .whitespaces)
        guard !rest.isEmpty else { throw invalid("it is empty (write e.g. '0 2 * * *' or '@every 6h')") }
        var zone: String?
        if rest.hasPrefix("CRON_TZ=") || rest.hasPrefix("TZ=") {
            let afterEquals = rest[rest.index(after: rest.firstIndex(of: "=")!)...]
            guard let space = afterEquals.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw invalid("a time zone prefix must be followed by the schedule")
            }
            let identifier = String(afterEquals[..<space])
            guard TimeZone(identifier: identifier) != nil else {
                throw invalid("'\(identifier)' is not an IANA time zone (e.g. UTC, Europe/Berlin)")
            }
            zone = identifier
            rest = afterEquals[space...].trimmingCharacters(in: .whitespaces)
        }
        timeZoneIdentifier = zone
        if rest.hasPrefix("@every") {
            let durationText = rest.dropFirst("@every".count).trimmingCharacters(in: .whitespaces)
            let duration: GoDuration
            do { duration = try GoDuration(parsing: durationText) } catch let error as RecoveryError {
                throw invalid("@every needs a duration such as 6h or 15m: \(error.message)")
            }
            guard duration.nanoseconds >= 1_000_000_000 else {
                throw invalid("@every \(durationText) is shorter than one second")
            }
            every = GoDuration(nanoseconds: duration.nanoseconds - duration.nanoseconds % 1_000_000_000)
            fields = nil
            return
        }
        if rest.hasPrefix("@") {
            guard let expanded = Self.descriptors[rest.lowercased()] else {
                throw invalid("'\(rest)' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>")
            }
            rest = expanded
        }
        let parts = rest.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            if parts.count == 6 {
                throw invalid("Velero's cron has 5 fields (minute hour day-of-month month day-of-week); remove the seconds field")
            }
            throw invalid("it has \(parts.count) fields; Velero's cron has 5 (minute hour day-of-month month day-of-week)")
        }
        do {
            let (daysOfMonth, domStar) = try Self.parseField(parts[2], Self.dayOfMonthBounds)
            let (daysOfWeek, dowStar) = try Self.parseField(parts[4], Self.dayOfWeekBounds)
            fields = Fields(
                minutes: try Self.parseField(parts[0], Self.minuteBounds).bits,
                hours: try Self.parseField(parts[1], Self.hourBounds).bits,
                daysOfMonth: daysOfMonth, months: try Self.parseField(parts[3], Self.monthBounds).bits,
                daysOfWeek: daysOfWeek, dayOfMonthIsStar: domStar, dayOfWeekIsStar: dowStar)
        } catch let reason as FieldError {
            throw invalid(reason.message)
        }
        every = nil
    }

    private struct FieldError: Error {
        var message: String
    }

    /// Parses one field into a bit set; `isStar` as robfig sets it (`*` or `?` without a step above 1).
    private static func parseField(_ field: String, _ bounds: Bounds) throws -> (bits: UInt64, isStar: Bool) {
        var bits: UInt64 = 0
        var isStar = false
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let rangeAndStep = part.split(separator: "/", omittingEmptySubsequences: false)
            guard rangeAndStep.count <= 2 else { throw FieldError(message: "\(bounds.name) '\(part)' has more than one '/'") }
            let lowAndHigh = rangeAndStep[0].split(separator: "-", omittingEmptySubsequences: false)
            var start: Int
            var end: Int
            var star = false
            if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
                guard lowAndHigh.count == 1 else { throw FieldError(message: "\(bounds.name) '\(part)' cannot be a range of '*'") }
                (start, end, star) = (bounds.minimum, bounds.maximum, true)
            } else {
                start = try value(lowAndHigh[0], bounds, in: part)
                switch lowAndHigh.count {
                case 1: end = start
                case 2: end = try value(lowAndHigh[1], bounds, in: part)
                default: throw FieldError(message: "\(bounds.name) '\(part)' has more than one '-'")
                }
            }
            var step = 1
            if rangeAndStep.count == 2 {
                guard let parsed = Int(rangeAndStep[1]), parsed > 0 else {
                    throw FieldError(message: "the step of \(bounds.name) '\(part)' must be a positive number")
                }
                step = parsed
                if lowAndHigh.count == 1 { end = bounds.maximum }   // "n/step" means "n-max/step"
                if step > 1 { star = false }
            }
            guard start >= bounds.minimum else { throw FieldError(message: "\(bounds.name) \(start) is below \(bounds.minimum)") }
            guard end <= bounds.maximum else {
                let hint = bounds.name == "day-of-week" && end == 7 ? " (use 0 for Sunday; Velero rejects 7)" : ""
                throw FieldError(message: "\(bounds.name) \(end) is above \(bounds.maximum)\(hint)")
            }
            guard start <= end else { throw FieldError(message: "\(bounds.name) range '\(part)' runs backwards (\(start) > \(end))") }
            for value in stride(from: start, through: end, by: step) { bits |= 1 << UInt64(value) }
            isStar = isStar || star
        }
        return (bits, isStar)
    }

    private static func value(_ text: Substring, _ bounds: Bounds, in part: Substring) throws -> Int {
        if let named = bounds.names[text.lowercased()] { return named }
        guard !text.isEmpty, text.allSatisfy(\.isASCII), let number = Int(text), number >= 0 else {
            throw FieldError(message: "\(bounds.name) '\(part)' is not a number\(bounds.names.isEmpty ? "" : " or a name")")
        }
        return number
    }

    public var description: String { expression }

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZoneIdentifier.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        return calendar
    }

    /// The first time the schedule fires strictly after `date`, or `nil` if it never fires in
    /// the next five years (e.g. `0 0 30 2 *`).
    public func nextFire(after date: Date) -> Date? {
        if let every {
            // robfig: the next run is `every` after the current time, dropping its sub-second part.
            let seconds = date.timeIntervalSince1970.rounded(.down)
            return Date(timeIntervalSince1970: seconds + every.timeInterval)
        }
        guard let fields else { return nil }
        let calendar = calendar
        var time = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let yearLimit = calendar.component(.year, from: time) + 5
        while true {
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: time)
            guard let year = parts.year, let month = parts.month, let day = parts.day, let hour = parts.hour,
                let minute = parts.minute, let weekday = parts.weekday, year <= yearLimit
            else { return nil }
            if fields.months & (1 << UInt64(month)) == 0 {
                let first = calendar.date(from: DateComponents(year: year, month: month, day: 1))!
                time = calendar.date(byAdding: .month, value: 1, to: first)!
                continue
            }
            if !dayMatches(fields, day: day, weekday: weekday - 1) {
                time = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: time))!
                continue
            }
            if fields.hours & (1 << UInt64(hour)) == 0 {
                time = Date(timeIntervalSince1970: (time.timeIntervalSince1970 / 3600).rounded(.down) * 3600 + 3600)
                if calendar.component(.minute, from: time) != 0 {
                    // A zone with a non-hour offset: step to the next local hour instead.
                    time = calendar.date(bySetting: .minute, value: 0, of: time) ?? time.addingTimeInterval(60)
                }
                continue
            }
            if fields.minutes & (1 << UInt64(minute)) == 0 {
                time = time.addingTimeInterval(60)
                continue
            }
            return time
        }
    }

    private func dayMatches(_ fields: Fields, day: Int, weekday: Int) -> Bool {
        let dayOfMonth = fields.daysOfMonth & (1 << UInt64(day)) != 0
        let dayOfWeek = fields.daysOfWeek & (1 << UInt64(weekday)) != 0
        if fields.dayOfMonthIsStar || fields.dayOfWeekIsStar { return dayOfMonth && dayOfWeek }
        return dayOfMonth || dayOfWeek
    }

    /// The next `count` fire times after `date`.
    public func fireDates(after date: Date, count: Int) -> [Date] {
        var dates: [Date] = []
        var last = date
        while dates.count < count, let next = nextFire(after: last) {
            dates.append(next)
            last = next
        }
        return dates
    }

    /// The longest gap between consecutive fires that start within `window` seconds of `start`
    /// (at most 10,000 fires are examined), or `nil` when it fires fewer than twice.
    ///
    /// This is the worst-case age of the newest backup between runs: compare it with an RPO.
    public func maximumInterval(from start: Date, within window: TimeInterval) -> TimeInterval? {
        if let every { return every.timeInterval }
        let end = start.addingTimeInterval(window)
        var previous: Date?
        var longest: TimeInterval?
        var cursor = start
        for _ in 0..<10_000 {
            guard let next = nextFire(after: cursor) else { break }
            if let previous { longest = max(longest ?? 0, next.timeIntervalSince(previous)) }
            if next > end { break }
            previous = next
            cursor = next
        }
        return longest
    }
}
