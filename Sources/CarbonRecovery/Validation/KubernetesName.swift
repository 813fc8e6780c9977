/// Kubernetes name rules: DNS-1123 labels and DNS-1123 subdomains.
///
/// Namespaces and the names that end up in label values must be DNS-1123 *labels*; most other
/// object names (backups, restores, schedules) must be DNS-1123 *subdomains*. Every name that
/// reaches a command line, a URL or a storage key goes through these checks first, so nothing but
/// a plain name — never `--kubeconfig=/x`, `$(id)` or `a;rm -rf /` — gets that far.
///
/// ```swift
/// try KubernetesName.validateLabel("data-platform", what: "namespace")    // fine
/// try KubernetesName.validateLabel("Data_Platform", what: "namespace")    // throws:
/// // namespace 'Data_Platform' is not a DNS-1123 label (use lowercase letters, digits and '-', …)
/// KubernetesName.isSubdomain("daily.backups")                            // true
/// ```
package enum KubernetesName {
    /// The longest DNS-1123 label: 63 characters.
    package static let maximumLabelLength = 63
    /// The longest DNS-1123 subdomain: 253 characters.
    package static let maximumSubdomainLength = 253

    /// Checks that a value is a DNS-1123 label.
    ///
    /// A label is 1 to 63 characters of lowercase ASCII letters, digits and `-`, and starts and
    /// ends with a letter or digit (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`). Namespaces must be labels.
    ///
    /// ```swift
    /// try KubernetesName.validateLabel("vault-prod", what: "namespace")
    /// ```
    ///
    /// - Parameters:
    ///   - value: The name to check.
    ///   - what: What the name is, used at the start of the message (`namespace`, `schedule name`).
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` whose message
    ///   quotes the value and says what a label may contain, or says that it must not be empty.
    package static func validateLabel(_ value: String, what: String) throws(RecoveryError) {
        guard !value.isEmpty else { throw emptyError(what) }
        guard isLabel(value) else {
            throw RecoveryError.invalidInput(
                "\(what) '\(printable(value))' is not a DNS-1123 label (use lowercase letters, digits and '-', "
                    + "start and end with a letter or digit, at most \(maximumLabelLength) characters)",
                target: printable(value))
        }
    }

    /// Checks that a value is a DNS-1123 subdomain.
    ///
    /// A subdomain is at most 253 characters of dot-separated DNS-1123 labels (each
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`); most Kubernetes object names, Velero backups among them,
    /// must be subdomains.
    ///
    /// ```swift
    /// try KubernetesName.validateSubdomain("daily-20261125020000", what: "backup name")
    /// ```
    ///
    /// - Parameters:
    ///   - value: The name to check.
    ///   - what: What the name is, used at the start of the message (`backup name`).
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` whose message
    ///   quotes the value and says what a subdomain may contain, or says that it must not be empty.
    package static func validateSubdomain(_ value: String, what: String) throws(RecoveryError) {
        guard !value.isEmpty else { throw emptyError(what) }
        guard isSubdomain(value) else {
            throw RecoveryError.invalidInput(
                "\(what) '\(printable(value))' is not a DNS-1123 subdomain (use lowercase letters, digits, '-' and '.', "
                    + "start and end every dot-separated part with a letter or digit, at most \(maximumSubdomainLength) characters)",
                target: printable(value))
        }
    }

    /// Whether a value is a DNS-1123 label (1–63 characters, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`).
    ///
    /// ```swift
    /// KubernetesName.isLabel("data-platform")   // true
    /// KubernetesName.isLabel("-lead")           // false
    /// ```
    ///
    /// - Parameter value: The name to check.
    /// - Returns: `true` when the value is a label.
    package static func isLabel(_ value: String) -> Bool {
        let bytes = value.utf8
        return bytes.count <= maximumLabelLength && isLabelBytes(bytes[...])
    }

    /// Whether a value is a DNS-1123 subdomain (at most 253 characters of dot-separated labels).
    ///
    /// ```swift
    /// KubernetesName.isSubdomain("backups.velero.io")   // true
    /// KubernetesName.isSubdomain("a..b")                // false
    /// ```
    ///
    /// - Parameter value: The name to check.
    /// - Returns: `true` when the value is a subdomain.
    package static func isSubdomain(_ value: String) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= maximumSubdomainLength else { return false }
        return bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy(isLabelBytes)
    }

    // MARK: - Helpers shared by the validation types

    /// The value as it may appear inside a message: control and invisible formatting characters
    /// escaped (`\n`, `\u{1B}`), and values longer than 256 characters cut short.
    static func printable(_ value: String) -> String {
        let limit = 256
        var text = ""
        var count = 0
        for scalar in value.unicodeScalars {
            if count == limit {
                return text + "…"
            }
            text += isInvisible(scalar) ? scalar.escaped(asASCII: true) : String(scalar)
            count += 1
        }
        return text
    }

    private static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned: true
        default: false
        }
    }

    private static func emptyError(_ what: String) -> RecoveryError {
        RecoveryError.invalidInput("\(what) must not be empty")
    }

    private static func isLabelBytes(_ bytes: Substring.UTF8View) -> Bool {
        guard let first = bytes.first, let last = bytes.last, isLowerAlphanumeric(first), isLowerAlphanumeric(last) else {
            return false
        }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
