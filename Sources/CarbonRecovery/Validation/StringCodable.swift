import Foundation

/// A value written as the text it was parsed from: durations and cron schedules appear in
/// Velero objects and policy files as strings.
protocol StringCodable: Codable, CustomStringConvertible {
    /// Parses the text form; throws ``RecoveryError`` for bad input.
    init(parsing text: String) throws
}

extension StringCodable {
    /// Decodes the text form; a parse failure becomes a `DecodingError` carrying the message.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch let error as RecoveryError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    /// Encodes ``description``, the text form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
