import CarbonRecovery
import Foundation

/// A conformance check that did not hold. Suites throw it instead of importing a test framework,
/// so any test runner (Swift Testing, XCTest, a script) can run them.
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    /// The suite, e.g. `StorageBackend`.
    public var suite: String
    /// The check that failed, e.g. `list-once`.
    public var check: String
    /// What was seen instead.
    public var message: String

    /// Creates a failure.
    public init(suite: String, check: String, message: String) {
        self.suite = suite
        self.check = check
        self.message = message
    }

    public var description: String { "\(suite) › \(check): \(message)" }
}

struct Checker {
    let suite: String

    func expect(_ condition: Bool, _ check: String, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(suite: suite, check: check, message: message()) }
    }

    func expectError(_ check: String, code: RecoveryError.Code, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as RecoveryError {
            try expect(error.code == code, check, "threw \(error.code) (\(error.message)), expected \(code)")
            return
        } catch {
            throw ConformanceFailure(suite: suite, check: check, message: "threw \(error), expected a RecoveryError \(code)")
        }
        throw ConformanceFailure(suite: suite, check: check, message: "did not throw; expected \(code)")
    }
}

/// The behaviour every ``StorageBackend`` must show; run against the in-memory double and the
/// real backends alike.
///
/// ```swift
/// @Test func conforms() async throws {
///     try await StorageBackendConformance.run(InMemoryStorageBackend(pageSize: 7), prefix: "conformance/")
/// }
/// ```
public enum StorageBackendConformance {
    /// Runs every check under `prefix`, which must be empty; leaves it empty.
    ///
    /// - Throws: ``ConformanceFailure`` naming the first check that failed, or the backend's error.
    public static func run(_ backend: some StorageBackend, prefix: String) async throws {
        let check = Checker(suite: "StorageBackend")
        try await backend.checkAccess()
        let keys = (0..<25).map { String(format: "\(prefix)item-%03d", $0) } + ["\(prefix)space key", "\(prefix)plus+key", "\(prefix)dir/nested", "\(prefix)ünïcødé"]
        for (index, key) in keys.enumerated() {
            try await backend.put(key, data: Array(repeating: UInt8(index % 256), count: index + 1))
        }
        var listed: [String] = []
        var bytes: Int64 = 0
        for try await object in backend.list(prefix: prefix) {
            listed.append(object.key)
            bytes += object.size
        }
        try check.expect(listed == keys.sorted(), "list", "listed \(listed.count) keys (\(listed.prefix(3))…), expected \(keys.count) in key order")
        try check.expect(Set(listed).count == listed.count, "list-once", "a key was listed twice")
        let usage = try await backend.usage(prefix: prefix)
        try check.expect(usage.objects == keys.count && usage.bytes == bytes, "usage", "usage \(usage.objects)/\(usage.bytes), expected \(keys.count)/\(bytes)")
        let head = try await backend.head(keys[4])
        try check.expect(head?.size == 5, "head", "head size \(String(describing: head?.size)), expected 5")
        let data = try await backend.get(keys[2])
        try check.expect(data == [2, 2, 2], "get", "get returned \(String(describing: data)), expected [2, 2, 2]")
        try check.expect(try await backend.get("\(prefix)missing") == nil, "get-missing", "a missing key returned data")
        try check.expect(try await backend.head("\(prefix)missing") == nil, "head-missing", "a missing key has metadata")
        try await backend.put(keys[2], data: [9])
        try check.expect(try await backend.get(keys[2]) == [9], "overwrite", "put did not replace the object")
        try await backend.delete("\(prefix)missing")
        for key in keys { try await backend.delete(key) }
        var remaining = 0
        for try await _ in backend.list(prefix: prefix) { remaining += 1 }
        try check.expect(remaining == 0, "delete", "\(remaining) objects remain after deleting all")
    }
}

