import Foundation

/// A value written as the text it was parsed from: durations and cron schedules appear in
/// Velero objects and policy files as strings.
protocol StringCodable: Codable, CustomStringConvertible {
    /// Parses the text form; throws ``RecoveryError`` for bad input.
    init(parsing text: String) throws
}

extension StringCodable {
    /// Decodes the text form; a parse failure becomes a `DecodingError` carrying the message.
    ///
    /// - Throws: `DecodingError.dataCorrupted` carrying the parse message, or the decoder's
    ///   error when the value is not a string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch let error as RecoveryError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes ``description``, the text form (for a schedule, the expression as written).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
