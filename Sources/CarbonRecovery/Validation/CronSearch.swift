import Foundation

/// robfig/cron's `SpecSchedule.Next`: settle the month, then the day, hour, minute and second,
/// jumping to the next allowed value of each and starting over ("wrapping") whenever a larger
/// field changes. It works on wall-clock time in the schedule's zone and gives up after five years.
struct CronSearch {
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
