import CarbonRecovery
import CarbonRecoveryCompression
@testable import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

@Suite("Velero's restore rules and its tarball, as data")
struct VeleroRestoreRulesTests {
    @Test("restore order: CRDs, then the v1.18 high priorities (short names match any group), the rest byte-wise, low priorities last")
    func order() {
        let resources = [
            "services", "zebras.example.com", "apps.kappctrl.k14s.io", "configmaps", "Widgets.example.com", "namespaces", "storageclasses.storage.k8s.io",
            "customresourcedefinitions.apiextensions.k8s.io", "clusterroles.rbac.authorization.k8s.io", "pods", "deployments.apps", "secrets",
        ]
        #expect(VeleroRestoreRules.restoreOrder(resources) == [
            "customresourcedefinitions.apiextensions.k8s.io", "namespaces", "storageclasses.storage.k8s.io", "clusterroles.rbac.authorization.k8s.io",
            "secrets", "configmaps", "pods", "services",
            "Widgets.example.com", "deployments.apps", "zebras.example.com",   // byte order: upper case first
            "apps.kappctrl.k14s.io",
        ])
        #expect(VeleroRestoreRules.restoreOrder([String]()).isEmpty)
    }

    @Test("prepareForRestore removes Velero's deny-list, status and managedFields, keeps labels, annotations and finalizers")
    func reset() throws {
        var object = KubernetesObject(try JSONValue(parsing: Array("""
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"a","uid":"u","resourceVersion":"9","generation":2,
             "creationTimestamp":"t","generateName":"api-","selfLink":"/x","deletionTimestamp":"t","deletionGracePeriodSeconds":30,
             "ownerReferences":[{}],"managedFields":[{}],"finalizers":["keep"],"labels":{"app":"api"},"annotations":{"note":"kept"}},
             "spec":{"clusterIP":"10.0.0.5","clusterIPs":["10.0.0.5"],"ports":[{"port":80,"nodePort":30080}]},"status":{"loadBalancer":{}}}
            """.utf8)))
        VeleroRestoreRules.prepareForRestore(&object, resource: "services")
        let metadata = try #require(object.json["metadata"]?.objectValue)
        #expect(Set(metadata.keys) == ["name", "namespace", "finalizers", "labels", "annotations"])
        #expect(object.status == nil && object.json[path: ["spec", "clusterIP"]] == nil && object.json[path: ["spec", "ports"]] == [["port": 80]])
        var headless = KubernetesObject(kind: ResourceKind(apiVersion: "v1", kind: "Service", resource: "services"), namespace: "a", name: "db", body: ["spec": ["clusterIP": "None"]])
        VeleroRestoreRules.prepareForRestore(&headless, resource: "services")
        #expect(headless.json[path: ["spec", "clusterIP"]] == "None", "a headless service keeps None")
    }

    @Test("skip reasons: completed pods and jobs, mirror pods, aggregator-managed API services; a running pod is restored")
    func skips() throws {
        func pod(_ json: String) throws -> KubernetesObject { KubernetesObject(try JSONValue(parsing: Array(json.utf8))) }
        #expect(VeleroRestoreRules.skipReason(try pod(#"{"status":{"phase":"Succeeded"}}"#), resource: "pods") == "a completed pod")
        #expect(VeleroRestoreRules.skipReason(try pod(#"{"metadata":{"annotations":{"kubernetes.io/config.mirror":"x"}}}"#), resource: "pods") == "a mirror pod")
        #expect(VeleroRestoreRules.skipReason(try pod(#"{"status":{"completionTime":"2026-01-01T00:00:00Z"}}"#), resource: "jobs.batch") == "a completed job")
        #expect(VeleroRestoreRules.skipReason(try pod(#"{"metadata":{"labels":{"kube-aggregator.kubernetes.io/automanaged":"true"}}}"#), resource: "apiservices.apiregistration.k8s.io") != nil)
        #expect(VeleroRestoreRules.skipReason(try pod(#"{"status":{"phase":"Pending"}}"#), resource: "pods") == nil)
    }

    @Test("source-cluster annotations round-trip; a minor with a + suffix reads as its number; nonsense is not a version")
    func sourceVersion() throws {
        var backup = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: "b")
        let version = KubernetesVersion(gitVersion: "v1.20.2", major: 1, minor: 20)
        backup.json["metadata"]?["annotations"] = .object(VeleroRestoreRules.sourceClusterAnnotations(version).mapValues { .string($0) })
        #expect(VeleroRestoreRules.sourceClusterVersion(of: backup) == version)
        #expect(try VeleroObjects.backupStatus(backup).sourceClusterVersion == version)
        #expect(try KubernetesVersion(gitVersion: "v1.27.3-gke.100", major: "1", minor: "27+").minor == 27)
        #expect(throws: RecoveryError.self) { try KubernetesVersion(gitVersion: "latest", major: nil, minor: nil) }
        #expect(VeleroRestoreRules.sourceClusterVersion(of: KubernetesObject(kind: .veleroBackup, namespace: "velero", name: "none")) == nil)
    }

    func tarball(_ entries: [(String, String)]) throws -> [UInt8] {
        try Gzip.compress(try Tar.write(entries.map { Tar.Entry(path: $0.0, data: Array($0.1.utf8)) }))
    }

    @Test("the tarball's objects: legacy paths only; a name, namespace or scope that disagrees with its path, a bad path or bad JSON is refused")
    func tarballObjects() throws {
        let good = try tarball([
            ("metadata/version", "1.1.0\n"),
            ("resources/configmaps/namespaces/a/c.json", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"a"}}"#),
            ("resources/configmaps/v1-preferredversion/namespaces/a/c.json", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"a"}}"#),
            ("resources/namespaces/cluster/a.json", #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#),
        ])
        let objects = try VeleroBackupEngine.objects(inTarball: good, backup: "b")
        #expect(objects.map(\.resource).sorted() == ["configmaps", "namespaces"])
        let bad: [(String, String, String)] = [
            ("resources/configmaps/namespaces/a/c.json", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other","namespace":"a"}}"#, "not the one its path names"),
            ("resources/configmaps/namespaces/a/c.json", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"b"}}"#, "of namespace b"),
            ("resources/configmaps/cluster/c.json", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"b"}}"#, "under cluster/"),
            ("resources/configmaps/c.json", #"{}"#, "is not resources/"),
            ("resources/configmaps/namespaces/a/c.json", "{not json", "does not parse"),
            ("resources/configmaps/namespaces/a/c.json", #"{"metadata":{"name":"c","namespace":"a"}}"#, "of kind (none)"),
        ]
        for (path, body, expected) in bad {
            let error = try #require(throws: RecoveryError.self) { try VeleroBackupEngine.objects(inTarball: try tarball([(path, body)]), backup: "b") }
            #expect(error.code == .invalidObject && error.message.contains(expected), "\(error.message)")
        }
        let notGzip = try #require(throws: RecoveryError.self) { try VeleroBackupEngine.objects(inTarball: Array("plain".utf8), backup: "b") }
        #expect(notGzip.message.contains("does not open"))
    }

    @Test("fuzz: 3,000 mutated tarballs either parse or fail with a RecoveryError, never crash")
    func fuzzTarball() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["CARBON_RECOVERY_PROPERTY_SEED"] ?? "") ?? 0x5EED_14
        var random = SplitMix(state: seed)
        let base = try Tar.write([
            Tar.Entry(path: "resources/configmaps/namespaces/a/c.json", data: Array(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"a"}}"#.utf8)),
            Tar.Entry(path: "resources/namespaces/cluster/a.json", data: Array(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#.utf8)),
        ])
        var outcomes = (parsed: 0, refused: 0)
        for _ in 0..<3_000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.removeSubrange(index..<min(bytes.count, index + Int.random(in: 1...64, using: &random)))
                default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            do {
                _ = try VeleroBackupEngine.objects(inTarball: try Gzip.compress(bytes), backup: "fuzz")
                outcomes.parsed += 1
            } catch is RecoveryError {
                outcomes.refused += 1
            }
        }
        #expect(outcomes.parsed + outcomes.refused == 3_000, "seed \(seed)")
        #expect(outcomes.refused > 0, "mutations must be caught (seed \(seed))")
    }
}
