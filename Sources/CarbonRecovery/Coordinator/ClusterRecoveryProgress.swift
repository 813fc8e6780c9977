/// What a whole-cluster recovery is doing, for a progress display.
public enum ClusterRecoveryProgress: Sendable, Hashable {
    /// A step without a restore: `choosing recovery points`, `reading backup daily-1`, `verifying`, ….
    case step(String)
    /// A restore of the named phase (`cluster resources`, a namespace class) changed status.
    case restore(phase: String, status: RestoreStatus)
}
