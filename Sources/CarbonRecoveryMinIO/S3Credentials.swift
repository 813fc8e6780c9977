import CarbonRecovery
import Foundation

/// An S3 access key pair. Its description never shows the secret.
public struct S3Credentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The access key id (not a secret; shown shortened in descriptions).
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// A session token for temporary credentials, when there is one.
    public var sessionToken: String?

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// `S3Credentials(AKIA…, secret: [REDACTED])`.
    public var description: String { "S3Credentials(\(Self.shortened(accessKeyID)), secret: \(AuditRedaction.placeholder))" }
    public var debugDescription: String { description }

    /// The first four characters of an access key id and its length: enough to tell keys apart.
    /// Reads the AWS/Velero credentials file format (`[default]` with `aws_access_key_id` and
    /// `aws_secret_access_key`) from text already in memory — a Velero credentials secret's value.
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - profile: The section to read.
    ///   - source: Where the text came from, for error messages (`velero/cloud-credentials`).
    /// - Throws: `RecoveryError` naming `source` (never a key) when the text is malformed or the
    ///   profile lacks either key.
    public init(credentialsFile text: String, profile: String = "default", source: String) throws {
        self = try CredentialsFile.parse(text, profile: profile, path: source)
    }

    static func shortened(_ keyID: String) -> String { "\(keyID.prefix(4))…(\(keyID.count) chars)" }
}

/// Where ``MinIOStorageBackend`` gets its credentials, asked again for every request so that
/// rotated keys take effect without a restart.
public protocol S3CredentialsProvider: Sendable {
    /// The credentials to sign the next request with.
    func credentials() async throws -> S3Credentials
}

/// The standard sources of credentials.
public enum S3CredentialsSource: Sendable {
    /// Fixed credentials (for embedders that read them from their own secret store).
    case fixed(S3Credentials)
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`.
    case environment
    /// A credentials file in the AWS/Velero format (`[default]` with `aws_access_key_id` and
    /// `aws_secret_access_key`), read at every request; `profile` defaults to `default`.
    case file(path: String, profile: String = "default")
    /// Your own provider.
    case provider(any S3CredentialsProvider)

    /// The variables and files kubectl's neighbours use, in the AWS CLI's order: the
    /// `AWS_ACCESS_KEY_ID` pair when set, else `AWS_SHARED_CREDENTIALS_FILE` (or
    /// `~/.aws/credentials`) with `AWS_PROFILE` (or `default`).
    public static func standard(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> S3CredentialsSource {
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty { return .environment }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        if let file = environment["AWS_SHARED_CREDENTIALS_FILE"], !file.isEmpty { return .file(path: file, profile: profile) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return .file(path: home + "/.aws/credentials", profile: profile)
    }

    func resolve() async throws -> S3Credentials {
        switch self {
        case .fixed(let credentials):
            return credentials
        case .environment:
            let environment = ProcessInfo.processInfo.environment
            guard let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
                  let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
                throw RecoveryError(.unauthorized, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set")
            }
            return S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        case .file(let path, let profile):
            return try CredentialsFile.read(path: path, profile: profile)
        case .provider(let provider):
            return try await provider.credentials()
        }
    }
}

/// The AWS/Velero credentials file: INI sections, `key = value` lines, `#`/`;` comments.
enum CredentialsFile {
    static func read(path: String, profile: String) throws -> S3Credentials {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RecoveryError(.unauthorized, "the S3 credentials file \(path) could not be read; create it with a [\(profile)] section or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", target: path)
        }
        return try parse(text, profile: profile, path: path)
    }

    static func parse(_ text: String, profile: String, path: String) throws -> S3Credentials {
        var section: String?
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw RecoveryError(.invalidInput, "\(path):\(number + 1): a section header must end with ']'", target: path)
                }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                    .replacingOccurrences(of: "profile ", with: "")
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw RecoveryError(.invalidInput, "\(path):\(number + 1): expected 'key = value'", target: path)
            }
            guard section == profile else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            values[key] = value
        }
        guard let key = values["aws_access_key_id"], !key.isEmpty, let secret = values["aws_secret_access_key"], !secret.isEmpty else {
            throw RecoveryError(.unauthorized, "\(path) has no [\(profile)] section with aws_access_key_id and aws_secret_access_key", target: path)
        }
        return S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: values["aws_session_token"])
    }
}
