extension RecoveryError {
    /// Throws ``Code/invalidInput`` naming the first name, in order, that appears a second time.
    ///
    /// - Parameters:
    ///   - names: The names that must be unique.
    ///   - what: What they name, for the message (`schedule`, `task`, `notifier`).
    ///   - reason: Why they must be unique, appended to the message.
    package static func requireUnique(_ names: some Sequence<String>, what: String, because reason: String? = nil) throws {
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw RecoveryError.invalidInput("\(what) '\(name)' is defined twice" + (reason.map { "; \($0)" } ?? ""))
        }
    }
}
