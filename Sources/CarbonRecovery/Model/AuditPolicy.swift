/// How the audit trail's checkpoints are signed and where they are kept: the policy's `audit`
/// section.
///
/// ```yaml
/// audit:
///   signingKey: /etc/carbon-recovery/audit-signing.key
///   checkpointInterval: 10000
///   checkpointExport: /mnt/worm/carbon-recovery/checkpoints
///   checkpointEvery: 1h
///   witnesses:
///     - url: http://127.0.0.1:7380/add-checkpoint
///       publicKey: witness-1+5c3b1f0e+BK2…   # the witness's cosigner key text (type 0x04)
///   anchors:
///     endpoint: https://s3.example.com
///     bucket: audit-anchors          # object lock enabled
///     prefix: carbon-recovery
///     retention: 9600h
///     credentials: {environment: {accessKeyID: ANCHOR_ACCESS_KEY, secretAccessKey: ANCHOR_SECRET_KEY}}
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
    /// The witnesses `carbon-recovery run` and `audit cosign` ask to cosign each new checkpoint
    /// (C2SP tlog-witness); empty for none.
    public var witnesses: [AuditWitnessPolicy]
    /// The object-lock bucket the trail's checkpoints are anchored in; `nil` for none.
    public var anchors: AuditAnchorPolicy?

    /// The default interval between checkpoints, in entries.
    public static let defaultCheckpointInterval: Int64 = 10_000

    /// The default time between the checkpoints `run` signs: an hour.
    public static let defaultCheckpointEvery: Duration = .seconds(3600)

    /// Creates the settings.
    public init(
        signingKey: String? = nil, checkpointInterval: Int64 = AuditPolicy.defaultCheckpointInterval, checkpointExport: String? = nil,
        checkpointEvery: Duration? = AuditPolicy.defaultCheckpointEvery, witnesses: [AuditWitnessPolicy] = [],
        anchors: AuditAnchorPolicy? = nil
    ) {
        self.anchors = anchors
        self.witnesses = witnesses
        self.signingKey = signingKey
        self.checkpointInterval = checkpointInterval
        self.checkpointExport = checkpointExport
        self.checkpointEvery = checkpointEvery
    }
}

/// A witness the policy names: where its `add-checkpoint` endpoint is and the public key its
/// cosignatures verify with.
public struct AuditWitnessPolicy: Sendable, Hashable {
    /// The `add-checkpoint` URL (`http://` or `https://`).
    public var url: String
    /// The witness's cosigner key text, `<name>+<key id>+<base64(0x04 ‖ key)>`.
    public var publicKey: String

    /// Creates the entry.
    public init(url: String, publicKey: String) {
        self.url = url
        self.publicKey = publicKey
    }
}

/// Where the audit trail's checkpoints are anchored: an S3 bucket with object lock, each anchor
/// locked in compliance mode for ``retention`` (docs/audit-trail.md "Anchors").
public struct AuditAnchorPolicy: Sendable, Hashable {
    /// The S3 endpoint (`http://` or `https://`).
    public var endpoint: String
    /// The bucket; object lock must be enabled on it.
    public var bucket: String
    /// The key prefix the anchors go under.
    public var prefix: String
    /// The bucket's region.
    public var region: String
    /// How the keys are found: environment variables or an AWS-style file (never the keys).
    public var credentials: CredentialsReference
    /// How long each anchor is locked.
    public var retention: Duration

    /// The default retention: 400 days, past a yearly audit.
    public static let defaultRetention: Duration = .seconds(400 * 86_400)

    /// Creates the settings.
    public init(
        endpoint: String, bucket: String, prefix: String = "carbon-recovery/audit-anchors", region: String = "us-east-1",
        credentials: CredentialsReference, retention: Duration = AuditAnchorPolicy.defaultRetention
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.credentials = credentials
        self.retention = retention
    }
}
