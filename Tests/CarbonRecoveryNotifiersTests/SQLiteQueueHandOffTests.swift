// The hand-off between a SQLiteQueue's thread and the tasks that await its jobs: a caller watches
// for a short job's result before it suspends, the thread spins for the next job before it
// sleeps, and the thread exits when its queue is gone. Real SQLite files and real threads.
import CarbonRecoverySQLite
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite("SQLiteQueue hands each job's result to its own caller")
struct SQLiteQueueHandOffTests {
    /// Watch limits that take each path: nearly always the watch (no job here lasts 20 ms), never
    /// the watch, and the default sized to recent jobs, at which jobs of 0 to 3 times its limit
    /// come back both during the watch and after it, and some at the moment the caller gives up.
    @Test(
        "callers get their own job's result or error, whether it arrives during the watch or after they suspend",
        .timeLimit(.minutes(2)),
        arguments: [Duration.milliseconds(20), .zero, nil])
    func resultsReachTheirCallers(watchLimit: Duration?) async throws {
        let directory = try TemporaryDirectory()
        let queue = try SQLiteQueue(
            path: directory.file("hand-off.db"), readOnly: false, label: "hand-off", busyTimeout: .seconds(5), watchLimit: watchLimit)
        let longest = SQLiteQueue.callerWatchLimit * 3
        // One caller alone, then five at once (waiting behind each other's jobs).
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<6 {
                if caller == 1 { try await group.next() }
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    for call in 0..<200 {
                        let value = Int64(caller * 1_000 + call)
                        let work = longest * Double.random(in: 0...1, using: &generator)
                        let fails = call % 7 == 3
                        do {
                            let answer = try await queue.run { connection in
                                let clock = ContinuousClock()
                                let until = clock.now.advanced(by: work)
                                while clock.now < until {}
                                let statement = try connection.prepare(fails ? "SELECT x FROM missing_\(value) WHERE x = ?1" : "SELECT ?1")
                                statement.bind(1, value)
                                _ = try statement.step()
                                return statement.int64(0)
                            }
                            #expect(!fails, "a failing job of caller \(caller) returned \(answer)")
                            #expect(answer == value, "caller \(caller), call \(call) got \(answer)")
                        } catch let error as SQLiteError {
                            #expect(fails, "caller \(caller), call \(call): \(error)")
                            #expect(error.message == "no such table: missing_\(value)", "caller \(caller), call \(call): \(error.message)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        await queue.close()
        await #expect(throws: SQLiteError.self) { try await queue.run { _ in 1 } }
    }

    /// Each order the queue's thread and the caller can meet in, one at a time. A lost result
    /// would leave the caller suspended for ever, so each wait is given 10 s and then reported.
    @Test("a result is handed over in every order of delivery, watch and suspension")
    func everyOrder() async throws {
        // Delivered before the watch: the watch takes it.
        let early = SQLiteReply<Int>()
        early.deliver(.success(1))
        #expect(try early.poll(for: .zero)?.get() == 1)
        // Delivered after the watch gave up and before the caller suspends.
        let between = SQLiteReply<Int>()
        #expect(between.poll(for: .zero) == nil)
        between.deliver(.success(2))
        let second = try #require(await Self.outcome(within: .seconds(10)) { try await between.wait() }, "the delivered result was lost")
        #expect(try second.get() == 2)
        // Delivered after the caller suspended, from another thread, with an error.
        let late = SQLiteReply<Int>()
        #expect(late.poll(for: .microseconds(1)) == nil)
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.05)
            late.deliver(.failure(CancellationError()))
        }
        let third = try #require(await Self.outcome(within: .seconds(10)) { try await late.wait() }, "the late error was lost")
        #expect(throws: CancellationError.self) { try third.get() }
    }

    /// What `body` ends with, or `nil` when it has not ended within `limit` (its task is then
    /// left behind).
    private static func outcome<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
        let ended = Mutex<Result<T, any Error>?>(nil)
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            ended.withLock { $0 = result }
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while clock.now < deadline {
            if let result = ended.withLock({ $0 }) { return result }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    @Test("the watch follows the queue's recent jobs, up to its limit, and stops for jobs that block")
    func watchFollowsJobs() {
        #expect(SQLiteQueue.watch(typicalJob: .zero) == .microseconds(20))
        #expect(SQLiteQueue.watch(typicalJob: .microseconds(40)) == .microseconds(100))
        #expect(SQLiteQueue.watch(typicalJob: .microseconds(200)) == SQLiteQueue.callerWatchLimit)
        #expect(SQLiteQueue.watch(typicalJob: .milliseconds(3)) == .zero)
    }

    @Test("a queue's thread exits once the queue is released, after the jobs submitted before", .timeLimit(.minutes(1)))
    func threadsExit() async throws {
        let directory = try TemporaryDirectory()
        // Linux keeps 15 bytes of a thread's name: "sqlite exitprob".
        func threads() -> Int { Self.threadNames().filter { $0 == "sqlite exitprob" }.count }
        let before = threads()
        let ran = Flag()
        do {
            var queues: [SQLiteQueue] = []
            for index in 0..<5 {
                let queue = try SQLiteQueue(path: directory.file("exit-\(index).db"), readOnly: false, label: "exitprobe", busyTimeout: .seconds(5))
                _ = try await queue.run { connection in try connection.execute("CREATE TABLE t (x)") }
                queues.append(queue)
            }
            #expect(threads() == before + 5, "\(Self.threadNames())")
            queues[0].submit { connection in
                Thread.sleep(forTimeInterval: 0.2)
                ran.set(!connection.isClosed)
            }
        }
        for _ in 0..<200 where threads() > before { try await Task.sleep(for: .milliseconds(10)) }
        #expect(threads() == before, "\(threads() - before) queue threads still running")
        #expect(ran.value, "the job submitted before the release did not run")
    }

    private static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}

/// A flag a queue's job sets for the test to read.
private final class Flag: Sendable {
    private let state = Mutex(false)
    func set(_ value: Bool) { state.withLock { $0 = value } }
    var value: Bool { state.withLock { $0 } }
}
