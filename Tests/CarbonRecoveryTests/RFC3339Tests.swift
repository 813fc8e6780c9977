import CarbonRecovery
import Foundation
import Testing

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("the hand-written ISO 8601 parser agrees with Foundation's", arguments: [
        "2026-11-25T06:31:59Z", "2026-11-25T06:31:59.123Z", "2000-02-29T23:59:59.999Z", "1970-01-01T00:00:00Z", "2038-01-19T03:14:08Z",
        "2026-03-01T00:00:00+02:00", "2026-12-31T23:59:59-05:30",
    ])
    func agrees(text: String) throws {
        let foundation = ISO8601DateFormatter()
        foundation.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        let expected = try #require(foundation.date(from: text))
        let parsed = try #require(RFC3339.parse(text))
        #expect(abs(parsed.timeIntervalSince(expected)) < 0.0005)
    }

    @Test("malformed timestamps are refused", arguments: ["", "2026-11-25", "2026-13-01T00:00:00Z", "2026-11-25T06:31:59", "2026-11-25T06:31:59Zjunk", "abcd-ef-ghTij:kl:mnZ"])
    func refuses(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }
}

@Suite("withTimeLimit")
struct TimeLimitTests {
    @Test("returns the operation's value, or its error, when it is in time")
    func inTime() async throws {
        #expect(try await withTimeLimit(.seconds(5)) { 42 } == 42)
        await #expect(throws: RecoveryError.self) { try await withTimeLimit(.seconds(5)) { throw RecoveryError.invalidInput("x") } }
    }

    @Test("gives up at the limit even when the operation ignores cancellation")
    func hardLimit() async throws {
        let released = Flag()
        let finished = Flag()
        await #expect(throws: TimeLimitExceeded.self) {
            try await withTimeLimit(.milliseconds(200)) {
                // Ignores cancellation on purpose, like a stuck connection attempt, and runs until released.
                while !released.value { try? await Task.sleep(for: .milliseconds(20)) }
                finished.value = true
                return 1
            }
        }
        // The caller got control back while the operation was still running.
        #expect(!finished.value)
        released.value = true
    }

    @Test("an operation that ends at once when cancelled still reports the limit, never a cancellation")
    func limitNotCancellation() async throws {
        // The timer cancels the operation when the limit passes; the operation's own CancellationError
        // must not overtake the limit's answer. A race, so it is tried many times over.
        // Many at once, so that the threads the timers and the operations run on are busy, as on a loaded machine.
        let answers = await withTaskGroup(of: String.self) { group in
            for _ in 0..<500 {
                group.addTask {
                    do {
                        _ = try await withTimeLimit(.milliseconds(1)) { try await Task.sleep(for: .seconds(30)); return 1 }
                        return "value"
                    } catch { return "\(type(of: error))" }
                }
            }
            var answers: [String: Int] = [:]
            for await answer in group { answers[answer, default: 0] += 1 }
            return answers
        }
        #expect(answers == ["TimeLimitExceeded": 500])
    }

    @Test("cancelling the caller cancels the operation")
    func callerCancelled() async throws {
        let task = Task { try await withTimeLimit(.seconds(30)) { try await Task.sleep(for: .seconds(30)); return 1 } }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

/// A Boolean shared between tasks.
final class Flag: @unchecked Sendable {
    // @unchecked: `stored` is only touched under `lock`.
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
