import CSQLite
import CarbonRecovery

/// The domain checks of a row, run before it is encoded: each member's type and value against
/// `docs/audit-trail.md` ("An entry").
extension AuditChainVerifier {
    private static let attemptBytes = Array(AuditEntryKind.attempt.rawValue.utf8)
    private static let outcomeBytes = Array(AuditEntryKind.outcome.rawValue.utf8)
    /// Outcomes of format 1; format 2 is an outcome `denied` and nothing else.
    private static let outcomeValues = [AuditOutcome.success, .failure, .abandoned].map { Array($0.rawValue.utf8) }
    private static let deniedBytes = Array(AuditOutcome.denied.rawValue.utf8)
    /// Text members (column, name) that are never null, and those that may be.
    private static let requiredText = [2, 3, 4, 6, 7, 8, 12, 13]
    private static let optionalText = [5, 9, 10]
    /// Member names by column (``AuditSchema/entryColumns`` order), for messages.
    private static let memberNames = [
        "seq", "v", "time", "kind", "actor", "cluster", "operation", "target", "parameters", "outcome", "error", "duration_ms",
        "correlation_id", "session", "prev_hash", "hash",
    ]

    /// Free-text members (column, name) whose bytes must be valid UTF-8; the others are checked
    /// against fixed ASCII forms, and `prev_hash` against the previous entry's hash.
    private static let freeText = [4, 5, 6, 7, 8, 10, 12, 13]

    /// A description of the first member whose type or value is outside its domain in
    /// `docs/audit-trail.md` ("An entry"), if any. Checked in the order that document gives.
    static func malformedField(_ row: borrowing AuditRowColumns) -> String? {
        let versionType = row.type(1)
        if versionType != SQLITE_INTEGER { return versionType == SQLITE_NULL ? "v is missing" : "v is not an integer" }
        let version = row.integer(1)
        if version != 1 && version != 2 { return "v is \(version), but the entry formats are 1 and 2" }
        for column in requiredText where row.type(column) != SQLITE_TEXT {
            return row.type(column) == SQLITE_NULL ? "\(memberNames[column]) is missing" : "\(memberNames[column]) is not a string"
        }
        for column in optionalText where row.type(column) != SQLITE_TEXT && row.type(column) != SQLITE_NULL {
            return "\(memberNames[column]) is neither a string nor null"
        }
        for column in freeText {
            if let bytes = row.text(column), !UTF8Validation.isValid(bytes) { return "\(memberNames[column]) is not valid UTF-8" }
        }
        guard let time = row.text(2), isTimestamp(time) else {
            return "time '\(row.describe(2) ?? "")' is not UTC in the form yyyy-MM-ddTHH:mm:ss.SSSZ"
        }
        guard let kind = row.text(3), equal(kind, attemptBytes) || equal(kind, outcomeBytes) else {
            return "kind '\(row.describe(3) ?? "null")' is neither 'attempt' nor 'outcome'"
        }
        let isAttempt = equal(kind, attemptBytes)
        if let outcome = row.text(9) {
            if isAttempt { return "an attempt has the outcome '\(row.describe(9) ?? "")'; attempts have none" }
            if equal(outcome, deniedBytes) {
                if version != 2 { return "outcome 'denied' is in entry format 2, but v is \(version)" }
            } else if !outcomeValues.contains(where: { equal(outcome, $0) }) {
                return "outcome '\(row.describe(9) ?? "")' is none of success, failure, abandoned, denied"
            } else if version != 1 {
                return "v is 2, which only an outcome 'denied' has, but the outcome is '\(row.describe(9) ?? "")'"
            }
        } else if !isAttempt {
            return "an outcome entry has no outcome"
        } else if version != 1 {
            return "v is 2, which only an outcome 'denied' has, but this is an attempt"
        }
        let durationType = row.type(11)
        if durationType != SQLITE_NULL {
            if durationType != SQLITE_INTEGER { return "duration_ms is not an integer" }
            if row.integer(11) < 0 { return "duration_ms is \(row.integer(11)), a negative duration" }
        }
        return nil
    }

    /// `yyyy-MM-ddTHH:mm:ss.SSSZ`: 24 bytes, digits where the form has letters.
    private static func isTimestamp(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count == 24 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 4, 7: if byte != UInt8(ascii: "-") { return false }
            case 10: if byte != UInt8(ascii: "T") { return false }
            case 13, 16: if byte != UInt8(ascii: ":") { return false }
            case 19: if byte != UInt8(ascii: ".") { return false }
            case 23: if byte != UInt8(ascii: "Z") { return false }
            default: if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { return false }
            }
        }
        return true
    }
}
