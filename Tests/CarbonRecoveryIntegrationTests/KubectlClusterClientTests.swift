// KubectlClusterClient against the sandbox's real kube-apiserver (with Velero's real CRDs).
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryTestKit
import Foundation
import Testing
import TestSupport

/// How long a test's kubectl call may take before it counts as hung. A hang detector, not a
/// performance assertion: with six tests at once and private sandboxes starting beside them on
/// two cores, CI saw an `apply` and a SubjectAccessReview each wait out 30 s at the same moment,
/// then the same calls answer in under a second once the burst passes.
let testKubectlTimeout: Duration = .seconds(120)

func sandboxClient(kubeconfig: String? = nil, timeout: Duration = testKubectlTimeout) throws -> KubectlClusterClient {
    let sandbox = try Sandbox.current()
    return try KubectlClusterClient(configuration: .init(
        kubeconfig: kubeconfig ?? sandbox.kubeconfig, cacheDirectory: sandbox.kubectlCacheDirectory, requestTimeout: timeout))
}

/// A namespace of its own for a test, created with the client under test and left behind
/// (the sandbox has no namespace controller, so deleting one would leave it Terminating).
func scratchNamespace(_ client: KubectlClusterClient, _ prefix: String) async throws -> String {
    let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    _ = try await client.apply(KubernetesObject(kind: .namespace, namespace: nil, name: name, labels: ["carbon-recovery/test": "true"]), fieldManager: "carbon-recovery-tests")
    return name
}

