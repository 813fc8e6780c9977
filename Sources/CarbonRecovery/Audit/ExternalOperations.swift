import Foundation

/// Brings what others did around CarbonRecovery into the audit trail: each result in a
/// Kubernetes API server's audit log (``KubernetesAuditEvent``) becomes an *external operation*
/// — an attempt and an outcome, operation `external.<verb>` (`external.create`,
/// `external.get`), target `namespace/resource.group/name` — so that a `Restore` created with
/// plain kubectl, or a read of the storage credentials secret, shows in the trail with who did
/// it, from where and what the server answered.
///
/// - The attempt's parameters hold `external`: the Kubernetes `user` and `groups`, `sourceIPs`,
///   `userAgent`, `requestURI`, `auditID`, `stage`, and the server's `requestReceived` and
///   `stageTimestamp` times (the trail's own `time` is when it was ingested).
/// - The outcome is `success` for a 2xx answer, `denied` for 401/403 (with the refused call's
///   ``AccessDenial``, counted and told to the notifiers like a refusal of our own), `failure`
///   otherwise; the duration is the server's.
/// - The correlation id is `kube-audit:<auditID>`: ingesting the same log again, or a rotated
///   log that overlaps, appends nothing twice.
/// - The trail's `actor` is the process that ingested (who vouches for the copy); the person who
///   did it is `external.user`.
///
/// ```swift
/// let events = try ExternalOperations.events(inLog: Array(try Data(contentsOf: logURL)))
/// let report = try await ExternalOperations(audit: trail).ingest(events)
/// print("\(report.ingested) new, \(report.alreadyRecorded) already in the trail")
/// ```
public struct ExternalOperations: Sendable {
    /// What an ingestion did.
    public struct Report: Sendable, Hashable {
        /// Events in the log.
        public var events: Int
        /// Events appended to the trail now (two entries each).
        public var ingested: Int
        /// Events whose correlation id the trail already had.
        public var alreadyRecorded: Int
        /// Events that are not a result (`ResponseStarted` of a long-running request).
        public var skipped: Int
        /// Ingested events the server refused (401/403).
        public var denied: Int

        /// Creates a report.
        public init(events: Int, ingested: Int, alreadyRecorded: Int, skipped: Int, denied: Int) {
            self.events = events
            self.ingested = ingested
            self.alreadyRecorded = alreadyRecorded
            self.skipped = skipped
            self.denied = denied
        }
    }

    let audit: any AuditTrail
    let actor: AuditActor
    let notifiers: [any Notifier]
    let clock: any WallClock

    /// Creates an ingester appending to `audit` as `actor` (default: this process's OS user).
    public init(audit: any AuditTrail, actor: AuditActor = .current(), notifiers: [any Notifier] = [], clock: any WallClock = SystemWallClock()) {
        self.audit = audit
        self.actor = actor
        self.notifiers = notifiers
        self.clock = clock
    }