/// The behaviour every ``ClusterClient`` must show. Needs a namespace that exists and may be
/// written to; creates and deletes ConfigMaps in it.
public enum ClusterClientConformance {
    /// Runs every check in `namespace`.
    ///
    /// - Throws: ``ConformanceFailure`` naming the first check that failed, or the client's error.
    public static func run(_ client: some ClusterClient, namespace: String) async throws {
        let check = Checker(suite: "ClusterClient")
        let suffix = String(UUID().uuidString.prefix(8)).lowercased()
        let name = "conformance-\(suffix)"
        let reference = try ObjectReference(kind: .configMap, namespace: namespace, name: name)
        let watch = client.watch(.configMap, namespace: namespace, labelSelector: try LabelSelector(parsing: "conformance=\(suffix)"))
        var iterator = watch.makeAsyncIterator()

        let object = KubernetesObject(
            kind: .configMap, namespace: namespace, name: name, labels: ["conformance": suffix, "app": "carbon"],
            body: ["data": ["key": "value with spaces; $(rm -rf /)"]])
        let applied = try await client.apply(object, fieldManager: "carbon-recovery-conformance")
        try check.expect(applied.json[path: ["data", "key"]] == "value with spaces; $(rm -rf /)", "apply", "the applied object does not carry its data")
        let again = try await client.apply(object, fieldManager: "carbon-recovery-conformance")
        try check.expect(again.name == name, "apply-idempotent", "a second apply did not return the object")

        var single = client.watch(reference).makeAsyncIterator()
        let only = try await next(&single, check)
        try check.expect(only.kind == .added && only.object.name == name, "watch-one", "watching one object began with \(only.kind) \(String(describing: only.object.name))")

        let fetched = try await client.get(reference)
        try check.expect(fetched?.json[path: ["data", "key"]] == "value with spaces; $(rm -rf /)", "get", "get did not return what was applied")

        try await check.expectError("create-existing", code: .conflict) { _ = try await client.create(object, fieldManager: "carbon-recovery-conformance") }
        let createdName = "\(name)-created"
        let created = try await client.create(
            KubernetesObject(kind: .configMap, namespace: namespace, name: createdName, body: ["data": ["k": "1"]]), fieldManager: "carbon-recovery-conformance")
        try check.expect(created.name == createdName && created.resourceVersion != nil, "create", "create did not return the stored object")
        let createdReference = try ObjectReference(kind: .configMap, namespace: namespace, name: createdName)
        var after = client.watch(createdReference, after: created).makeAsyncIterator()
        // A created object's fields belong to the creator through an update, not an apply: changing
        // them with server-side apply takes forceApply (as it would for any other manager's fields).
        _ = try await client.forceApply(
            KubernetesObject(kind: .configMap, namespace: namespace, name: createdName, body: ["data": ["k": "2"]]), fieldManager: "carbon-recovery-conformance")
        let change = try await next(&after, check)
        try check.expect(
            change.kind == .modified && change.object.json[path: ["data", "k"]] == "2", "watch-after",
            "watching after a known state began with \(change.kind) k=\(String(describing: change.object.json[path: ["data", "k"]]))")
        try await client.delete(createdReference, ignoreNotFound: false)
        let missing = try ObjectReference(kind: .configMap, namespace: namespace, name: "\(name)-missing")
        try check.expect(try await client.get(missing) == nil, "get-missing", "get of a missing object was not nil")

        let selected = try await client.list(.configMap, namespace: namespace, labelSelector: try LabelSelector(parsing: "conformance=\(suffix),app in (carbon)"))
        try check.expect(selected.map(\.name) == [name], "list-selector", "list with a selector returned \(selected.map(\.name))")
        let none = try await client.list(.configMap, namespace: namespace, labelSelector: try LabelSelector(parsing: "conformance=\(suffix),app!=carbon"))
        try check.expect(none.isEmpty, "list-selector-negative", "list returned objects that do not match")
        let several = try await client.list([.configMap, .secret], namespace: namespace, labelSelector: try LabelSelector(parsing: "conformance=\(suffix),app in (carbon)"))
        try check.expect(
            several[.configMap]?.map(\.name) == [name] && several[.secret]?.isEmpty == true, "list-several-kinds",
            "a list of configmaps and secrets returned \(several.mapValues { $0.map(\.name) })")

        let first = try await next(&iterator, check)
        try check.expect(first.object.name == name, "watch", "the first watch event is about \(String(describing: first.object.name))")

        try await client.delete(reference, ignoreNotFound: false)
        try check.expect(try await client.get(reference) == nil, "delete", "the object still exists after delete")
        try await client.delete(reference, ignoreNotFound: true)
        try await check.expectError("delete-missing", code: .notFound) { try await client.delete(reference, ignoreNotFound: false) }
        var sawDelete = false
        for _ in 0..<5 where !sawDelete {
            sawDelete = try await next(&iterator, check).kind == .deleted
        }
        try check.expect(sawDelete, "watch-delete", "the watch did not report the deletion")

        let identity = try await client.identity()
        try check.expect(identity.user != nil || identity.context != nil, "identity", "the identity names neither a user nor a context")
    }

    private static func next(_ iterator: inout AsyncThrowingStream<WatchEvent, any Error>.Iterator, _ check: Checker) async throws -> WatchEvent {
        guard let event = try await iterator.next() else {
            throw ConformanceFailure(suite: check.suite, check: "watch", message: "the watch ended")
        }
        return event
    }
}

