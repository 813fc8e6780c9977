import Synchronization

/// Thrown by ``withTimeLimit(_:_:)`` when the time runs out before the operation finishes.
package struct TimeLimitExceeded: Error, Sendable, CustomStringConvertible {
    /// The limit that passed.
    package var limit: Duration
    package var description: String { "did not finish within \(limit)" }
}

/// Runs `operation`, giving up when `limit` passes first.
///
/// The SDK's clients use it as a hard per-call deadline on top of whatever their transport
/// offers. The limit is hard: when it passes, the caller gets ``TimeLimitExceeded`` at once and
/// the operation is cancelled — it is not awaited, because an operation that does not react to
/// cancellation quickly (a connection attempt inside an HTTP client, say) would otherwise hold
/// the caller past the limit. Cancelling the caller cancels the operation the same way.
///
/// - Throws: ``TimeLimitExceeded``, `CancellationError`, or what `operation` throws.
package func withTimeLimit<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let work = Task { try await operation() }
    let pending = PendingContinuation<T>()
    @Sendable func finish(_ result: Result<T, any Error>) { pending.resume(with: result) }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            pending.set(continuation)
            let timer = Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled else { return }
                // The caller's answer first, then the cancellation: an operation that reacts to
                // cancellation at once would otherwise end with a CancellationError that could
                // reach the caller before the time limit does (a timeout reported as "cancelled").
                finish(.failure(TimeLimitExceeded(limit: limit)))
                work.cancel()
            }
            Task {
                let result = await work.result
                timer.cancel()
                finish(result)
            }
        }
    } onCancel: {
        work.cancel()
    }
}

/// Holds the continuation of ``withTimeLimit(_:_:)``; whoever takes it out first (the operation
/// or the timer) resumes it, the other finds it gone.
private final class PendingContinuation<T: Sendable>: Sendable {
    private let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ continuation: CheckedContinuation<T, any Error>) { slot.withLock { $0 = continuation } }

    func resume(with result: Result<T, any Error>) {
        let continuation = slot.withLock { value -> CheckedContinuation<T, any Error>? in
            defer { value = nil }
            return value
        }
        continuation?.resume(with: result)
    }
}

extension Duration {
    /// The duration in whole milliseconds (truncated), as the audit trail and the outbox store it.
    package var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
