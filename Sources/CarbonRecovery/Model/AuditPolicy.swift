/// How the audit trail's checkpoints are signed and where they are kept: the policy's `audit`
/// section.
///
/// ```yaml
/// audit:
///   signingKey: /etc/carbon-recovery/audit-signing.key
///   checkpointInterval: 10000
///   checkpointExport: /mnt/worm/carbon-recovery/checkpoints
///   checkpointEvery: 1h
/// ```
///
/// A checkpoint only proves something when it is kept where the trail's writers cannot change
/// it, and signed with a key kept away from the trail's folder (`docs/audit-trail.md`).
public struct AuditPolicy: Sendable, Hashable {
    /// The private key file that signs checkpoints (an absolute path); `nil` for the default
    /// location (`--signing-key` and `$CARBON_RECOVERY_AUDIT_SIGNING_KEY` come first).
    public var signingKey: String?
    /// A checkpoint is signed at the first commit that reaches each multiple of this many entries.
    public var checkpointInterval: Int64
    /// The folder `carbon-recovery run` copies each new signed checkpoint to (an absolute path
    /// outside the trail's folder); `nil` for none.
    public var checkpointExport: String?
    /// How often `carbon-recovery run` signs a checkpoint of the trail when entries were added
    /// since the last one (besides every ``checkpointInterval`` entries); `nil` for never.
    public var checkpointEvery: Duration?

    /// The default interval between checkpoints, in entries.
    public static let defaultCheckpointInterval: Int64 = 10_000

    /// The default time between the checkpoints `run` signs: an hour.
    public static let defaultCheckpointEvery: Duration = .seconds(3600)

    /// Creates the settings.
    public init(
        signingKey: String? = nil, checkpointInterval: Int64 = AuditPolicy.defaultCheckpointInterval, checkpointExport: String? = nil,
        checkpointEvery: Duration? = AuditPolicy.defaultCheckpointEvery
    ) {
        self.signingKey = signingKey
        self.checkpointInterval = checkpointInterval
        self.checkpointExport = checkpointExport
        self.checkpointEvery = checkpointEvery
    }
}