/// The behaviour every ``AuditTrail`` must show. Needs an empty trail.
public enum AuditTrailConformance {
    /// Runs every check.
    ///
    /// - Throws: ``ConformanceFailure`` naming the first check that failed, or the trail's error.
    public static func run(_ trail: some AuditTrail) async throws {
        let check = Checker(suite: "AuditTrail")
        let actor = AuditActor(user: "conformance", cluster: "ctx@test")
        // The record redacts its parameters when it is made; the trail's part is to store exactly
        // that redacted text and hand it back unchanged (no raw copy, no re-encoding, no loss).
        let secretRecord = AuditRecord.attempt(
            operation: "backup.create", target: "backup/a", parameters: ["ttl": "24h0m0s", "secretKey": "hunter2"], actor: actor,
            correlationID: "c-1")
        let first = try await trail.record(secretRecord)
        try check.expect(first.sequence == 1 && first.previousHash == AuditCanonicalEncoding.genesisHash, "genesis", "the first entry is \(first.sequence) linked to \(first.previousHash)")
        let storedFirst = try await trail.entries(matching: AuditQuery(correlationID: "c-1")).entries.first
        try check.expect(
            first.parameters == secretRecord.parameters && storedFirst?.parameters == secretRecord.parameters
                && secretRecord.parameters.contains("[REDACTED]") && !(storedFirst?.parameters.contains("hunter2") ?? true),
            "redaction", "the trail did not keep the redacted parameters as recorded: returned \(first.parameters), read back \(storedFirst?.parameters ?? "nothing")")
        let batch = try await trail.record(contentsOf: [
            .outcome(.success, operation: "backup.create", target: "backup/a", durationMilliseconds: 12, actor: actor, correlationID: "c-1"),
            .attempt(operation: "restore.create", target: "restore/r", actor: actor, correlationID: "c-2"),
            .outcome(.failure, operation: "restore.create", target: "restore/r", error: "boom", durationMilliseconds: 3, actor: actor, correlationID: "c-2"),
        ])
        try check.expect(batch.map(\.sequence) == [2, 3, 4], "batch", "batch sequences \(batch.map(\.sequence))")
        try check.expect(batch[0].previousHash == first.hash && batch[1].previousHash == batch[0].hash, "chain", "entries are not linked by hash")

        let failures = try await trail.entries(matching: AuditQuery(outcome: .failure))
        try check.expect(failures.entries.map(\.sequence) == [4], "query-outcome", "failures: \(failures.entries.map(\.sequence))")
        let page1 = try await trail.entries(matching: AuditQuery(limit: 3))
        try check.expect(page1.entries.count == 3 && page1.nextCursor == 3, "paging", "page 1 has \(page1.entries.count) entries, cursor \(String(describing: page1.nextCursor))")
        let page2 = try await trail.entries(matching: AuditQuery(afterSequence: page1.nextCursor, limit: 3))
        try check.expect(page2.entries.map(\.sequence) == [4] && page2.nextCursor == nil, "paging-end", "page 2: \(page2.entries.map(\.sequence))")
        let newest = try await trail.entries(matching: AuditQuery(limit: 1, newestFirst: true))
        try check.expect(newest.entries.first?.sequence == 4, "newest-first", "newest first starts at \(String(describing: newest.entries.first?.sequence))")
        let linked = try await trail.entries(matching: AuditQuery(correlationID: "c-2"))
        try check.expect(linked.entries.map(\.kind) == [.attempt, .outcome], "correlation", "correlation c-2 has \(linked.entries.map(\.kind))")

        let stats = try await trail.statistics(matching: AuditQuery())
        try check.expect(stats.totalEntries == 4, "statistics", "statistics count \(stats.totalEntries) entries, expected 4")
        let report = try await trail.verify()
        try check.expect(report.isValid && report.entriesChecked == 4, "verify", "verification of an untouched trail: \(String(describing: report.problem)), \(report.entriesChecked) entries")

        try await check.expectError("invalid-record", code: .invalidInput) {
            _ = try await trail.record(AuditRecord(
                kind: .attempt, actor: actor, operation: "", target: "x", parameters: [:], outcome: .success, error: nil,
                durationMilliseconds: nil, correlationID: "c-3"))
        }
        try await check.expectError("invalid-query", code: .invalidInput) { _ = try await trail.entries(matching: AuditQuery(limit: 0)) }
        let after = try await trail.statistics(matching: AuditQuery())
        try check.expect(after.totalEntries == 4, "invalid-changes-nothing", "a rejected record changed the trail")
    }
}
