import Foundation

/// An S3 access key pair as credential rotation handles it: read from a file in the
/// AWS/Velero format or from two variables, written back into a Velero credentials secret.
/// Its description shows the key id shortened and never the secret.
public struct StorageKeyPair: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The access key id (not a secret; shown shortened).
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String

    /// Creates a key pair, checking that both parts could be keys.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when either is empty, longer than 256
    ///   characters, or holds anything but printable ASCII without spaces; the message never
    ///   repeats the secret.
    public init(accessKeyID: String, secretAccessKey: String) throws {
        for (what, value) in [("access key id", accessKeyID), ("secret access key", secretAccessKey)] {
            guard !value.isEmpty, value.utf8.count <= 256, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw RecoveryError.invalidInput("the \(what) must be 1 to 256 printable ASCII characters without spaces")
            }
        }
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// Reads a profile of an AWS/Velero credentials file (`[default]`, `aws_access_key_id`,
    /// `aws_secret_access_key`).
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming `source` and the line (never a key)
    ///   when the text is malformed or the profile lacks either key.
    public init(credentialsFile text: String, profile: String = "default", source: String) throws {
        let values = try Self.profile(profile, in: text, source: source)
        let missing = ["aws_access_key_id", "aws_secret_access_key"].filter { (values[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            throw RecoveryError.invalidInput("\(source) has no \(missing.joined(separator: " and ")) in its [\(profile)] section")
        }
        try self.init(accessKeyID: values["aws_access_key_id"]!, secretAccessKey: values["aws_secret_access_key"]!)
    }

    /// `AKIA…(20 chars)`: enough to tell keys apart.
    public var shortID: String { "\(accessKeyID.prefix(4))…(\(accessKeyID.count) chars)" }

    public var description: String { "StorageKeyPair(\(shortID), secret: \(AuditRedaction.placeholder))" }
    public var debugDescription: String { description }

    /// `text` with this pair in `profile` (added when missing), every other line kept as it was.
    public func replacing(in text: String, profile: String = "default") -> String {
        var lines = text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var section: String?
        var written: Set<String> = []
        var output: [String] = []
        func flush() {
            guard section == profile else { return }
            if !written.contains("aws_access_key_id") { output.append("aws_access_key_id = \(accessKeyID)") }
            if !written.contains("aws_secret_access_key") { output.append("aws_secret_access_key = \(secretAccessKey)") }
            written = ["aws_access_key_id", "aws_secret_access_key"]
        }
        var found = false
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                flush()
                section = Self.sectionName(trimmed)
                if section == profile { found = true; written = [] }
                output.append(line)
                continue
            }
            if section == profile, let equals = trimmed.firstIndex(of: "=") {
                let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                if key == "aws_access_key_id" || key == "aws_secret_access_key" {
                    if !written.contains(key) { output.append("\(key) = \(key == "aws_access_key_id" ? accessKeyID : secretAccessKey)") }
                    written.insert(key)
                    continue
                }
                if key == "aws_session_token" { continue }   // belonged to the old key
            }
            output.append(line)
        }
        flush()
        if !found { output += ["[\(profile)]", "aws_access_key_id = \(accessKeyID)", "aws_secret_access_key = \(secretAccessKey)"] }
        return output.joined(separator: "\n") + "\n"
    }

    static func sectionName(_ header: String) -> String {
        String(header.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "profile ", with: "")
    }

    /// The `key = value` pairs of one profile.
    static func profile(_ profile: String, in text: String, source: String) throws -> [String: String] {
        var section: String?
        var values: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw RecoveryError.invalidInput("\(source):\(number + 1): a section header must end with ']'") }
                section = sectionName(line)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw RecoveryError.invalidInput("\(source):\(number + 1): expected 'key = value'") }
            guard section == profile else { continue }
            values[line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}
