import CarbonRecovery
import Synchronization

/// The last full API discovery of one ``KubectlClusterClient`` (and its copies), with the
/// answers it was made from.
///
/// A full discovery reads every served group version — one kubectl process each, forty on
/// a small cluster. What it finds changes only when the server's version, its group versions
/// (`/apis`) or its custom resource definitions change, so the cache is keyed on those three
/// (three calls) and kept for at most ``KubectlClusterClient/Configuration/discoveryCacheLifetime``
/// (for aggregated API servers, whose resources can change behind an unchanged group
/// version). Velero itself refreshes discovery every five minutes; this is fresher.
final class DiscoveryCache: Sendable {
    struct Entry: Sendable {
        var key: [UInt8]
        var discovery: ClusterDiscovery
        var stored: ContinuousClock.Instant
    }

    private let entry = Mutex<Entry?>(nil)

    /// The discovery made under `key`, unless it is older than `lifetime`.
    func discovery(for key: [UInt8], lifetime: Duration) -> ClusterDiscovery? {
        entry.withLock { entry in
            guard let current = entry, current.key == key, ContinuousClock.now - current.stored < lifetime else { return nil }
            return current.discovery
        }
    }

    func store(_ discovery: ClusterDiscovery, for key: [UInt8]) {
        entry.withLock { $0 = Entry(key: key, discovery: discovery, stored: .now) }
    }
}
