import Foundation

/// Commands Velero runs in matching pods before (or after) it backs them up: a Velero backup
/// hook (`spec.hooks.resources[]`). The guide's PostgreSQL backup uses a pre-hook so that the
/// database is dumped (or frozen) consistently before its pod is backed up.
///
/// ```swift
/// let dump = BackupHook(
///     name: "postgresql-dump", includedNamespaces: ["data-platform"], labelSelector: try LabelSelector(parsing: "app=postgresql"),
///     pre: [.init(container: "postgresql", command: ["/bin/sh", "-c", "pg_dumpall -U postgres > /var/lib/postgresql/data/backup.sql"], onError: .fail, timeout: .minutes(10))])
/// ```
public struct BackupHook: Sendable, Hashable {
    /// What Velero does when a hook command fails.
    public enum OnError: String, Sendable, Hashable, CaseIterable {
        /// The backup becomes `PartiallyFailed` (for a pre-hook, the pod is not backed up).
        case fail = "Fail"
        /// The error is logged and the backup goes on.
        case `continue` = "Continue"
    }

    /// One command run in a pod's container.
    public struct Exec: Sendable, Hashable {
        /// The container; `nil` means the pod's first container.
        public var container: String?
        /// The command and its arguments (no shell unless you run one).
        public var command: [String]
        /// What a failure does; `nil` is Velero's default (`Fail`).
        public var onError: OnError?
        /// How long Velero waits for it; `nil` is Velero's default (30 s).
        public var timeout: GoDuration?

        /// Creates a hook command.
        public init(container: String? = nil, command: [String], onError: OnError? = nil, timeout: GoDuration? = nil) {
            self.container = container
            self.command = command
            self.onError = onError
            self.timeout = timeout
        }
    }

    /// The hook's name (for Velero's logs).
    public var name: String
    /// Namespaces whose pods it applies to; empty means all the backup includes.
    public var includedNamespaces: [String]
    /// Only pods whose labels match.
    public var labelSelector: LabelSelector?
    /// Commands run before each matching pod is backed up.
    public var pre: [Exec]
    /// Commands run after each matching pod is backed up.
    public var post: [Exec]

    /// Creates a hook.
    public init(name: String, includedNamespaces: [String] = [], labelSelector: LabelSelector? = nil, pre: [Exec] = [], post: [Exec] = []) {
        self.name = name
        self.includedNamespaces = includedNamespaces
        self.labelSelector = labelSelector
        self.pre = pre
        self.post = post
    }

    /// Checks the name, namespaces, commands and timeouts.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        guard !name.isEmpty, name.count <= 253, !name.contains(where: \.isNewline) else {
            throw RecoveryError.invalidInput("backup hook name '\(name)' must be 1 to 253 characters on one line")
        }
        for namespace in includedNamespaces where !namespace.contains("*") { try KubernetesName.validateLabel(namespace, what: "hook namespace") }
        guard !(pre.isEmpty && post.isEmpty) else {
            throw RecoveryError.invalidInput("backup hook '\(name)' has no pre or post command")
        }
        for exec in pre + post {
            guard let first = exec.command.first, !first.isEmpty else {
                throw RecoveryError.invalidInput("backup hook '\(name)' has an empty command")
            }
            if let container = exec.container { try KubernetesName.validateLabel(container, what: "hook container") }
            if let timeout = exec.timeout, timeout.nanoseconds <= 0 {
                throw RecoveryError.invalidInput("backup hook '\(name)' has timeout \(timeout): use a positive duration such as 5m0s")
            }
        }
    }
}