    /// The events of a whole log, one JSON object per line (blank lines ignored).
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming the first line that is not an event —
    ///   an ingester that skipped what it cannot read would hide exactly what a reviewer looks for.
    public static func events(inLog bytes: [UInt8]) throws -> [KubernetesAuditEvent] {
        var events: [KubernetesAuditEvent] = []
        var number = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            do {
                events.append(try KubernetesAuditEvent(line: line))
            } catch let error as RecoveryError {
                throw RecoveryError.invalidInput("line \(number) of the API server's audit log is not an audit event: \(error.message); nothing was ingested")
            }
        }
        return events
    }

    /// Appends every result event the trail does not have yet, in log order, up to 500 events
    /// per transaction.
    ///
    /// - Throws: what the trail throws (``RecoveryError/Code/auditFailure``); batches appended
    ///   before it stay, and a second run appends the rest.
    public func ingest(_ events: [KubernetesAuditEvent]) async throws -> Report {
        var report = Report(events: events.count, ingested: 0, alreadyRecorded: 0, skipped: 0, denied: 0)
        var seen: Set<String> = []
        var batch: [AuditRecord] = []
        var refusals: [(AccessDenial, KubernetesAuditEvent, String)] = []
        func flush() async throws {
            guard !batch.isEmpty else { return }
            _ = try await audit.record(contentsOf: batch)
            report.ingested += batch.count / 2
            batch.removeAll(keepingCapacity: true)
            for (denial, event, correlationID) in refusals {
                report.denied += 1
                RecoveryMetrics.recordAccessDenied(source: denial.source.rawValue, operation: "external.\(event.verb)")
                await notify(denial, event: event, correlationID: correlationID)
            }
            refusals.removeAll()
        }
        for event in events {
            guard event.isResult else {
                report.skipped += 1
                continue
            }
            let correlationID = "kube-audit:\(event.auditID)"
            guard seen.insert(correlationID).inserted,
                  try await audit.entries(matching: AuditQuery(correlationID: correlationID, limit: 1)).entries.isEmpty else {
                report.alreadyRecorded += 1
                continue
            }
            let (records, denial) = Self.records(for: event, actor: actor, correlationID: correlationID)
            batch += records
            if let denial { refusals.append((denial, event, correlationID)) }
            if batch.count >= 1_000 { try await flush() }
        }
        try await flush()
        return report
    }

    /// The attempt and outcome for one event, and its denial when the server refused it.
    static func records(for event: KubernetesAuditEvent, actor: AuditActor, correlationID: String) -> ([AuditRecord], AccessDenial?) {
        let operation = "external.\(event.verb)"
        var external: [String: JSONValue] = [
            "user": .string(event.user), "groups": .array(event.groups.map { .string($0) }), "sourceIPs": .array(event.sourceIPs.map { .string($0) }),
            "requestURI": .string(event.requestURI), "auditID": .string(event.auditID), "stage": .string(event.stage),
        ]
        if let userAgent = event.userAgent { external["userAgent"] = .string(userAgent) }
        if let received = event.requestReceived { external["requestReceived"] = .string(received) }
        if let stamp = event.stageTimestamp { external["stageTimestamp"] = .string(stamp) }
        let attempt = AuditRecord.attempt(operation: operation, target: event.target, parameters: ["external": .object(external)], actor: actor, correlationID: correlationID)
        var duration: Int64?
        if let received = event.requestReceived.flatMap(RFC3339.parse), let ended = event.stageTimestamp.flatMap(RFC3339.parse), ended >= received {
            duration = Int64((ended.timeIntervalSince(received) * 1000).rounded())
        }
        let status = event.status
        let outcome: AuditRecord
        var denial: AccessDenial?
        switch status {
        case .some(200..<300):
            outcome = .outcome(.success, operation: operation, target: event.target, parameters: ["status": .integer(Int64(status ?? 0))],
                               durationMilliseconds: duration, actor: actor, correlationID: correlationID)
        case .some(401), .some(403):
            let anonymous = event.user.isEmpty || event.user == "system:anonymous"
            let refused = "\(event.verb) \(event.resource ?? event.requestURI)" + (event.namespace.map { " in namespace \($0)" } ?? "")
            let refusal = AccessDenial(source: .kubernetes, status: status ?? 0, isUnauthenticated: status == 401, identity: anonymous ? nil : event.user, refused: refused)
            denial = refusal
            outcome = .outcome(.denied, operation: operation, target: event.target,
                               parameters: ["denied": refusal.json(fallbackIdentity: nil), "status": .integer(Int64(status ?? 0))],
                               error: "HTTP \(status ?? 0)\(event.reason.map { " \($0)" } ?? "")", durationMilliseconds: duration, actor: actor, correlationID: correlationID)
        default:
            let text = status.map { "HTTP \($0)\(event.reason.map { " \($0)" } ?? "")" } ?? "the API server recorded no answer (stage \(event.stage))"
            outcome = .outcome(.failure, operation: operation, target: event.target, parameters: status.map { ["status": .integer(Int64($0))] } ?? [:],
                               error: text, durationMilliseconds: duration, actor: actor, correlationID: correlationID)
        }
        return ([attempt, outcome], denial)
    }

    /// Tells every notifier about a refusal someone else met; a notifier that fails is ignored
    /// (the trail holds the refusal either way).
    private func notify(_ denial: AccessDenial, event: KubernetesAuditEvent, correlationID: String) async {
        guard !notifiers.isEmpty else { return }
        let identity = denial.identity ?? "an unauthenticated client"
        let notice = RecoveryEvent(
            kind: .accessDenied, severity: .warning, target: event.target,
            summary: "The API server refused \(identity): \(denial.refused) (HTTP \(denial.status), seen in its audit log)",
            details: [
                "source": denial.source.rawValue, "status": String(denial.status), "identity": identity, "refused": denial.refused,
                "operation": "external.\(event.verb)", "unauthenticated": String(denial.isUnauthenticated),
                "sourceIPs": event.sourceIPs.joined(separator: ","),
            ],
            occurredAt: event.stageTimestamp.flatMap(RFC3339.parse) ?? clock.now(), correlationID: correlationID)
        for notifier in notifiers { try? await notifier.deliver(notice) }
    }
}
