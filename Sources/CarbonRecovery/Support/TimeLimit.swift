/// Thrown by ``withTimeLimit(_:_:)`` when the time runs out before the operation finishes.
public struct TimeLimitExceeded: Error, Sendable, CustomStringConvertible {
    /// The limit that passed.
    public var limit: Duration
    public var description: String { "did not finish within \(limit)" }
}

/// Runs `operation`, cancelling it when `limit` passes first.
///
/// The SDK's clients use it as a hard per-call deadline on top of whatever their transport
/// offers: cancellation stops a kubectl process or an HTTP request, and the caller gets
/// ``TimeLimitExceeded`` instead of waiting on a server that never answers.
///
/// - Throws: ``TimeLimitExceeded``, or what `operation` throws.
public func withTimeLimit<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimeLimitExceeded(limit: limit) }
        return value
    }
}
