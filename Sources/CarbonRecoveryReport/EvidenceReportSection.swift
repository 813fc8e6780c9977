import CarbonRecovery
import Foundation

extension EvidenceReport {
    /// A part of the report that a capability adds: its heading, what it shows as blocks the
    /// report renders (and escapes), and its figures for `--output json`.
    ///
    /// The report's own parts (objectives, databases, drills, findings, the audit trail) come
    /// first; sections given in ``Input/sections`` follow, in order, each with an entry in the
    /// page's contents and in the JSON's `sections`. A section gives no markup: every string in
    /// it is text, escaped by the renderer, so a name read from the trail is shown, never run.
    public struct Section: Sendable, Equatable {
        /// What a section shows, top to bottom.
        public enum Block: Sendable, Equatable {
            /// A paragraph of text.
            case paragraph(String)
            /// A paragraph in the warning colour: something a reader must not miss.
            case warning(String)
            /// Named figures on one line, each `label: value`; `name` becomes the value's
            /// `data-figure` attribute, so a test or a reviewer's script finds it.
            case figures([Figure])
            /// A table with a header row; a row shorter than the header is padded.
            case table(header: [String], rows: [[String]])
            /// Text shown as is, in a monospaced box (a signed note, a command).
            case preformatted(String)
            /// Durations over the report's range, drawn as a chart with its objective line.
            case durations(Durations)
        }

        /// A figure: `label: value`, with a machine name.
        public struct Figure: Sendable, Equatable {
            /// `[a-z0-9-]+`: the `data-figure` attribute.
            public var name: String
            /// What the figure is, shown before its value.
            public var label: String
            /// The figure's value, as text.
            public var value: String

            /// Creates a figure; nothing is checked (``EvidenceReport/build(trail:input:)`` checks the name).
            public init(name: String, label: String, value: String) {
                self.name = name
                self.label = label
                self.value = value
            }
        }

        /// A series of durations in seconds over time, with an optional objective line.
        public struct Durations: Sendable, Equatable {
            /// The chart's title.
            public var title: String
            /// What the values are ("archive lag", "anchor age"), said on the value axis.
            public var quantity: String
            /// The values, each at its moment.
            public var points: [Point]
            /// Steps (a value held until the next point) or one dot per point.
            public var stepped: Bool
            /// The objective line, in seconds; `nil` for none.
            public var objectiveSeconds: Double?
            /// The objective line's label; `nil` for `objective <duration>`.
            public var objectiveLabel: String?

            /// One value at a moment.
            public struct Point: Sendable, Equatable {
                /// When the value was taken.
                public var time: Date
                /// The value, in seconds (finite and ≥ 0, or the report refuses the section).
                public var seconds: Double

                /// Creates a point; nothing is checked.
                public init(time: Date, seconds: Double) {
                    self.time = time
                    self.seconds = seconds
                }
            }

            /// Creates a chart; nothing is checked (``EvidenceReport/build(trail:input:)`` checks the values).
            public init(title: String, quantity: String, points: [Point], stepped: Bool, objectiveSeconds: Double? = nil, objectiveLabel: String? = nil) {
                self.title = title
                self.quantity = quantity
                self.points = points
                self.stepped = stepped
                self.objectiveSeconds = objectiveSeconds
                self.objectiveLabel = objectiveLabel
            }
        }

        /// `[a-z0-9-]+`, unique in the report: the page's anchor (`#id`) and the JSON's key.
        public var id: String
        /// The section's heading, in the page and in its contents.
        public var title: String
        /// The one-line judgement the summary table shows for this section, when it has one.
        public var verdict: Verdict?
        /// What the section shows, top to bottom.
        public var blocks: [Block]
        /// The section's figures for `--output json` (under `sections[].figures`).
        public var json: JSONValue

        /// Creates a section; nothing is checked (``EvidenceReport/build(trail:input:)`` checks the id and names).
        public init(id: String, title: String, verdict: Verdict? = nil, blocks: [Block], json: JSONValue = .object([:])) {
            self.id = id
            self.title = title
            self.verdict = verdict
            self.blocks = blocks
            self.json = json
        }

        /// The ids the report's own parts use; an added section may not take one.
        static let reservedIDs: Set<String> = ["notes", "contents", "summary", "full-recovery", "drills", "findings", "audit-trail"]

        /// Checks the id and every figure's name.
        ///
        /// - Throws: ``RecoveryError/Code/invalidInput`` naming what is wrong.
        func validate() throws {
            func isName(_ text: String) -> Bool {
                !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }
            }
            guard isName(id) else {
                throw RecoveryError(.invalidInput, "a report section's id must be 1–64 of a-z, 0-9 and '-': \(id.debugDescription)")
            }
            guard !Self.reservedIDs.contains(id), !id.hasPrefix("objective-"), !id.hasPrefix("database-") else {
                throw RecoveryError(.invalidInput, "the report section id \(id) is the report's own")
            }
            for block in blocks {
                switch block {
                case .figures(let figures):
                    for figure in figures where !isName(figure.name) {
                        throw RecoveryError(.invalidInput, "section \(id): a figure's name must be 1–64 of a-z, 0-9 and '-': \(figure.name.debugDescription)")
                    }
                case .durations(let chart):
                    if let bad = chart.points.first(where: { !$0.seconds.isFinite || $0.seconds < 0 }) {
                        throw RecoveryError(.invalidInput, "section \(id): chart \(chart.title.debugDescription) has a duration that is not a finite number of seconds ≥ 0: \(bad.seconds)")
                    }
                    if let objective = chart.objectiveSeconds, !objective.isFinite || objective < 0 {
                        throw RecoveryError(.invalidInput, "section \(id): chart \(chart.title.debugDescription) has an objective that is not a finite number of seconds ≥ 0: \(objective)")
                    }
                default: continue
                }
            }
        }

        /// The section's page fragment, every string escaped.
        func html(from: Date, to: Date) -> String {
            let e: (String) -> String = { HTMLText.escaped($0) }
            var html = #"<section class="added" id="\#(id)" data-section="\#(id)"><h2>\#(e(title))</h2>"#
            if let verdict { html += verdict.rows }
            for block in blocks {
                switch block {
                case .paragraph(let text):
                    html += "<p>\(e(text))</p>"
                case .warning(let text):
                    html += #"<p class="warning">\#(e(text))</p>"#
                case .figures(let figures):
                    html += #"<p class="figures">"# + figures.map { #"\#(e($0.label)): <b data-figure="\#($0.name)">\#(e($0.value))</b>"# }.joined(separator: " · ") + "</p>"
                case .table(let header, let rows):
                    html += "<table><thead><tr>" + header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>"
                    for row in rows {
                        let cells = row + Array(repeating: "", count: max(0, header.count - row.count))
                        html += "<tr>" + cells.map { "<td>\(e($0))</td>" }.joined() + "</tr>"
                    }
                    html += "</tbody></table>"
                case .preformatted(let text):
                    html += "<pre>\(e(text))</pre>"
                case .durations(let chart):
                    guard !chart.points.isEmpty else {
                        html += #"<p class="empty">\#(e(chart.title)): nothing in the range.</p>"#
                        continue
                    }
                    html += TimeChart(
                        title: chart.title, quantity: chart.quantity, from: from, to: to,
                        series: [.init(name: chart.quantity, points: chart.points.map { ($0.time, $0.seconds) }, style: chart.stepped ? .step : .points)],
                        thresholds: chart.objectiveSeconds.map { [.init(value: $0, label: chart.objectiveLabel ?? "objective \(Wording.duration($0))")] } ?? []
                    ).svg()
                }
            }
            return html + "</section>"
        }
    }
}
