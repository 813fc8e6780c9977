import CarbonRecovery
import Foundation

/// Outcomes on a time line as inline SVG: a tick per success, a cross per failure, with the
/// count of each in the legend (backups over time).
package struct OutcomeStrip: Sendable {
    package var title: String
    package var from: Date
    package var to: Date
    package var outcomes: [(time: Date, succeeded: Bool, label: String)]

    package init(title: String, from: Date, to: Date, outcomes: [(time: Date, succeeded: Bool, label: String)]) {
        self.title = title
        self.from = from
        self.to = max(to, from.addingTimeInterval(1))
        self.outcomes = outcomes
    }

    package func svg(width: Double = 760, height: Double = 64) -> String {
        let left = 64.0, right = 16.0, middle = 30.0
        let span = to.timeIntervalSince(from)
        func x(_ date: Date) -> Double { left + (width - left - right) * min(max(date.timeIntervalSince(from) / span, 0), 1) }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        let succeeded = outcomes.filter(\.succeeded).count, failed = outcomes.count - succeeded
        var svg = #"<svg class="chart strip" role="img" viewBox="0 0 \#(f(width)) \#(f(height))" xmlns="http://www.w3.org/2000/svg">"#
        svg += "<title>\(HTMLText.escaped(title)): \(succeeded) succeeded, \(failed) failed</title>"
        svg += #"<text class="chart-title" x="\#(f(left))" y="12">\#(HTMLText.escaped(title)) — \#(succeeded) succeeded, \#(failed) failed</text>"#
        svg += #"<line class="axis" x1="\#(f(left))" x2="\#(f(width - right))" y1="\#(f(middle))" y2="\#(f(middle))"/>"#
        for tick in TimeChart.timeTicks(from: from, to: to) {
            let label = span > 2 * 86_400 ? String(RFC3339.format(tick).dropFirst(5).prefix(5)) : String(RFC3339.format(tick).dropFirst(11).prefix(5))
            svg += #"<text class="tick" x="\#(f(x(tick)))" y="\#(f(height - 6))" text-anchor="middle">\#(label)</text>"#
        }
        for outcome in outcomes {
            let cx = x(outcome.time)
            let title = "<title>\(HTMLText.escaped(outcome.label)) at \(RFC3339.format(outcome.time))</title>"
            if outcome.succeeded {
                svg += #"<line class="mark-ok" x1="\#(f(cx))" x2="\#(f(cx))" y1="\#(f(middle - 8))" y2="\#(f(middle + 8))">\#(title)</line>"#
            } else {
                svg += #"<path class="mark-failed" d="M\#(f(cx - 5)),\#(f(middle - 5)) L\#(f(cx + 5)),\#(f(middle + 5)) M\#(f(cx - 5)),\#(f(middle + 5)) L\#(f(cx + 5)),\#(f(middle - 5))">\#(title)</path>"#
            }
        }
        return svg + "</svg>"
    }
}
