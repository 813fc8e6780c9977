/// Kubernetes name rules: DNS-1123 labels (namespaces, label values of some kinds) and
/// DNS-1123 subdomains (most object names).
///
/// Every name that reaches a command line, a URL or a storage key goes through these checks
/// first, so that nothing but a plain name — never `--kubeconfig=/x` or `$(id)` — gets there.
///
/// ```swift
/// try KubernetesName.validateLabel("data-platform", what: "namespace")   // fine
/// try KubernetesName.validateLabel("Data_Platform", what: "namespace")   // throws
/// ```
public enum KubernetesName {
    /// The longest DNS-1123 label.
    public static let maximumLabelLength = 63
    /// The longest DNS-1123 subdomain.
    public static let maximumSubdomainLength = 253

    /// Checks a DNS-1123 label: 1–63 characters, lowercase letters, digits and `-`, starting and
    /// ending with a letter or digit.
    ///
    /// - Parameters:
    ///   - value: The name to check.
    ///   - what: What the name is, for the message (`namespace`, `backup name`).
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` naming the value.
    public static func validateLabel(_ value: String, what: String) throws {
        guard !value.isEmpty else { throw RecoveryError.invalidInput("\(what) must not be empty") }
        guard isLabel(value) else {
            throw RecoveryError.invalidInput(
                "\(what) '\(printable(value))' is not a DNS-1123 label (use lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters)")
        }
    }

    /// Checks a DNS-1123 subdomain: at most 253 characters of dot-separated labels.
    ///
    /// - Parameters:
    ///   - value: The name to check.
    ///   - what: What the name is, for the message.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` naming the value.
    public static func validateSubdomain(_ value: String, what: String) throws {
        guard !value.isEmpty else { throw RecoveryError.invalidInput("\(what) must not be empty") }
        guard isSubdomain(value) else {
            throw RecoveryError.invalidInput(
                "\(what) '\(printable(value))' is not a DNS-1123 subdomain (use lowercase letters, digits, '-' and '.', start and end with a letter or digit, at most 253 characters)")
        }
    }

    /// Whether `value` is a DNS-1123 label.
    public static func isLabel(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        return bytes.count <= maximumLabelLength && isLabel(bytes[...])
    }

    /// Whether `value` is a DNS-1123 subdomain.
    public static func isSubdomain(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumSubdomainLength else { return false }
        return bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy(isLabel)
    }

    private static func isLabel(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The value with control characters made visible and cut to a readable length.
    static func printable(_ value: String) -> String {
        let visible = value.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
        return visible.count > 80 ? String(visible.prefix(77)) + "..." : visible
    }
}
