import Synchronization

/// One job's result on its way from a ``SQLiteQueue``'s thread back to the task that awaits it.
///
/// The caller first watches for the result for a short, bounded time (``poll(for:)``) and only
/// then suspends (``wait()``). A short job (a point read, a proof: a few to some tens of
/// microseconds) is then back before the caller has suspended, and the caller does not pay the
/// 10–30 µs it takes on these VMs to wake a thread of Swift's pool to resume it. The watch holds
/// a pool thread for at most its limit (``SQLiteQueue/callerWatchLimit``, 250 µs), like that
/// much computation would; a job that blocks (a durable commit's `fsync`, a wait for another
/// process's lock) outlasts it, and the caller suspends as before.
package final class SQLiteReply<T: Sendable>: Sendable {
    private enum State {
        case pending
        case delivered(Result<T, any Error>)
        case awaited(CheckedContinuation<T, any Error>)
        case taken
    }

    private let state = Mutex<State>(.pending)
    /// Set once the result is in `state`, for the watch to read without the lock.
    private let delivered = Atomic<Bool>(false)

    package init() {}

    /// On the queue's thread: hands `result` to the caller, resuming it if it has suspended.
    package func deliver(_ result: Result<T, any Error>) {
        let waiting = state.withLock { state -> CheckedContinuation<T, any Error>? in
            if case .awaited(let continuation) = state {
                state = .taken
                return continuation
            }
            state = .delivered(result)
            return nil
        }
        delivered.store(true, ordering: .releasing)
        waiting?.resume(with: result)
    }

    /// Watches for the result for up to `limit`; `nil` when it has not arrived by then.
    package func poll(for limit: Duration) -> Result<T, any Error>? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while !delivered.load(ordering: .acquiring) {
            if clock.now >= deadline { return nil }
        }
        return state.withLock { state in
            guard case .delivered(let result) = state else { return nil }
            state = .taken
            return result
        }
    }

    /// Suspends until the result arrives (at once if it already has).
    package func wait() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { state -> Result<T, any Error>? in
                if case .delivered(let result) = state {
                    state = .taken
                    return result
                }
                state = .awaited(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
