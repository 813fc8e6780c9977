import CarbonRecovery
import Foundation

extension EvidenceReport {
    /// The report as one self-contained HTML page: inline CSS and inline SVG charts drawn from the
    /// figures, no script, no font, image or anything else fetched; readable on a laptop and
    /// printable. Every figure a reader checks carries a `data-figure` attribute.
    public var html: String {
        let e: (String) -> String = { HTMLText.escaped($0) }
        func day(_ date: Date?) -> String { date.map { String(RFC3339.format($0).prefix(16)).replacingOccurrences(of: "T", with: " ") } ?? "—" }
        func seconds(_ value: Double?) -> String { value.map(Wording.duration) ?? "—" }
        func badge(_ met: Bool?) -> String { Verdict.badge(met) }
        func verdictRows(_ verdict: Verdict) -> String { verdict.rows }
        func drillTable(_ drills: [Drill]) -> String {
            guard !drills.isEmpty else { return #"<p class="empty">No drill in the range.</p>"# }
            var rows = ""
            for drill in drills.reversed() {
                rows += """
                    <tr class="\(drill.passed ? "" : "failed")" data-drill="\(e(drill.target))"><td>\(day(drill.time))</td><td>\(e(drill.level))</td><td>\(e(drill.target))</td>\
                    <td class="number" data-figure="recovery-seconds">\(seconds(drill.recoverySeconds))</td><td class="number">\(seconds(drill.objectiveSeconds))</td>\
                    <td>\(drill.passed ? "passed" : "failed")</td><td>\(e(drill.problems.joined(separator: "; ")))</td></tr>
                    """
            }
            return """
                <table><thead><tr><th>When (UTC)</th><th>Level</th><th>What</th><th>Recovery time</th><th>RTO</th><th>Result</th><th>Problems</th></tr></thead>\
                <tbody>\(rows)</tbody></table>
                """
        }
        func drillChart(_ title: String, _ drills: [Drill], rto: Double) -> String {
            let timed = drills.filter { $0.recoverySeconds != nil }
            guard !timed.isEmpty else { return "" }
            return TimeChart(
                title: title, quantity: "recovery time", from: from, to: to,
                series: [.init(name: "measured recovery time", points: timed.map { ($0.time, $0.recoverySeconds ?? 0) }, style: .points)],
                thresholds: [.init(value: rto, label: "RTO \(Wording.duration(rto))")],
                marks: timed.filter { !$0.passed }.map { .init(time: $0.time, value: $0.recoverySeconds ?? 0, failed: true, label: "\($0.target) failed") }
            ).svg()
        }

        var body = notes.isEmpty ? "" : #"<section id="notes">"# + notes.map { #"<p class="warning">\#(e($0))</p>"# }.joined() + "</section>"
        // Summary: one line per objective and database.
        var summary = ""
        for objective in objectives {
            summary += """
                <tr data-objective="\(e(objective.namespaceClass))"><td>\(e(objective.namespaceClass))</td><td>\(e(objective.verdict.declared))</td>\
                <td>\(e(objective.verdict.tested))</td><td>\(e(objective.verdict.observed))</td><td>\(badge(objective.verdict.met))</td></tr>
                """
        }
        for database in databases {
            summary += """
                <tr data-database="\(e(database.stanza))"><td>database \(e(database.stanza))</td><td>\(e(database.verdict.declared))</td>\
                <td>\(e(database.verdict.tested))</td><td>\(e(database.verdict.observed))</td><td>\(badge(database.verdict.met))</td></tr>
                """
        }
        for section in sections {
            guard let verdict = section.verdict else { continue }
            summary += """
                <tr data-section="\(section.id)"><td>\(e(section.title))</td><td>\(e(verdict.declared))</td>\
                <td>\(e(verdict.tested))</td><td>\(e(verdict.observed))</td><td>\(badge(verdict.met))</td></tr>
                """
        }
        body += """
            <section id="summary"><h2>Declared, tested, observed</h2>\
            <table><thead><tr><th>Objective</th><th>Declared</th><th>Tested</th><th>Observed</th><th></th></tr></thead><tbody>\(summary)</tbody></table></section>
            """

        for objective in objectives {
            var section = #"<section class="objective" id="objective-\#(e(objective.namespaceClass))" data-objective="\#(e(objective.namespaceClass))">"#
            section += "<h2>Objective: \(e(objective.namespaceClass))</h2>" + verdictRows(objective.verdict)
            for namespace in objective.namespaces {
                section += #"<div class="namespace" data-namespace="\#(e(namespace.namespace))"><h3>Namespace \#(e(namespace.namespace))</h3>"#
                section += """
                    <p class="figures">RPO breaches: <b data-figure="breaches">\(namespace.breaches)</b> \
                    (about <span data-figure="breached-time">\(seconds(namespace.breachedSeconds))</span> over the RPO) · \
                    worst age <span data-figure="worst-age">\(namespace.ages.isEmpty ? "—" : namespace.worstAgeSeconds.map(Wording.duration) ?? "no backup")</span> · \
                    now <span data-figure="current-age">\(seconds(namespace.currentAgeSeconds))</span> · \
                    backups <span data-figure="backups-succeeded">\(namespace.backups.filter(\.succeeded).count)</span> succeeded, \
                    <span data-figure="backups-failed">\(namespace.backups.filter { !$0.succeeded }.count)</span> failed</p>
                    """
                if namespace.ages.isEmpty {
                    section += #"<p class="empty">No RPO check recorded this namespace in the range.</p>"#
                } else {
                    let largest = namespace.ages.compactMap(\.seconds).max() ?? objective.rpoSeconds
                    section += TimeChart(
                        title: "RPO age of \(namespace.namespace)", quantity: "RPO age", from: from, to: to,
                        series: [.init(name: "age of the newest good backup", points: namespace.ages.map { ($0.time, $0.seconds ?? max(largest, objective.rpoSeconds) * 1.1) }, style: .step)],
                        thresholds: [.init(value: objective.rpoSeconds, label: "RPO \(Wording.duration(objective.rpoSeconds))")],
                        marks: namespace.ages.filter { $0.seconds.map { $0 > objective.rpoSeconds } ?? true }.map {
                            .init(time: $0.time, value: $0.seconds ?? max(largest, objective.rpoSeconds) * 1.1, failed: true, label: $0.seconds == nil ? "no backup" : "over the RPO")
                        }
                    ).svg()
                }
                section += OutcomeStrip(
                    title: "Backups of \(namespace.namespace)", from: from, to: to,
                    outcomes: namespace.backups.map { ($0.time, $0.succeeded, "\($0.name) (\($0.source))" + ($0.error.map { ": " + $0 } ?? "")) }
                ).svg()
                section += "</div>"
            }
            section += "<h3>Drills restoring this class</h3>" + drillChart("Recovery time of \(objective.namespaceClass) drills", objective.drills, rto: objective.rtoSeconds)
                + drillTable(objective.drills) + "</section>"
            body += section
        }

        body += #"<section id="full-recovery"><h2>Last full-recovery test</h2>"#
        if let last = lastFullRecovery {
            body += """
                <p data-figure="last-full-recovery">\(e(last.level)) \(e(last.target)) on \(day(last.time)): recovery time \
                <b>\(seconds(last.recoverySeconds))</b> against an RTO of \(seconds(last.objectiveSeconds)) — \(last.passed ? "passed" : "failed")</p>
                """
        } else {
            body += #"<p class="empty" data-figure="last-full-recovery">No full-recovery drill or annual exercise in the range.</p>"#
        }
        body += "</section>"

        for database in databases {
            var section = #"<section class="database" id="database-\#(e(database.stanza))" data-database="\#(e(database.stanza))">"#
            section += "<h2>Database \(e(database.stanza))</h2>" + verdictRows(database.verdict)
            if let error = database.windowError {
                section += #"<p class="warning">The archive's window could not be read: \#(e(error))</p>"#
            } else {
                section += """
                    <p class="figures">Restorable from <span data-figure="window-earliest">\(day(database.earliest))</span> to \
                    <span data-figure="window-latest">\(day(database.latest))</span> · base backups <span data-figure="base-backups">\(database.baseBackups ?? 0)</span> · \
                    WAL gaps <b data-figure="gaps">\(database.gaps.count)</b></p>
                    """
                if !database.gaps.isEmpty {
                    section += "<table><thead><tr><th>First missing segment</th><th>Last</th><th>Segments</th></tr></thead><tbody>"
                    for gap in database.gaps { section += "<tr><td>\(e(gap.first))</td><td>\(e(gap.last))</td><td class=\"number\">\(gap.segments)</td></tr>" }
                    section += "</tbody></table>"
                }
            }
            section += """
                <p class="figures">Archive checks: <span data-figure="checks">\(database.checks)</span>, \
                <span data-figure="checks-failed">\(database.checksFailed)</span> failed · base backups taken \
                <span data-figure="base-backups-taken">\(database.baseBackupsTaken)</span>, failed \(database.baseBackupsFailed)</p>
                """
            if !database.lag.isEmpty {
                section += TimeChart(
                    title: "Archive lag of \(database.stanza)", quantity: "archive lag", from: from, to: to,
                    series: [.init(name: "archive lag", points: database.lag.map { ($0.time, $0.seconds ?? 0) }, style: .step)],
                    thresholds: [.init(value: database.rpoSeconds, label: "RPO \(Wording.duration(database.rpoSeconds))")]
                ).svg()
            }
            section += "<h3>Point-in-time recovery drills</h3>" + drillChart("Recovery time of \(database.stanza) drills", database.drills, rto: database.rtoSeconds)
                + drillTable(database.drills) + "</section>"
            body += section
        }

        body += #"<section id="drills"><h2>Every drill, by level</h2>"#
        for level in TrailFacts.DrillRun.Level.allCases {
            let runs = drills.filter { $0.level == level.rawValue }
            body += #"<h3 data-level="\#(level.rawValue)">\#(level.rawValue) — <span data-figure="drill-count">\#(runs.count)</span></h3>"# + drillTable(runs)
        }
        body += "</section>"

        body += #"<section id="findings"><h2>Open policy findings</h2>"#
        if findings.isEmpty {
            body += #"<p class="empty" data-figure="findings">None: policy lint finds nothing.</p>"#
        } else {
            body += #"<table data-figure="findings"><thead><tr><th>Severity</th><th>Rule</th><th>Field</th><th>Evidence</th><th>Fix</th></tr></thead><tbody>"#
            for finding in findings {
                body += "<tr class=\"\(finding.severity == .error ? "failed" : "")\"><td>\(finding.severity.rawValue)</td><td>\(e(finding.rule))</td><td>\(e(finding.field))</td><td>\(e(finding.evidence))</td><td>\(e(finding.fix))</td></tr>"
            }
            body += "</tbody></table>"
        }
        body += "</section>"

        body += #"<section id="audit-trail"><h2>The audit trail this report was made from</h2>"#
        body += """
            <p class="\(trail.valid ? "" : "warning")">Verification: <b data-figure="trail-valid">\(trail.valid ? "valid" : "FAILED")</b>, \
            <span data-figure="entries-checked">\(trail.entriesChecked)</span> entries checked\(trail.problem.map { " — " + e($0) } ?? ""). \
            Head: entry <span data-figure="head-sequence">\(trail.headSequence)</span>, hash <code data-figure="head-hash">\(e(trail.headHash))</code>. \
            This report read <span data-figure="entries-read">\(entriesRead)</span> entries of \(e(trail.path)).</p>
            """
        if let note = trail.checkpointNote {
            body += """
                <p>Newest signed checkpoint: size <span data-figure="checkpoint-size">\(trail.checkpointSize.map(String.init) ?? "—")</span>, \
                Merkle tree root <code>\(e(trail.checkpointHeadHash ?? "—"))</code> (the chain's head hash for a checkpoint from before the tree). Check it against the trail with \
                <code>carbon-recovery audit verify --checkpoint FILE --public-key KEY</code>, FILE holding:</p>\
                <pre data-figure="checkpoint-note">\(e(note))</pre>
                """
        } else {
            body += #"<p class="warning" data-figure="checkpoint-note">The trail has no signed checkpoint: sign one with <code>carbon-recovery audit checkpoint</code>.</p>"#
        }
        body += "</section>"
        for section in sections { body += section.html(from: from, to: to) }

        // Contents: the report's own parts, then each added section.
        var contents = [("summary", "Declared, tested, observed")]
        contents += objectives.map { ("objective-\($0.namespaceClass)", "Objective: \($0.namespaceClass)") }
        contents.append(("full-recovery", "Last full-recovery test"))
        contents += databases.map { ("database-\($0.stanza)", "Database \($0.stanza)") }
        contents += [("drills", "Every drill, by level"), ("findings", "Open policy findings"), ("audit-trail", "The audit trail this report was made from")]
        contents += sections.map { ($0.id, $0.title) }
        let nav = #"<nav id="contents"><h2>Contents</h2><ol>"# + contents.map { ##"<li><a href="#\##(e($0.0))">\##(e($0.1))</a></li>"## }.joined() + "</ol></nav>"

        let range = "\(day(from)) – \(day(to)) UTC"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
            <title>Recovery evidence, \(range)</title><style>\(Self.style)</style></head>
            <body><header><h1>Recovery evidence</h1><p>\(range) · generated \(day(generatedAt)) UTC by carbon-recovery report · \
            trail head \(trail.headSequence) <code>\(e(String(trail.headHash.prefix(16))))…</code></p></header>
            <main>\(nav)\(body)</main></body></html>

            """
    }

    /// The page's only style sheet: system fonts, print-friendly (no backgrounds needed to read it).
    static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:0 auto;max-width:980px;padding:0 20px 40px}\
        header{border-bottom:2px solid #1b1f24;margin-bottom:8px}h1{font-size:24px;margin:18px 0 4px}h2{font-size:19px;margin:28px 0 8px;\
        border-bottom:1px solid #c9d1d9;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;width:100%;margin:6px 0 12px}\
        th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f6f8fa}td.number{text-align:right;\
        font-variant-numeric:tabular-nums}tr.failed td{color:#a40e26}code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}pre{white-space:pre-wrap;\
        border:1px solid #d0d7de;padding:8px;background:#f6f8fa}.badge{border-radius:10px;padding:1px 8px;white-space:nowrap;font-weight:600;font-size:12px;border:1px solid}\
        .badge.ok{color:#116329;border-color:#116329}.badge.bad{color:#a40e26;border-color:#a40e26}.badge.unknown{color:#57606a;border-color:#57606a}\
        .verdict{display:grid;grid-template-columns:90px 1fr;gap:2px 10px;margin:6px 0}.verdict dt{font-weight:600}.verdict dd{margin:0}\
        .empty{color:#57606a;font-style:italic}.warning{color:#a40e26}.figures{margin:4px 0}svg.chart{width:100%;height:auto;display:block;margin:6px 0}\
        .chart-title{font-size:12px;font-weight:600;fill:#1b1f24}.tick,.axis-label{font-size:10px;fill:#57606a}.grid{stroke:#eaeef2}.axis{stroke:#8c959f}\
        .objective-line{stroke:#a40e26;stroke-dasharray:6 4;stroke-width:1.5}.objective-label{font-size:10px;fill:#a40e26}.series{fill:none;stroke-width:1.5}\
        .series-0{stroke:#0969da;fill:#0969da}path.series-0{fill:none}.series-1{stroke:#8250df;fill:#8250df}path.series-1{fill:none}\
        .series-point{stroke:none}.mark-failed{stroke:#a40e26;stroke-width:2;fill:none}.mark-ok{stroke:#1a7f37;stroke-width:1.5;fill:#1a7f37}\
        nav ol{columns:2;margin:4px 0 0;padding-left:22px}nav h2{border:none}\
        @media print{body{max-width:none;font-size:11px}section{break-inside:avoid-page}h2{break-after:avoid}}
        """
}

extension EvidenceReport.Verdict {
    /// The objective's badge: met, not met, or not shown.
    static func badge(_ met: Bool?) -> String {
        switch met {
        case true?: #"<span class="badge ok" data-figure="met">met</span>"#
        case false?: #"<span class="badge bad" data-figure="met">not met</span>"#
        case nil: #"<span class="badge unknown" data-figure="met">not shown</span>"#
        }
    }

    /// Declared, tested, observed and the badge, as a definition list.
    var rows: String {
        let e: (String) -> String = { HTMLText.escaped($0) }
        return """
            <dl class="verdict"><dt>Declared</dt><dd data-figure="declared">\(e(declared))</dd>\
            <dt>Tested</dt><dd data-figure="tested">\(e(tested))</dd>\
            <dt>Observed</dt><dd data-figure="observed">\(e(observed))</dd>\
            <dt>Objective</dt><dd>\(Self.badge(met))</dd></dl>
            """
    }
}