func expectCode(_ code: RecoveryError.Code, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> RecoveryError? {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as RecoveryError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected RecoveryError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite("KubectlClusterClient on the sandbox's kube-apiserver", .timeLimit(.minutes(10)))
struct KubectlClusterClientTests {
    @Test("passes the ClusterClient conformance suite")
    func conformance() async throws {
        let client = try sandboxClient()
        let namespace = try await scratchNamespace(client, "conformance")
        try await ClusterClientConformance.run(client, namespace: namespace)
    }

    @Test("a Velero Backup applied through the client is read back unchanged under Velero's real schema")
    func veleroBackupRoundTrip() async throws {
        let client = try sandboxClient()
        let name = "roundtrip-\(UUID().uuidString.prefix(8).lowercased())"
        let spec: JSONValue = [
            "includedNamespaces": ["data-platform", "vault-prod"],
            "excludedResources": ["events", "events.events.k8s.io"],
            "labelSelector": ["matchLabels": ["app": "postgresql"]],
            "ttl": "720h0m0s",
            "storageLocation": "default",
            "snapshotVolumes": false,
            "hooks": ["resources": [[
                "name": "pg-dump", "includedNamespaces": ["data-platform"],
                "labelSelector": ["matchLabels": ["app": "postgresql"]],
                "pre": [["exec": ["container": "postgresql", "command": ["/bin/bash", "-c", "pg_dumpall > /backup/dump.sql"], "onError": "Fail", "timeout": "5m0s"]]],
            ]]],
        ]
        let backup = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: name, labels: ["velero.io/schedule-name": "daily"], body: ["spec": spec])
        let applied = try await client.apply(backup, fieldManager: "carbon-recovery-tests")
        #expect(applied.spec == spec)
        let fetched = try #require(try await client.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name)))
        #expect(fetched.spec == spec)
        #expect(fetched.labels["velero.io/schedule-name"] == "daily")
        #expect(fetched.apiVersion == "velero.io/v1" && fetched.kind == "Backup")
        let listed = try await client.list(.veleroBackup, namespace: "velero", labelSelector: try LabelSelector(parsing: "velero.io/schedule-name=daily"))
        #expect(listed.contains { $0.name == name && $0.spec == spec })
        try await client.delete(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name), ignoreNotFound: false)
    }

    @Test("a field Velero's schema does not know is refused as an invalid object, and nothing is created")
    func unknownFieldRefused() async throws {
        let client = try sandboxClient()
        let name = "invalid-\(UUID().uuidString.prefix(8).lowercased())"
        let bad = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: name, body: ["spec": ["includedNamespaces": "data-platform"]])
        _ = await expectCode(.invalidObject) { _ = try await client.apply(bad, fieldManager: "carbon-recovery-tests") }
        let unknown = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: name, body: ["spec": ["includedNamespacez": ["x"]]])
        _ = await expectCode(.invalidObject) { _ = try await client.apply(unknown, fieldManager: "carbon-recovery-tests") }
        #expect(try await client.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name)) == nil)
    }

    @Test("a field owned by another field manager is a conflict, and the object keeps its value")
    func conflict() async throws {
        let client = try sandboxClient()
        let name = "conflict-\(UUID().uuidString.prefix(8).lowercased())"
        let reference = try ObjectReference(kind: .configMap, namespace: "velero", name: name)
        _ = try await client.apply(KubernetesObject(kind: .configMap, namespace: "velero", name: name, body: ["data": ["owner": "first"]]), fieldManager: "manager-a")
        let error = await expectCode(.conflict) {
            _ = try await client.apply(KubernetesObject(kind: .configMap, namespace: "velero", name: name, body: ["data": ["owner": "second"]]), fieldManager: "manager-b")
        }
        #expect(error?.message.contains("conflict") == true)
        #expect(try await client.get(reference)?.json[path: ["data", "owner"]] == "first")
        try await client.delete(reference, ignoreNotFound: false)
    }

    @Test("lists the guide's namespaces and the seeded workloads, across all namespaces too")
    func listsSeededWorkloads() async throws {
        let client = try sandboxClient()
        // Restores into other namespaces (other tests) copy the labels; they carry velero.io/restore-name.
        let namespaces = try await client.list(.namespace, namespace: nil, labelSelector: try LabelSelector(parsing: "app.kubernetes.io/part-of=254carbon,!velero.io/restore-name"))
        #expect(Set(namespaces.compactMap(\.name)) == ["velero", "data-platform", "monitoring", "registry", "vault-prod"])
        let statefulSets = ResourceKind(apiVersion: "apps/v1", kind: "StatefulSet", resource: "statefulsets.apps")
        let postgres = try await client.list(statefulSets, namespace: nil, labelSelector: try LabelSelector(parsing: "app=postgresql,!velero.io/restore-name"))
        #expect(postgres.map(\.name) == ["postgresql"])
        #expect(postgres.first?.namespace == "data-platform" && postgres.first?.kind == "StatefulSet")
        let deployments = try await client.list(.deployment, namespace: nil, labelSelector: nil)
        #expect(Set(deployments.compactMap(\.name)).isSuperset(of: ["ingest-api", "prometheus", "grafana", "registry"]))
    }

    @Test("one list of several kinds holds what a list of each kind holds: in a namespace, across all, with a label selector")
    func listsSeveralKinds() async throws {
        let client = try sandboxClient()
        let statefulSets = ResourceKind(apiVersion: "apps/v1", kind: "StatefulSet", resource: "statefulsets.apps")
        let kinds: [ResourceKind] = [.configMap, .secret, .deployment, statefulSets, .namespace]
        // Restores into other namespaces (other tests) copy the labels; they carry velero.io/restore-name.
        let cases: [(String?, LabelSelector?)] = [
            ("data-platform", nil), ("monitoring", nil),
            (nil, try LabelSelector(parsing: "app.kubernetes.io/part-of=254carbon,!velero.io/restore-name")),
        ]
        func names(_ objects: [KubernetesObject]) -> Set<String> { Set(objects.map { "\($0.kind ?? "")/\($0.namespace ?? "")/\($0.name ?? "")" }) }
        for (namespace, selector) in cases {
            let together = try await client.list(kinds, namespace: namespace, labelSelector: selector)
            #expect(Set(together.keys) == Set(kinds))
            for kind in kinds {
                let alone = try await client.list(kind, namespace: kind.isNamespaced ? namespace : nil, labelSelector: selector)
                if kind == .namespace && selector == nil {
                    // Other tests create and delete namespaces of their own meanwhile: compare the seeded ones.
                    let seeded = Set(["data-platform", "monitoring", "registry", "velero"].map { "Namespace//\($0)" })
                    #expect(names(together[kind] ?? []).intersection(seeded) == seeded && names(alone).intersection(seeded) == seeded,
                            "\(names(together[kind] ?? []).intersection(seeded)) vs \(names(alone).intersection(seeded))")
                } else {
                    #expect(names(together[kind] ?? []) == names(alone), "\(kind.resource) in \(namespace ?? "every namespace")")
                }
            }
        }
        #expect(try await client.list(kinds, namespace: "data-platform", labelSelector: nil)[statefulSets]?.map(\.name) == ["postgresql"])
        #expect(try await client.list([], namespace: nil, labelSelector: nil).isEmpty)
        // One kind the caller may not list fails the whole call as forbidden; an unknown kind is not found.
        let viewer = try sandboxClient(kubeconfig: try Sandbox.current().viewerKubeconfig)
        _ = await expectCode(.forbidden) { _ = try await viewer.list([.configMap, .secret], namespace: "velero", labelSelector: nil) }
        let unknown = ResourceKind(apiVersion: "example.invalid/v1", kind: "Nothing", resource: "nothings.example.invalid")
        _ = await expectCode(.notFound) { _ = try await client.list([.configMap, unknown], namespace: "velero", labelSelector: nil) }
        _ = await expectCode(.invalidInput) { _ = try await client.list([.configMap], namespace: "--all-namespaces", labelSelector: nil) }
    }

    @Test("discovery is reused while nothing changed and read again when a definition joins a served group or goes")
    func discoveryFollowsDefinitions() async throws {
        let client = try sandboxClient()
        // The group Velero's role in the sandbox covers: a definition in any other group would
        // make every backup running meanwhile PartiallyFailed (its list is forbidden), rightly.
        let group = "platform.254carbon.dev"
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let plurals = ["cachewidgets\(suffix)", "cachegadgets\(suffix)"]
        let crd = ResourceKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", isNamespaced: false)
        func definition(_ plural: String) -> KubernetesObject {
            var object = KubernetesObject(kind: crd, namespace: nil, name: "\(plural).\(group)")
            let kind = "Cache\(plural.dropFirst(5).prefix(1).uppercased())\(plural.dropFirst(6))"
            object.json["spec"] = [
                "group": .string(group), "scope": "Namespaced",
                "names": ["plural": .string(plural), "singular": .string(plural), "kind": .string(kind), "listKind": .string("\(kind)List")],
                "versions": [["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]],
            ]
            return object
        }
        func served() async throws -> Set<String> {
            Set(try await client.discover().resources.map(\.kind.resource).filter { resource in plurals.contains { resource == "\($0).\(group)" } })
        }
        #expect(try await served().isEmpty)
        let before = try await client.discover()
        #expect(try await client.discover() == before, "nothing changed: the same answer")
        for (index, plural) in plurals.enumerated() {
            _ = try await client.apply(definition(plural), fieldManager: "carbon-recovery-tests")
            let expected = Set(plurals.prefix(index + 1).map { "\($0).\(group)" })
            _ = try await eventually(within: .seconds(60), "\(plural) is discovered") { try await served() == expected ? true : nil }
        }
        for plural in plurals { try await client.delete(try ObjectReference(kind: crd, namespace: nil, name: "\(plural).\(group)"), ignoreNotFound: false) }
        _ = try await eventually(within: .seconds(60), "the removed definitions are no longer discovered") { try await served().isEmpty ? true : nil }
    }

    @Test("identity names the kubeconfig's context, user and server")
    func identity() async throws {
        let sandbox = try Sandbox.current()
        let identity = try await sandboxClient().identity()
        #expect(identity.context == "sandbox-admin")
        #expect(identity.user == "admin")
        #expect(identity.server?.hasPrefix("https://127.0.0.1:") == true)
        let token = try String(contentsOfFile: sandbox.directory + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!identity.description.contains(token))
    }

    @Test("a refused token is unauthorized, and the error never shows the token")
    func unauthorized() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let wrongToken = "carbon-wrong-token-0123456789abcdef"
        let realToken = try String(contentsOfFile: sandbox.directory + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let config = try String(contentsOfFile: sandbox.kubeconfig, encoding: .utf8).replacingOccurrences(of: realToken, with: wrongToken)
        try config.write(toFile: scratch.file("kubeconfig"), atomically: true, encoding: .utf8)
        let client = try sandboxClient(kubeconfig: scratch.file("kubeconfig"))
        let error = await expectCode(.unauthorized) { _ = try await client.list(.configMap, namespace: "velero", labelSelector: nil) }
        #expect(error?.description.contains(wrongToken) == false)
        #expect(error?.description.contains(realToken) == false)
    }

    @Test("a user without RBAC permissions is forbidden, not 'not found'")
    func forbidden() async throws {
        let client = try sandboxClient(kubeconfig: try Sandbox.current().viewerKubeconfig)
        _ = await expectCode(.forbidden) { _ = try await client.list(.secret, namespace: "velero", labelSelector: nil) }
        _ = await expectCode(.forbidden) { _ = try await client.get(try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials")) }
        _ = await expectCode(.forbidden) {
            _ = try await client.apply(KubernetesObject(kind: .configMap, namespace: "velero", name: "viewer-write"), fieldManager: "carbon-recovery-tests")
        }
    }

    @Test("a closed port is unreachable; a server that never answers times out")
    func unreachableAndTimeout() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let config = try String(contentsOfFile: sandbox.kubeconfig, encoding: .utf8)
        let listener = try ListeningSocket()   // accepts nothing: TLS handshakes hang
        let closedPort = try ListeningSocket.unusedPort()
        let serverLine = config.split(separator: "\n").first { $0.contains("server: ") }!
        try config.replacingOccurrences(of: String(serverLine), with: "    server: https://127.0.0.1:\(closedPort)")
            .write(toFile: scratch.file("closed"), atomically: true, encoding: .utf8)
        try config.replacingOccurrences(of: String(serverLine), with: "    server: https://127.0.0.1:\(listener.port)")
            .write(toFile: scratch.file("silent"), atomically: true, encoding: .utf8)
        let closed = try sandboxClient(kubeconfig: scratch.file("closed"))
        _ = await expectCode(.unreachable) { _ = try await closed.list(.configMap, namespace: "velero", labelSelector: nil) }
        let silent = try sandboxClient(kubeconfig: scratch.file("silent"), timeout: .seconds(2))
        let started = ContinuousClock.now
        _ = await expectCode(.timeout) { _ = try await silent.list(.configMap, namespace: "velero", labelSelector: nil) }
        #expect(ContinuousClock.now - started < .seconds(20))
        withExtendedLifetime(listener) {}
    }

    @Test("names that would be flags or shell code never reach kubectl", arguments: [
        "--kubeconfig=/x", "-n", "a;rm -rf /", "$(id)", "`id`", "a b", "a|b", "../etc", "x\ny", "UPPER", "",
    ])
    func hostileNames(name: String) async throws {
        #expect(throws: RecoveryError.self) { try ObjectReference(kind: .configMap, namespace: "velero", name: name) }
        #expect(throws: RecoveryError.self) { try ObjectReference(kind: .configMap, namespace: name, name: "ok") }
        let client = try sandboxClient()
        _ = await expectCode(.invalidInput) {
            _ = try await client.apply(KubernetesObject(kind: .configMap, namespace: "velero", name: name), fieldManager: "carbon-recovery-tests")
        }
        _ = await expectCode(.invalidInput) { _ = try await client.list(.configMap, namespace: name, labelSelector: nil) }
    }

    @Test("shell metacharacters in values are stored literally")
    func inertValues() async throws {
        let client = try sandboxClient()
        let name = "inert-\(UUID().uuidString.prefix(8).lowercased())"
        let scratch = try TemporaryDirectory()
        let marker = scratch.file("pwned")
        let hostile = "$(touch \(marker)); `touch \(marker)` && touch \(marker) | --kubeconfig=/x 'quote\" \\ ünï"
        let object = KubernetesObject(kind: .configMap, namespace: "velero", name: name, labels: ["app": "inert"], body: ["data": ["cmd": .string(hostile)]])
        _ = try await client.apply(object, fieldManager: "carbon-recovery-tests")
        let fetched = try await client.get(try ObjectReference(kind: .configMap, namespace: "velero", name: name))
        #expect(fetched?.json[path: ["data", "cmd"]]?.stringValue == hostile)
        #expect(!FileManager.default.fileExists(atPath: marker))
        try await client.delete(try ObjectReference(kind: .configMap, namespace: "velero", name: name), ignoreNotFound: false)
    }

    @Test("bad settings are refused before kubectl runs; a missing kubectl is a clear error")
    func badSettings() async throws {
        #expect(throws: RecoveryError.self) { try KubectlClusterClient(configuration: .init(context: "--kubeconfig=/x")) }
        #expect(throws: RecoveryError.self) { try KubectlClusterClient(configuration: .init(kubeconfig: "-x")) }
        #expect(throws: RecoveryError.self) { try KubectlClusterClient(configuration: .init(kubectl: "kubectl\n")) }
        await #expect(throws: RecoveryError.self) {
            _ = try await KubectlClusterClient(configuration: .init()).apply(KubernetesObject(kind: .configMap, namespace: "velero", name: "x"), fieldManager: "has space")
        }
        let missing = try KubectlClusterClient(configuration: .init(kubectl: "/nonexistent/kubectl"))
        let error = await expectCode(.kubectlNotFound) { _ = try await missing.list(.configMap, namespace: "velero", labelSelector: nil) }
        #expect(error?.message.contains("was not found") == true)
        // A watch does not retry forever on a kubectl that does not exist: the stream ends with the error.
        var iterator = missing.watch(.configMap, namespace: "velero", labelSelector: nil).makeAsyncIterator()
        _ = await expectCode(.kubectlNotFound) { _ = try await iterator.next() }
    }

    @Test("a kind whose CRD is not installed is an error, not a missing object")
    func uninstalledKind() async throws {
        let client = try sandboxClient()
        let kind = ResourceKind(apiVersion: "example.invalid/v1", kind: "Nothing", resource: "nothings.example.invalid")
        _ = await expectCode(.notFound) { _ = try await client.get(try ObjectReference(kind: kind, namespace: "velero", name: "x")) }
        _ = await expectCode(.notFound) { _ = try await client.list(kind, namespace: "velero", labelSelector: nil) }
    }
}

@Suite("KubectlClusterClient watch across an API server restart", .timeLimit(.minutes(10)))
struct KubectlWatchRestartTests {
    @Test("a watch through an API server that stops and starts again sees the changes made meanwhile, once each")
    func survivesRestart() async throws {
        try await withReplica { replicaConfig in
            let sandbox = try Sandbox.current()
            let primary = try sandboxClient()
            let client = try KubectlClusterClient(configuration: .init(
                kubeconfig: replicaConfig, cacheDirectory: sandbox.kubectlCacheDirectory, requestTimeout: .seconds(10),
                watchRetryMinimum: .milliseconds(100), watchRetryMaximum: .milliseconds(500)))
            let namespace = try await scratchNamespace(primary, "watch")
            func configMap(_ name: String, _ value: String) -> KubernetesObject {
                KubernetesObject(kind: .configMap, namespace: namespace, name: name, labels: ["watch": "restart"], body: ["data": ["v": .string(value)]])
            }
            _ = try await primary.apply(configMap("before", "1"), fieldManager: "carbon-recovery-tests")
            _ = try await primary.apply(configMap("doomed", "1"), fieldManager: "carbon-recovery-tests")

            var iterator = client.watch(.configMap, namespace: namespace, labelSelector: try LabelSelector(parsing: "watch=restart")).makeAsyncIterator()
            var initial: [String] = []
            for _ in 0..<2 { if let event = try await iterator.next() { initial.append("\(event.kind.rawValue) \(event.object.name ?? "")") } }
            #expect(initial.sorted() == ["ADDED before", "ADDED doomed"])

            _ = try await sandbox.script("replica", "stop")
            // Changes while the watched API server is down, made through the other one.
            _ = try await primary.apply(configMap("before", "2"), fieldManager: "carbon-recovery-tests")
            _ = try await primary.apply(configMap("during", "1"), fieldManager: "carbon-recovery-tests")
            try await primary.delete(try ObjectReference(kind: .configMap, namespace: namespace, name: "doomed"), ignoreNotFound: false)
            try await Task.sleep(for: .seconds(1))
            _ = try await sandbox.script("replica", "start")
            _ = try await primary.apply(configMap("after", "1"), fieldManager: "carbon-recovery-tests")

            var seen: [String] = []
            while seen.count < 4, let event = try await iterator.next() {
                seen.append("\(event.kind.rawValue) \(event.object.name ?? "")")
            }
            // A restarted API server's watch cache starts at its current version, so the watch from
            // our older version gets 410 Gone and the client re-lists: the events come from the diff
            // (in list order), each exactly once.
            #expect(seen.sorted() == ["ADDED after", "ADDED during", "DELETED doomed", "MODIFIED before"])
        }
    }
}
