import CarbonRecovery
import Foundation

/// A chart over time drawn from the data as inline SVG (no script, no external resource): a time
/// axis with dates, a value axis with its unit, series as steps or points, horizontal objective
/// lines, and marks for what went wrong. Durations are given in seconds and shown in the unit
/// that suits the largest value (s, min, h, d).
package struct TimeChart: Sendable {
    /// One series.
    package struct Series: Sendable {
        package enum Style: String, Sendable {
            /// Holds each value until the next point (an age that grows, then drops at a backup).
            case step
            /// A dot per point (a drill's measured recovery time).
            case points
        }
        package var name: String
        package var points: [(time: Date, value: Double)]
        package var style: Style

        package init(name: String, points: [(time: Date, value: Double)], style: Style) {
            self.name = name
            self.points = points.sorted { $0.time < $1.time }
            self.style = style
        }
    }

    /// A point marked as good or bad (a backup that failed, a drill over its RTO).
    package struct Mark: Sendable {
        package var time: Date
        package var value: Double
        package var failed: Bool
        package var label: String

        package init(time: Date, value: Double, failed: Bool, label: String) {
            self.time = time
            self.value = value
            self.failed = failed
            self.label = label
        }
    }

    /// A horizontal line (an objective).
    package struct Threshold: Sendable {
        package var value: Double
        package var label: String

        package init(value: Double, label: String) {
            self.value = value
            self.label = label
        }
    }

    package var title: String
    /// What the values are, said on the value axis ("RPO age", "recovery time").
    package var quantity: String
    package var from: Date
    package var to: Date
    package var series: [Series]
    package var thresholds: [Threshold]
    package var marks: [Mark]

    package init(title: String, quantity: String, from: Date, to: Date, series: [Series] = [], thresholds: [Threshold] = [], marks: [Mark] = []) {
        self.title = title
        self.quantity = quantity
        self.from = from
        self.to = max(to, from.addingTimeInterval(1))
        self.series = series
        self.thresholds = thresholds
        self.marks = marks
    }

    /// The display unit for a largest value of `seconds`: its name and how many seconds it holds.
    static func unit(for seconds: Double) -> (name: String, seconds: Double) {
        switch seconds {
        case ..<120: ("s", 1)
        case ..<(2 * 3600): ("min", 60)
        case ..<(2 * 86_400): ("h", 3600)
        default: ("d", 86_400)
        }
    }

    /// Ticks for 0…`maximum`: steps of 1, 2 or 5 × 10ⁿ, at most about `count` of them.
    static func valueTicks(upTo maximum: Double, count: Int = 5) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 1] }
        let rough = maximum / Double(count)
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let top = ceil(maximum / step) * step
        return stride(from: 0, through: top + step / 2, by: step).map { $0 }
    }

    /// Day-aligned (UTC) ticks between `from` and `to`: every 1, 2, 7, 14 or 30 days, at most about 8.
    static func timeTicks(from: Date, to: Date) -> [Date] {
        let day = 86_400.0
        let span = to.timeIntervalSince(from)
        guard span > 2 * day else {
            let hours = [1.0, 2, 3, 6, 12].first { span / ($0 * 3600) <= 8 } ?? 12
            let step = hours * 3600
            let first = (from.timeIntervalSince1970 / step).rounded(.up) * step
            return stride(from: first, through: to.timeIntervalSince1970, by: step).map { Date(timeIntervalSince1970: $0) }
        }
        let days = [1.0, 2, 7, 14, 30].first { span / ($0 * day) <= 8 } ?? 30
        let step = days * day
        let first = (from.timeIntervalSince1970 / step).rounded(.up) * step
        return stride(from: first, through: to.timeIntervalSince1970, by: step).map { Date(timeIntervalSince1970: $0) }
    }

    /// `0.5`, `12`, `1.5k`: a tick's label.
    static func number(_ value: Double) -> String {
        if value == value.rounded() { return String(Int(value)) }
        return String(format: "%.1f", value)
    }

    /// The SVG element, `width` × `height` user units, scaling to its container.
    package func svg(width: Double = 760, height: Double = 240) -> String {
        let left = 64.0, right = 16.0, top = 28.0, bottom = 40.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let values = series.flatMap { $0.points.map(\.value) } + thresholds.map(\.value) + marks.map(\.value)
        let largest = max(values.max() ?? 0, 1)
        let unit = Self.unit(for: largest)
        let ticks = Self.valueTicks(upTo: largest / unit.seconds * 1.05)
        let topValue = (ticks.last ?? 1) * unit.seconds
        let span = to.timeIntervalSince(from)
        func x(_ date: Date) -> Double { left + plotWidth * min(max(date.timeIntervalSince(from) / span, 0), 1) }
        func y(_ seconds: Double) -> Double { top + plotHeight * (1 - min(max(seconds / topValue, 0), 1)) }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        func e(_ text: String) -> String { HTMLText.escaped(text) }

        var svg = #"<svg class="chart" role="img" viewBox="0 0 \#(f(width)) \#(f(height))" xmlns="http://www.w3.org/2000/svg">"#
        svg += "<title>\(e(title))</title>"
        svg += #"<text class="chart-title" x="\#(f(left))" y="16">\#(e(title))</text>"#
        // Value axis: gridlines and labels in the display unit.
        for tick in ticks {
            let at = y(tick * unit.seconds)
            svg += #"<line class="grid" x1="\#(f(left))" x2="\#(f(width - right))" y1="\#(f(at))" y2="\#(f(at))"/>"#
            svg += #"<text class="tick" x="\#(f(left - 6))" y="\#(f(at + 4))" text-anchor="end">\#(Self.number(tick))</text>"#
        }
        svg += #"<text class="axis-label" transform="translate(14 \#(f(top + plotHeight / 2))) rotate(-90)" text-anchor="middle">\#(e(quantity)) (\#(unit.name))</text>"#
        // Time axis.
        svg += #"<line class="axis" x1="\#(f(left))" x2="\#(f(width - right))" y1="\#(f(top + plotHeight))" y2="\#(f(top + plotHeight))"/>"#
        let dayTicks = span > 2 * 86_400
        for tick in Self.timeTicks(from: from, to: to) {
            let text = RFC3339.format(tick)
            let label = dayTicks ? String(text.dropFirst(5).prefix(5)) : String(text.dropFirst(11).prefix(5))
            svg += #"<line class="axis" x1="\#(f(x(tick)))" x2="\#(f(x(tick)))" y1="\#(f(top + plotHeight))" y2="\#(f(top + plotHeight + 4))"/>"#
            svg += #"<text class="tick" x="\#(f(x(tick)))" y="\#(f(top + plotHeight + 16))" text-anchor="middle">\#(label)</text>"#
        }
        svg += #"<text class="axis-label" x="\#(f(left + plotWidth / 2))" y="\#(f(height - 4))" text-anchor="middle">UTC, \#(RFC3339.format(from).prefix(10)) to \#(RFC3339.format(to).prefix(10))</text>"#
        // Objectives.
        for threshold in thresholds {
            let at = y(threshold.value)
            svg += #"<line class="objective-line" x1="\#(f(left))" x2="\#(f(width - right))" y1="\#(f(at))" y2="\#(f(at))"/>"#
            svg += #"<text class="objective-label" x="\#(f(width - right - 4))" y="\#(f(at - 4))" text-anchor="end">\#(e(threshold.label))</text>"#
        }
        // Series.
        for (index, series) in series.enumerated() where !series.points.isEmpty {
            let name = e(series.name)
            switch series.style {
            case .step:
                var path = "M\(f(x(series.points[0].time))),\(f(y(series.points[0].value)))"
                for (previous, point) in zip(series.points, series.points.dropFirst()) {
                    path += " L\(f(x(point.time))),\(f(y(previous.value))) L\(f(x(point.time))),\(f(y(point.value)))"
                }
                svg += #"<path class="series series-\#(index % 6)" d="\#(path)"><title>\#(name)</title></path>"#
            case .points:
                for point in series.points {
                    svg += #"<circle class="series-point series-\#(index % 6)" cx="\#(f(x(point.time)))" cy="\#(f(y(point.value)))" r="3.5"><title>\#(name): \#(Self.number(point.value / unit.seconds)) \#(unit.name) at \#(RFC3339.format(point.time))</title></circle>"#
                }
            }
        }
        // Marks.
        for mark in marks {
            let (cx, cy) = (x(mark.time), y(mark.value))
            if mark.failed {
                svg += #"<path class="mark-failed" d="M\#(f(cx - 4)),\#(f(cy - 4)) L\#(f(cx + 4)),\#(f(cy + 4)) M\#(f(cx - 4)),\#(f(cy + 4)) L\#(f(cx + 4)),\#(f(cy - 4))"><title>\#(e(mark.label))</title></path>"#
            } else {
                svg += #"<circle class="mark-ok" cx="\#(f(cx))" cy="\#(f(cy))" r="3"><title>\#(e(mark.label))</title></circle>"#
            }
        }
        svg += "</svg>"
        return svg
    }
}
