import CarbonRecovery
import Foundation
import Logging

/// A notifier and how the outbox delivers to it.
public struct NotificationRoute: Sendable {
    /// The notifier.
    public var notifier: any Notifier
    /// Its delivery policy.
    public var delivery: DeliveryPolicy

    /// Creates a route.
    public init(_ notifier: any Notifier, delivery: DeliveryPolicy = DeliveryPolicy()) {
        self.notifier = notifier
        self.delivery = delivery
    }
}
