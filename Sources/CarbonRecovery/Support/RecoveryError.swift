/// The one error type the CarbonRecovery SDK throws.
///
/// Every failure carries an extensible ``Code`` (compare with `==`, never switch exhaustively),
/// a message that says what failed, on what, and what to do, the operation and target it
/// concerns, and the underlying error when there is one.
///
/// ```swift
/// do {
///     try await coordinator.backup(request)
/// } catch let error as RecoveryError where error.code == .invalidInput {
///     print(error.message)   // "namespace 'Data_Platform' is not a DNS-1123 label (…)"
/// }
/// ```
///
/// Messages never contain credentials: implementations that wrap a process or an HTTP response
/// redact before building the error.
///
/// Two errors are equal when their codes are (`Equatable` and `Hashable` look at ``code`` only),
/// so a caller can match one without caring for its message:
///
/// ```swift
/// #expect(throws: RecoveryError(.invalidInput, "")) { try KubernetesName.validateLabel("Data_Platform", what: "namespace") }
/// ```
public struct RecoveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added in any release.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Input that does not satisfy the rules (names, selectors, durations, cron, policy).
        public static let invalidInput = Code(rawValue: "invalid-input")
        /// The object, backup, restore or storage key does not exist.
        public static let notFound = Code(rawValue: "not-found")
        /// A concurrent change or an existing object conflicts with the request.
        public static let conflict = Code(rawValue: "conflict")
        /// The caller is authenticated but not allowed to do this.
        public static let forbidden = Code(rawValue: "forbidden")
        /// The credentials were missing, wrong or expired.
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// The cluster or storage endpoint could not be reached.
        public static let unreachable = Code(rawValue: "unreachable")
        /// The operation did not finish within its time limit.
        public static let timeout = Code(rawValue: "timeout")
        /// An object was rejected by its schema or could not be parsed.
        public static let invalidObject = Code(rawValue: "invalid-object")
        /// A backup finished in a phase other than `Completed`.
        public static let backupFailed = Code(rawValue: "backup-failed")
        /// A restore finished in a phase other than `Completed`.
        public static let restoreFailed = Code(rawValue: "restore-failed")
        /// A backup exists but did not pass validation.
        public static let validationFailed = Code(rawValue: "validation-failed")
        /// The storage backend failed in a way not covered by a more specific code.
        public static let storageFailure = Code(rawValue: "storage-failure")
        /// The audit trail could not be written or read.
        public static let auditFailure = Code(rawValue: "audit-failure")
        /// The notification outbox could not be written or read (its own code: a scheduler stops
        /// on ``auditFailure``, not on a notification that could not be queued).
        public static let notificationFailure = Code(rawValue: "notification-failure")
        /// The audit trail failed verification: an entry or checkpoint does not match.
        public static let auditTampered = Code(rawValue: "audit-tampered")
        /// The implementation does not support this operation (for example object lock).
        public static let unsupported = Code(rawValue: "unsupported")
        /// The caller cancelled the operation.
        public static let cancelled = Code(rawValue: "cancelled")
        /// This machine's clock and a server's differ by more than the server accepts.
        public static let clockSkew = Code(rawValue: "clock-skew")
        /// An internal invariant did not hold; please report it.
        public static let internalError = Code(rawValue: "internal-error")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What failed, on what, and what to do about it. Never contains a secret.
    public var message: String
    /// The operation that failed (`backup.create`, `audit.verify`, …), when known.
    public var operation: String?
    /// The object the operation was about (`velero/backup/daily-1`, a storage key, a file), when known.
    public var target: String?
    /// The error this one wraps, when there is one.
    public var underlying: (any Error)?
    /// For ``Code/unauthorized`` and ``Code/forbidden`` raised by a cluster client or a storage
    /// backend: who refused what, and as whom. ``OperationAudit`` records it with the
    /// operation's `denied` outcome.
    public var denial: AccessDenial?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What kind of failure this is.
    ///   - message: What failed, on what, and what to do. Must not contain a secret.
    ///   - operation: The operation that failed, when known.
    ///   - target: The object the operation was about, when known.
    ///   - underlying: The error this one wraps.
    public init(
        _ code: Code,
        _ message: String,
        operation: String? = nil,
        target: String? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.operation = operation
        self.target = target
        self.underlying = underlying
    }

    /// Returns a copy that carries `denial`.
    public func denied(_ denial: AccessDenial) -> RecoveryError {
        var copy = self
        copy.denial = denial
        return copy
    }

    public var description: String {
        var text = ""
        if let operation { text += "\(operation): " }
        text += message
        if let underlying, !(underlying is RecoveryError) {
            text += " (\(String(describing: underlying)))"
        }
        return text
    }

    /// Whether both errors have the same ``code``; messages, operations and targets are not compared.
    public static func == (lhs: RecoveryError, rhs: RecoveryError) -> Bool { lhs.code == rhs.code }

    /// Hashes the ``code`` only, consistent with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// Returns a copy with the operation and target filled in where they were unknown.
    public func with(operation: String? = nil, target: String? = nil) -> RecoveryError {
        var copy = self
        if copy.operation == nil { copy.operation = operation }
        if copy.target == nil { copy.target = target }
        return copy
    }
}

extension RecoveryError {
    /// Shorthand for an ``Code/invalidInput`` error.
    public static func invalidInput(_ message: String, target: String? = nil) -> RecoveryError {
        RecoveryError(.invalidInput, message, target: target)
    }
}
