import CarbonRecovery
import Foundation

extension NotificationOutbox {
    /// Where a delivery stands.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Waiting for its (next) try.
        case pending
        /// The notifier accepted it.
        case delivered
        /// Given up on: a permanent failure or the last attempt failed. ``NotificationOutbox/retry(ids:)`` replays it.
        case dead
        /// Not sent: an identical event went to the same notifier within its dedupe window.
        case suppressed
    }

    /// One delivery: an event for one notifier.
    public struct Entry: Sendable, Hashable {
        /// The row id, for ``NotificationOutbox/retry(ids:)``.
        public var id: Int64
        /// The notifier's name.
        public var notifier: String
        /// The event.
        public var event: RecoveryEvent
        /// Where it stands.
        public var state: State
        /// Tries so far.
        public var attempts: Int
        /// When it was enqueued.
        public var createdAt: Date
        /// When it is tried next (pending only).
        public var nextAttemptAt: Date
        /// When the notifier accepted it.
        public var deliveredAt: Date?
        /// The last failure, without URLs.
        public var lastError: String?
    }

    /// What ``enqueue(_:)`` did for one route.
    public enum EnqueueResult: Sendable, Hashable {
        /// Stored for delivery.
        case queued
        /// Already in the outbox under the same idempotency key: stored once.
        case duplicate
        /// An identical event was sent within the dedupe window: stored as suppressed.
        case suppressed
    }

    /// What one round of deliveries did.
    public struct Round: Sendable, Hashable {
        /// Deliveries tried.
        public var tried = 0
        /// Accepted by their notifier.
        public var delivered = 0
        /// Failed and waiting for a retry.
        public var retrying = 0
        /// Failed for good (dead-lettered).
        public var dead = 0

        /// Creates a round's counts.
        public init(tried: Int = 0, delivered: Int = 0, retrying: Int = 0, dead: Int = 0) {
            self.tried = tried
            self.delivered = delivered
            self.retrying = retrying
            self.dead = dead
        }
    }

    /// What ``flush(timeout:)`` achieved.
    public struct FlushResult: Sendable, Hashable {
        /// Accepted by their notifier during the flush.
        public var delivered = 0
        /// Dead-lettered during the flush.
        public var dead = 0
        /// Still pending when it returned (their retry was not due before the timeout).
        public var pending = 0

        /// Creates a flush's counts.
        public init(delivered: Int = 0, dead: Int = 0, pending: Int = 0) {
            self.delivered = delivered
            self.dead = dead
            self.pending = pending
        }
    }

    /// Tunables.
    public struct Configuration: Sendable {
        /// How long a delivery is leased to one deliverer; an unfinished delivery is retried after it.
        public var lease: Duration = .seconds(30)
        /// Deliveries made at once.
        public var concurrency: Int = 16
        /// How often ``run()`` looks for work enqueued by other processes.
        public var pollInterval: Duration = .seconds(1)
        /// `true`: every enqueue is flushed to disk before it returns (`synchronous=FULL`);
        /// `false`: it survives a crash of the process but not of the machine (`NORMAL`).
        public var syncEveryEnqueue = true

        /// The defaults.
        public init() {}
    }
}
