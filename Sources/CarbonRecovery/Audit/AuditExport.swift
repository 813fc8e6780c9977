import Foundation

/// The formats an audit trail exports to.
public enum AuditExportFormat: String, Sendable, CaseIterable {
    /// One canonical JSON object per line, with `hash`: re-verifiable with other tools.
    case jsonl
    /// RFC 4180 CSV with a header row, columns in the canonical encoding's (sorted) member order.
    case csv
}

extension AuditTrail {
    /// Writes every entry matching `query` (ignoring its limit and cursor) in `format`, a line at a time.
    ///
    /// Pages through ``entries(matching:)`` so memory stays bounded on large trails.
    ///
    /// - Parameters:
    ///   - format: JSON Lines or CSV.
    ///   - query: Filters; its `limit` is used as the page size.
    ///   - header: For JSON Lines, a first line (canonical JSON) before the entries — the one
    ///     that names the trail, e.g. `SQLiteAuditTrail.exportHeader`; it has no `seq`, so a
    ///     reader tells it from an entry. Ignored for CSV, whose first row is the column names.
    ///   - write: Called with each line, newline included.
    /// - Returns: How many entries were written.
    /// - Throws: What the trail or `write` throws.
    @discardableResult
    public func export(
        _ format: AuditExportFormat, matching query: AuditQuery = AuditQuery(limit: 1000), header: JSONValue? = nil,
        write: (String) throws -> Void
    ) async throws -> Int64 {
        var query = query
        query.newestFirst = false
        switch format {
        case .csv: try write(AuditField.allCases.map(\.rawValue).joined(separator: ",") + "\r\n")
        case .jsonl: if let header { try write(header.canonicalString + "\n") }
        }
        var count: Int64 = 0
        while true {
            let page = try await entries(matching: query)
            for entry in page.entries {
                switch format {
                case .jsonl: try write(entry.jsonLine + "\n")
                case .csv: try write(AuditCSV.row(entry) + "\r\n")
                }
                count += 1
            }
            guard let cursor = page.nextCursor else { return count }
            query.afterSequence = cursor
        }
    }
}

/// CSV rows of audit entries.
package enum AuditCSV {
    /// One RFC 4180 row, fields in ``AuditField`` order: `null` as an empty field, the empty
    /// string as `""`, so that the two stay apart for a reader that looks at quoting.
    package static func row(_ entry: AuditEntry) -> String {
        AuditField.allCases.map { field -> String in
            switch field {
            case .actor: quote(entry.actor)
            case .cluster: entry.cluster.map(quote) ?? ""
            case .correlationID: quote(entry.correlationID)
            case .durationMilliseconds: entry.durationMilliseconds.map(String.init) ?? ""
            case .error: entry.error.map(quote) ?? ""
            case .hash: entry.hash
            case .kind: entry.kind.rawValue
            case .operation: quote(entry.operation)
            case .outcome: entry.outcome?.rawValue ?? ""
            case .parameters: quote(entry.parameters)
            case .previousHash: entry.previousHash
            case .sequence: String(entry.sequence)
            case .session: quote(entry.session)
            case .target: quote(entry.target)
            case .time: entry.time
            case .version: String(entry.version)
            }
        }.joined(separator: ",")
    }

    /// Quotes a field when it is empty or holds a comma, quote, CR or LF; also neutralises a leading
    /// `=`, `+`, `-`, `@`, tab or CR (OWASP's list) so spreadsheet programs do not run it as a
    /// formula.
    ///
    /// Decided on Unicode scalars, not `Character`s: a comma or quote followed by a combining
    /// mark, or a CR LF pair, is one `Character` that equals none of them, and comparing
    /// characters let such text end the field early and inject rows.
    package static func quote(_ field: String) -> String {
        // The empty string is quoted; an unquoted empty field is null.
        if field.isEmpty { return "\"\"" }
        let scalars = field.unicodeScalars
        let isFormula = scalars.first.map { "=+-@\t\r".unicodeScalars.contains($0) } ?? false
        let needsQuotes = isFormula || scalars.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
        guard needsQuotes else { return field }
        var out = String.UnicodeScalarView()
        out.append("\"")
        if isFormula { out.append("'") }
        for scalar in scalars {
            out.append(scalar)
            if scalar == "\"" { out.append("\"") }
        }
        out.append("\"")
        return String(out)
    }
}
